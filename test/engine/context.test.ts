// Prefix reuse across calls, prompt perplexity from the prefill pass, and the context limit.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { LocalEngine } from '../../src/engine/localEngine';
import type { PromptContext } from '../../src/protocol/engine';
import { EngineError } from '../../src/protocol/errors';
import { formatPrompt, MTPB_HEADER, promptContext, type TurnText } from '../../src/session/paperFormat';
import { MODEL_DIR, openDecoder } from '../helpers/model';

const engine = new LocalEngine();
before(() => engine.load({ modelDir: MODEL_DIR }));
after(() => engine.dispose());

const PROMPTS = ['Define a list named "values" with the numbers 1 to 5.', 'Square each value.', 'Print the sum of the squares.'];

async function session(e: LocalEngine, reuse: boolean): Promise<{ codes: string[]; reused: number[]; prefill: number[]; total: number[] }> {
  const turns: TurnText[] = [];
  const out = { codes: [] as string[], reused: [] as number[], prefill: [] as number[], total: [] as number[] };
  for (const prompt of PROMPTS) {
    if (!reuse) e.clearCache();
    const r = await e.generate({ context: promptContext(MTPB_HEADER, turns, prompt), temperature: 0, maxNewTokens: 16, stop: 'none' });
    turns.push({ prompt, code: r.text });
    out.codes.push(r.text);
    out.reused.push(r.reusedTokens);
    out.prefill.push(r.timings.prefillTokens);
    out.total.push(r.promptTokens);
  }
  return out;
}

test('a session turn feeds only its own tokens, and gives the same output as a cold start', async () => {
  const warm = await session(engine, true);
  const cold = await session(engine, false);
  assert.deepEqual(warm.codes, cold.codes);
  assert.deepEqual(cold.reused, [0, 0, 0]);
  for (let i = 1; i < PROMPTS.length; i++) {
    // Everything up to the previous turn's generated code is reused; only the new prompt (and the join) is fed.
    assert.ok(warm.reused[i] >= warm.total[i - 1], `turn ${i}: reused ${warm.reused[i]} of ${warm.total[i]}`);
    assert.equal(warm.prefill[i], warm.total[i] - warm.reused[i]);
    assert.ok(warm.prefill[i] < warm.total[i] / 2);
  }
});

test('an edited earlier turn invalidates only what follows the edit', async () => {
  const turns: TurnText[] = [
    { prompt: PROMPTS[0], code: 'values = [1, 2, 3, 4, 5]' },
    { prompt: PROMPTS[1], code: 'squares = [v * v for v in values]' },
  ];
  const first = await engine.generate({ context: promptContext(MTPB_HEADER, turns, PROMPTS[2]), temperature: 0, maxNewTokens: 4 });
  const edited = [turns[0], { prompt: PROMPTS[1], code: 'squares = [v ** 2 for v in values]' }];
  const second = await engine.generate({ context: promptContext(MTPB_HEADER, edited, PROMPTS[2]), temperature: 0, maxNewTokens: 4 });
  const common = MTPB_HEADER + formatPrompt(PROMPTS[0]) + 'values = [1, 2, 3, 4, 5]\n\n' + formatPrompt(PROMPTS[1]) + 'squares = [v ';
  const commonTokens = (await engine.tokenize(common)).length;
  assert.ok(second.reusedTokens >= commonTokens - 2 && second.reusedTokens <= commonTokens + 1, `${second.reusedTokens} vs ${commonTokens}`);
  assert.equal(second.timings.prefillTokens, second.promptTokens - second.reusedTokens);
  assert.ok(first.promptTokens > 0);
});

test('prompt perplexity equals exp(mean NLL) computed from a separate full forward pass', async () => {
  const context: PromptContext = promptContext(MTPB_HEADER, [{ prompt: PROMPTS[0], code: 'values = [1, 2, 3]' }], PROMPTS[1]);
  engine.clearCache();
  const result = await engine.perplexity({ context });
  // Reference: all logits of the whole context in one pass, no cache.
  const text = context.header + context.turns.join('') + context.prompt;
  const ids = await engine.tokenize(text);
  const decoder = await openDecoder('model');
  const { logits } = await decoder.forward(ids, decoder.emptyPast());
  await decoder.dispose();
  const V = 51200;
  const promptIds = await engine.tokenize(context.prompt);
  const first = ids.length - promptIds.length;
  const nll: number[] = [];
  for (let t = first; t < ids.length; t++) {
    // Normalised over the tokenizer's 50,295 ids: the padded rows of the lm_head are never produced.
    const row = logits.subarray((t - 1) * V, (t - 1) * V + 50295);
    let max = -Infinity;
    for (const x of row) max = Math.max(max, x);
    let sum = 0;
    for (const x of row) sum += Math.exp(x - max);
    nll.push(max + Math.log(sum) - row[ids[t]]);
  }
  const expected = Math.exp(nll.reduce((a, b) => a + b, 0) / nll.length);
  assert.ok(Math.abs(result.perplexity - expected) / expected < 1e-4, `${result.perplexity} vs ${expected}`);
  assert.equal(result.tokens.length, promptIds.length);
  result.tokens.forEach((t, i) => assert.ok(Math.abs(t.surprisal - nll[i]) < 1e-3));
  assert.equal(result.tokens.map((t) => t.text).join(''), context.prompt);
  assert.deepEqual(
    result.tokens.map((t) => context.prompt.slice(t.start, t.end)),
    result.tokens.map((t) => t.text),
  );
});

test('generate reports the same prompt perplexity, from its own prefill or from the cache', async () => {
  const context = promptContext(MTPB_HEADER, [], PROMPTS[0]);
  engine.clearCache();
  const scored = await engine.perplexity({ context });
  engine.clearCache();
  const fresh = await engine.generate({ context, temperature: 0, maxNewTokens: 3 });
  assert.ok(Math.abs(fresh.prompt.perplexity - scored.perplexity) / scored.perplexity < 1e-5);
  assert.equal(fresh.timings.prefillTokens, fresh.promptTokens);
  // Perplexity first (as the panel does while the user types), then generate: no second pass over the prompt.
  engine.clearCache();
  await engine.perplexity({ context });
  const cached = await engine.generate({ context, temperature: 0, maxNewTokens: 3 });
  assert.equal(cached.timings.prefillTokens, 0);
  assert.equal(cached.reusedTokens, cached.promptTokens);
  assert.ok(Math.abs(cached.prompt.perplexity - scored.perplexity) / scored.perplexity < 1e-5);
  assert.deepEqual(cached.ids, fresh.ids);
});

test('a live perplexity request can be cancelled', async () => {
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(engine.perplexity({ context: promptContext(MTPB_HEADER, [], 'x') }, controller.signal), (e: EngineError) => e.code === 'cancelled');
});

test('too long a history drops the oldest turns, keeps the header and the prompt, and says so', async () => {
  const code = Array.from({ length: 40 }, (_, i) => `value_${i} = compute(${i}, "${'x'.repeat(i % 7)}")`).join('\n');
  const turns: TurnText[] = Array.from({ length: 12 }, (_, i) => ({ prompt: `Step ${i}: compute the values.`, code }));
  const context = promptContext(MTPB_HEADER, turns, 'Print the last value.');
  const r = await engine.generate({ context, temperature: 0, maxNewTokens: 128, stop: 'none' });
  assert.ok(r.droppedTurns > 0 && r.droppedTurns < turns.length, `dropped ${r.droppedTurns}`);
  assert.ok(r.promptTokens + 128 <= 2048);
  // Old turns go in chunks: at most a chunk (a quarter of the positions) plus one turn more than the fewest.
  const turnTokens = await Promise.all(context.turns.map(async (t) => (await engine.tokenize(t)).length));
  const droppedTokens = turnTokens.slice(0, r.droppedTurns).reduce((a, b) => a + b, 0);
  const kept = context.header + context.turns.slice(r.droppedTurns - 1).join('') + context.prompt;
  assert.ok((await engine.tokenize(kept)).length + 128 > 2048 - 512 - turnTokens[r.droppedTurns - 1], 'no more dropped than a chunk beyond what was needed');
  assert.equal(droppedTokens % 512 < turnTokens[r.droppedTurns - 1], true, 'the dropped part ends at the first turn past a chunk boundary');
  assert.ok(r.prompt.tokens.length > 0 && Number.isFinite(r.prompt.perplexity));
  assert.equal(r.ids.length, 128);
});

test('a long session keeps reusing its prefix after old turns start being dropped', async () => {
  // 60 turns of about 50 tokens each: the history outgrows the 2048 positions around turn 40.
  const turns: TurnText[] = [];
  const stats: { reused: number; total: number; dropped: number }[] = [];
  engine.clearCache();
  for (let i = 0; i < 60; i++) {
    const prompt = `Step ${i}: compute value number ${i} from the previous one.`;
    const r = await engine.perplexity({ context: promptContext(MTPB_HEADER, turns, prompt) });
    stats.push({ reused: r.reusedTokens, total: r.promptTokens, dropped: r.droppedTurns });
    turns.push({ prompt, code: `value_${i} = step(value_${i - 1}, ${i})\nvalues.append(value_${i})\nprint("value", ${i}, value_${i})` });
  }
  const dropping = stats.filter((s) => s.dropped > 0);
  assert.ok(dropping.length >= 10, `turns dropped in ${dropping.length} turns only: the test needs more history`);
  // The first kept turn changes only when a chunk is crossed, so nearly every turn reuses all but its own tokens.
  const changes = dropping.filter((s, i) => i > 0 && s.dropped !== dropping[i - 1].dropped).length;
  assert.ok(changes <= 2, `the dropped count changed ${changes} times in ${dropping.length} turns`);
  const reuse = dropping.reduce((a, s) => a + s.reused, 0) / dropping.reduce((a, s) => a + s.total, 0);
  assert.ok(reuse > 0.75, `reused ${(100 * reuse).toFixed(1)}% of the context while dropping`);
});

test('scoring a prompt whose header alone is too long says to shorten it, not to lower a token budget', async () => {
  await assert.rejects(engine.perplexity({ context: { header: 'word '.repeat(2100), turns: [], prompt: '# x\n' } }), (e: EngineError) => {
    assert.equal(e.code, 'context-too-long');
    assert.match(e.message, /Shorten the prompt or the header\.$/);
    assert.doesNotMatch(e.message, /token budget|reserved/);
    return true;
  });
});

test('a prompt that cannot fit even alone is refused, not cut', async () => {
  const prompt = 'word '.repeat(2100);
  await assert.rejects(
    engine.generate({ context: { header: MTPB_HEADER, turns: [], prompt }, maxNewTokens: 16 }),
    (e: EngineError) => e.code === 'context-too-long' && /2048 positions/.test(e.message),
  );
  await assert.rejects(engine.generate({ context: { header: '', turns: [], prompt: 'x' }, maxNewTokens: 2048 }), /must be below/);
});
