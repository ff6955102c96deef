// The model's alternatives at each token of a prompt: kept by the prefill that scores it (no extra pass), exactly
// the top 5 by logit at the position before (checked against a brute-force sort of a separate full forward pass),
// never the token itself, and the perplexity the same as without them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALTERNATIVES_K, logSumExp, topAlternatives } from '../../src/engine/decoder';
import { LocalEngine } from '../../src/engine/localEngine';
import { CodeGenTokenizer, TOKENIZER_VOCAB_SIZE } from '../../src/engine/tokenizer';
import type { PerplexityResult, PromptContext } from '../../src/protocol/engine';
import { MTPB_HEADER, promptContext } from '../../src/session/paperFormat';
import { EngineClient } from '../../src/worker/engineClient';
import { MODEL_DIR, openDecoder } from '../helpers/model';

const tokenizer = new CodeGenTokenizer();
const CONTEXT: PromptContext = promptContext(MTPB_HEADER, [{ prompt: 'Define a list of values.', code: 'values = [3, 1, 2]' }], 'Sort the values in descending order, then print them.');

/** The top-K ids of a row by a full sort (higher logit first, the lower id first on a tie). */
function bruteTop(row: Float32Array, k: number): number[] {
  return Array.from({ length: row.length }, (_, i) => i)
    .sort((a, b) => row[b] - row[a] || a - b)
    .slice(0, k);
}

/** What the engine should give for each prompt token: the brute-force top 5 at the position before, filtered. */
async function expected(context: PromptContext): Promise<{ id: number; alternatives: { id: number; text: string; logprob: number }[]; gaps: number[] }[]> {
  const text = context.header + context.turns.join('') + context.prompt;
  const ids = tokenizer.encode(text);
  const decoder = await openDecoder('model');
  const { logits } = await decoder.forward(ids, decoder.emptyPast());
  await decoder.dispose();
  const V = logits.length / ids.length;
  const first = ids.length - tokenizer.encode(context.prompt).length;
  const out = [];
  for (let t = first; t < ids.length; t++) {
    const row = logits.subarray((t - 1) * V, (t - 1) * V + TOKENIZER_VOCAB_SIZE);
    const norm = logSumExp(row);
    const top = bruteTop(row, ALTERNATIVES_K + 1);
    const decodable = (id: number): string | undefined => {
      try {
        return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(tokenizer.tokenBytes(id));
      } catch {
        return undefined;
      }
    };
    const alternatives = top
      .slice(0, ALTERNATIVES_K)
      .filter((id) => id !== ids[t] && (decodable(id) ?? '').trim() !== '')
      .map((id) => ({ id, text: decodable(id)!, logprob: row[id] - norm }));
    // How far each of the top K is above the next one down (a near tie may swap between two graphs).
    const gaps = top.slice(0, ALTERNATIVES_K).map((id, i) => row[id] - row[top[i + 1]]);
    out.push({ id: ids[t], alternatives, gaps });
  }
  return out;
}

function assertAlternatives(result: PerplexityResult, want: Awaited<ReturnType<typeof expected>>, tolerance: number): void {
  assert.equal(result.tokens.length, want.length);
  let nearTies = 0;
  result.tokens.forEach((token, i) => {
    const got = token.alternatives;
    assert.ok(got, `token ${i} (${JSON.stringify(token.text)}) has alternatives`);
    const near = want[i].gaps.some((g) => g < tolerance);
    if (near) nearTies++;
    if (!near) assert.deepEqual(got.map((a) => a.text), want[i].alternatives.map((a) => a.text), `token ${i}: the top ${ALTERNATIVES_K} by logit`);
    for (const a of got) {
      assert.notEqual(a.text, token.text, `token ${i}: an alternative is never the token itself`);
      assert.notEqual(a.text.trim(), '', 'no whitespace-only alternative');
      const match = want[i].alternatives.find((w) => w.text === a.text);
      if (match) assert.ok(Math.abs(match.logprob - a.logprob) < tolerance, `token ${i} ${JSON.stringify(a.text)}: ${a.logprob} vs ${match.logprob}`);
      else assert.ok(near, `token ${i}: ${JSON.stringify(a.text)} is not in the top ${ALTERNATIVES_K}`);
    }
    for (let k = 1; k < got.length; k++) assert.ok(got[k - 1].logprob >= got[k].logprob, 'best first');
  });
  assert.ok(nearTies <= result.tokens.length / 4, `${nearTies} of ${result.tokens.length} positions had near ties: the check checks little`);
}

test('topAlternatives is a full sort\'s top K (ties: the lower id first), as log-probabilities', () => {
  let seed = 7;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 8 - 4;
  for (let trial = 0; trial < 20; trial++) {
    const row = Float32Array.from({ length: trial === 0 ? 51200 : 3000 }, () => Math.round(random() * (trial % 2 ? 4 : 1000)) / 4);
    const top = topAlternatives(row);
    const width = Math.min(row.length, TOKENIZER_VOCAB_SIZE);
    const brute = bruteTop(row.subarray(0, width), ALTERNATIVES_K);
    assert.deepEqual([...top.ids], brute, `trial ${trial}`);
    const norm = logSumExp(row.subarray(0, width));
    top.ids.forEach((id, k) => assert.ok(Math.abs(top.logprobs[k] - (row[id] - norm)) < 1e-5));
  }
  // Ids past the tokenizer's vocabulary are never candidates, however high their logits.
  const padded = new Float32Array(51200);
  padded.fill(100, TOKENIZER_VOCAB_SIZE);
  padded[3] = 1;
  assert.equal(topAlternatives(padded).ids[0], 3);
});

for (const [layout, options] of [
  ['the compiled graph', {}],
  ['the published file', { compile: false, variant: 'model' }],
] as const) {
  test(`${layout}: each prompt token's alternatives are the top ${ALTERNATIVES_K} by logit at the position before; the perplexity is unchanged`, async () => {
    const engine = new LocalEngine();
    await engine.load({ modelDir: MODEL_DIR, ...options });
    try {
      const want = await expected(CONTEXT);
      const result = await engine.perplexity({ context: CONTEXT });
      // The published file is the reference's own graph: the same numbers. The compiled one fuses operators.
      const tolerance = layout === 'the published file' ? 1e-4 : 2e-3;
      assertAlternatives(result, want, tolerance);
      // The perplexity is the reference's, from the one prefill pass.
      const text = CONTEXT.header + CONTEXT.turns.join('') + CONTEXT.prompt;
      const decoder = await openDecoder('model');
      const ids = tokenizer.encode(text);
      const { logits } = await decoder.forward(ids, decoder.emptyPast());
      await decoder.dispose();
      const V = logits.length / ids.length;
      const nll = want.map((w, i) => {
        const t = ids.length - want.length + i;
        const row = logits.subarray((t - 1) * V, (t - 1) * V + TOKENIZER_VOCAB_SIZE);
        return logSumExp(row) - row[w.id];
      });
      result.tokens.forEach((t, i) => assert.ok(Math.abs(t.surprisal - nll[i]) < tolerance, `surprisal ${i}`));
      const perplexity = Math.exp(nll.reduce((a, b) => a + b, 0) / nll.length);
      assert.ok(Math.abs(result.perplexity / perplexity - 1) < tolerance, `${result.perplexity} vs ${perplexity}`);

      // Again, all from the cache: the same tokens, alternatives included; and generate's prompt score agrees.
      const again = await engine.perplexity({ context: CONTEXT });
      assert.equal(again.reusedTokens, again.promptTokens);
      assert.deepEqual(again.tokens, result.tokens);
      const generated = await engine.generate({ context: CONTEXT, temperature: 0, maxNewTokens: 4 });
      assert.deepEqual(generated.prompt.tokens, result.tokens);
    } finally {
      await engine.dispose();
    }
  });
}

test('a prompt whose tokens the cache holds as history only is fed again for its alternatives, and gets the same ones', async () => {
  const engine = new LocalEngine();
  await engine.load({ modelDir: MODEL_DIR });
  try {
    const cold = await engine.perplexity({ context: CONTEXT });
    engine.clearCache();
    // First the prompt as part of a longer history (its tokens prefilled, but not ranked)...
    const longer = { header: CONTEXT.header, turns: [...CONTEXT.turns, CONTEXT.prompt + 'values.sort()\n\n'], prompt: '# Print them.\n' };
    await engine.perplexity({ context: longer });
    // ...then as the prompt: fed again from its first token, with the history before it reused.
    const warm = await engine.perplexity({ context: CONTEXT });
    assert.ok(warm.reusedTokens > 0 && warm.reusedTokens < warm.promptTokens, `${warm.reusedTokens} of ${warm.promptTokens} reused`);
    assert.equal(warm.tokens.length, cold.tokens.length);
    warm.tokens.forEach((t, i) => {
      assert.deepEqual(t.alternatives?.map((a) => a.text), cold.tokens[i].alternatives?.map((a) => a.text), `token ${i}`);
      assert.ok(Math.abs(t.surprisal - cold.tokens[i].surprisal) < 1e-3);
    });
  } finally {
    await engine.dispose();
  }
});

test('the alternatives cross the engine process as JSON (the worker client)', async () => {
  const client = new EngineClient();
  try {
    await client.load({ modelDir: MODEL_DIR });
    const result = await client.perplexity({ context: CONTEXT });
    assert.ok(result.tokens.every((t) => Array.isArray(t.alternatives)));
    assert.ok(result.tokens.some((t) => (t.alternatives?.length ?? 0) > 0));
    for (const t of result.tokens) for (const a of t.alternatives ?? []) assert.ok(typeof a.text === 'string' && Number.isFinite(a.logprob));
  } finally {
    await client.dispose();
  }
});
