// Speculative decoding's loop on scripted logits (no model): greedy output, stops and the cache left behind equal
// plain decoding's, with the turn rules, EOS and the budget firing inside an accepted guess, a cancel during a
// verify and the context limit in the middle of a guess; sampled output has plain sampling's distribution
// (token frequencies over many seeded runs against the exact probabilities); prompt lookup's guesses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveGenerationConfig } from '../../src/engine/generation/config';
import { createGenerationPipeline, generate, type GenerationOutput, type VerifyingSource } from '../../src/engine/generation/generate';
import { AdaptiveLength, createSpeculation, FirstGuess, PromptLookup, type Proposer } from '../../src/engine/generation/speculation';
import { CodeGenTokenizer, EOS_ID, TOKENIZER_VOCAB_SIZE } from '../../src/engine/tokenizer';
import type { GenerateRequest, TokenId } from '../../src/protocol/engine';

const tokenizer = new CodeGenTokenizer();

/** A model by script: the logits after a sequence depend on its last tokens only. Records what it was fed. */
class ScriptedSource implements VerifyingSource {
  readonly ids: TokenId[];
  readonly verifies = true;
  verifyRuns = 0;
  steps = 0;
  private next: Float32Array | undefined;

  constructor(
    private readonly logitsAfter: (ids: readonly TokenId[]) => Float32Array,
    context: readonly TokenId[],
    private readonly nPositions = Infinity,
    private readonly onVerify?: () => void,
  ) {
    this.ids = [...context];
  }

  get length(): number {
    return this.ids.length;
  }

  get nextLogits(): Float32Array {
    return (this.next ??= this.logitsAfter(this.ids));
  }

  async step(id: TokenId): Promise<void> {
    this.feed([id]);
    this.steps++;
  }

  async verify(ids: readonly TokenId[]): Promise<Float32Array[]> {
    const rows = ids.map((id) => (this.feed([id]), this.logitsAfter(this.ids)));
    this.verifyRuns++;
    this.onVerify?.();
    return rows;
  }

  keep(length: number, next: Float32Array): void {
    assert.ok(length <= this.ids.length);
    this.ids.length = length;
    this.next = next;
  }

  private feed(ids: readonly TokenId[]): void {
    this.ids.push(...ids);
    this.next = undefined;
    if (this.ids.length > this.nPositions) throw new Error(`fed past ${this.nPositions} positions`);
  }
}

/** A full-width row whose only finite entries are `scores` (id -> logit). */
function row(scores: Record<number, number>): Float32Array {
  const r = new Float32Array(TOKENIZER_VOCAB_SIZE).fill(-1e9);
  for (const [id, v] of Object.entries(scores)) r[Number(id)] = v;
  return r;
}

/** Greedily the model writes `cycle` over and over (what follows each token of it is the next one). */
function cyclingModel(cycle: readonly TokenId[], end?: { after: number; id: TokenId }): (ids: readonly TokenId[]) => Float32Array {
  return (ids) => {
    if (end && ids.length >= end.after) return row({ [end.id]: 5, [cycle[0]]: 1 });
    const last = ids[ids.length - 1];
    const at = cycle.indexOf(last);
    const next = cycle[(at + 1) % cycle.length];
    return row({ [next]: 3, [cycle[(at + 2) % cycle.length]]: 2.5, 13: 1 });
  };
}

async function run(
  source: ScriptedSource,
  request: Partial<GenerateRequest>,
  proposer?: Proposer,
  options: { signal?: AbortSignal; nPositions?: number } = {},
): Promise<GenerationOutput> {
  const config = resolveGenerationConfig({ context: { header: '', turns: [], prompt: '' }, stop: 'none', temperature: 0, ...request }, () => 1);
  const pipeline = createGenerationPipeline(config, {
    tokenizer,
    nPositions: options.nPositions ?? 2048,
    signal: options.signal,
    speculation: proposer && createSpeculation(proposer),
  });
  return generate(source, pipeline);
}

const CYCLE = tokenizer.encode('total = total + 1\nprint(total)\n');

test('greedy with prompt lookup: the same tokens, stop and cache as plain decoding, in fewer runs', async () => {
  const context = tokenizer.encode('total = 0\ntotal = total + 1\nprint(total)\ntotal');
  for (const maxNewTokens of [1, 2, 7, 40]) {
    const plainSource = new ScriptedSource(cyclingModel(CYCLE), context);
    const plain = await run(plainSource, { maxNewTokens });
    const specSource = new ScriptedSource(cyclingModel(CYCLE), context);
    const spec = await run(specSource, { maxNewTokens }, new PromptLookup());
    assert.deepEqual(spec.ids, plain.ids, `${maxNewTokens} tokens`);
    assert.equal(spec.text, plain.text);
    assert.equal(spec.stopReason, 'max-new-tokens');
    assert.deepEqual(specSource.ids, plainSource.ids, 'the cache holds what plain decoding fed');
    assert.deepEqual(specSource.nextLogits, plainSource.nextLogits, 'and the same next logits');
    if (maxNewTokens === 40) {
      assert.ok(spec.speculation!.accepted > 20, `most guesses accepted (${JSON.stringify(spec.speculation)})`);
      assert.ok(specSource.verifyRuns + specSource.steps < plainSource.steps / 2, 'fewer model runs');
    }
  }
});

test('a guess that goes wrong is rolled back to where it went wrong: tokens and cache as plain decoding', async () => {
  // The context repeats a line that the model then changes: lookup guesses the old line, the model writes the new.
  const context = tokenizer.encode('x = 1\ny = 2\nx = 1\ny');
  const model = cyclingModel(tokenizer.encode(' = 3\nz = 4\n'));
  const plainSource = new ScriptedSource(model, context);
  const plain = await run(plainSource, { maxNewTokens: 12 });
  const specSource = new ScriptedSource(model, context);
  const spec = await run(specSource, { maxNewTokens: 12 }, new PromptLookup());
  assert.deepEqual(spec.ids, plain.ids);
  assert.ok(spec.speculation!.proposed > spec.speculation!.accepted, 'some guesses were rejected');
  assert.deepEqual(specSource.ids, plainSource.ids);
  assert.deepEqual(specSource.nextLogits, plainSource.nextLogits);
});

test('stops inside an accepted guess: the turn rules, EOS, the budget; and the context limit in the middle of one', async () => {
  const context = tokenizer.encode('a = 1\nprint(a)\na = 1\n');
  const turnCycle = tokenizer.encode('a = 1\nprint(a)\n');
  for (const [what, model, request] of [
    ['turn rule (a second print)', cyclingModel(turnCycle), { stop: 'turn' as const, maxNewTokens: 60 }],
    ['EOS', cyclingModel(turnCycle, { after: context.length + 9, id: EOS_ID }), { maxNewTokens: 60 }],
    ['budget', cyclingModel(turnCycle), { maxNewTokens: 11 }],
  ] as const) {
    const plainSource = new ScriptedSource(model, context);
    const plain = await run(plainSource, request);
    const specSource = new ScriptedSource(model, context);
    const spec = await run(specSource, request, new PromptLookup());
    assert.deepEqual([spec.ids, spec.text, spec.stopReason], [plain.ids, plain.text, plain.stopReason], what);
    assert.deepEqual(specSource.ids, plainSource.ids, `${what}: the cache`);
    assert.ok(spec.speculation!.accepted > 0, `${what}: guesses were accepted`);
  }
  const nPositions = context.length + 9;
  const plainSource = new ScriptedSource(cyclingModel(turnCycle), context, nPositions);
  const plain = await run(plainSource, { maxNewTokens: 60 }, undefined, { nPositions });
  const specSource = new ScriptedSource(cyclingModel(turnCycle), context, nPositions);
  const spec = await run(specSource, { maxNewTokens: 60 }, new PromptLookup(), { nPositions });
  assert.equal(spec.stopReason, 'context-full');
  assert.deepEqual([spec.ids, specSource.ids], [plain.ids, plainSource.ids], 'no guess fed past the positions');
});

test('a cancel that arrives during a verify stops at the next token, with everything taken fed', async () => {
  const context = tokenizer.encode('total = 0\ntotal = total + 1\nprint(total)\ntotal');
  const controller = new AbortController();
  let verifies = 0;
  const source = new ScriptedSource(cyclingModel(CYCLE), context, Infinity, () => ++verifies === 3 && controller.abort());
  const out = await run(source, { maxNewTokens: 200 }, new PromptLookup(), { signal: controller.signal });
  assert.equal(out.stopReason, 'cancelled');
  assert.equal(verifies, 3, 'no run after the cancel');
  assert.deepEqual(source.ids, [...context, ...out.ids], 'what was kept is what is cached');
  const plain = await run(new ScriptedSource(cyclingModel(CYCLE), context), { maxNewTokens: out.ids.length });
  assert.deepEqual(out.ids, plain.ids, 'the tokens plain decoding gives');
});

test('sampling: the tokens have plain sampling\'s distribution (20,000 seeded runs against the exact probabilities)', async () => {
  // Four tokens; the next one's logits depend on the last; three tokens generated at temperature 1.
  const V = 4;
  const table = [
    [1.2, 0.1, -0.5, 0.4],
    [0.3, 1.5, 0.2, -1],
    [-0.2, 0.0, 0.9, 0.6],
    [0.8, -0.3, 0.1, 0.2],
  ];
  const small = (ids: readonly TokenId[]): Float32Array => Float32Array.from(table[ids[ids.length - 1] % V]);
  const softmax = (r: number[]): number[] => {
    const e = r.map((v) => Math.exp(v));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / s);
  };
  // Exact probability of each 3-token sequence after token 0.
  const exact = new Map<string, number>();
  for (let a = 0; a < V; a++) for (let b = 0; b < V; b++) for (let c = 0; c < V; c++) {
    exact.set(`${a},${b},${c}`, softmax(table[0])[a] * softmax(table[a])[b] * softmax(table[b])[c]);
  }
  // A proposer that always guesses "1, 2, 1": right sometimes, wrong often.
  const guesser: Proposer = { name: 'fixed', propose: (_t, k) => [1, 2, 1].slice(0, k) };
  const N = 20_000;
  for (const [label, proposer] of [['plain', undefined], ['speculative', guesser]] as const) {
    const counts = new Map<string, number>();
    for (let seed = 0; seed < N; seed++) {
      const out = await run(new ScriptedSource(small, [0]), { temperature: 1, topP: 1, maxNewTokens: 3, seed }, proposer);
      const key = out.ids.join(',');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    for (const [key, p] of exact) {
      const f = (counts.get(key) ?? 0) / N;
      const sigma = Math.sqrt((p * (1 - p)) / N);
      assert.ok(Math.abs(f - p) < 5 * sigma + 1e-4, `${label} ${key}: frequency ${f.toFixed(4)} vs probability ${p.toFixed(4)} (5 sigma = ${(5 * sigma).toFixed(4)})`);
    }
  }
});

test('prompt lookup guesses what followed the latest earlier occurrence of the longest n-gram that ends the tokens', () => {
  const lookup = new PromptLookup(3, 1);
  assert.deepEqual(lookup.propose([1, 2, 3, 9, 1, 2, 3], 3), [9, 1, 2]);
  assert.deepEqual(lookup.propose([5, 2, 3, 7, 8, 4, 2, 3], 2), [7, 8], 'the 2-gram 2,3 when the 3-gram is new');
  assert.deepEqual(lookup.propose([1, 4, 1, 5, 1], 1), [5], 'the latest occurrence');
  assert.deepEqual(lookup.propose([1, 2, 3], 4), [], 'nothing repeats');
  assert.deepEqual(lookup.propose([7, 7], 5), [7], 'no more than there is');
  assert.deepEqual(lookup.propose([1, 2, 1, 2], 0), []);
});

test('the first guess of several proposers: the first that guesses anything', async () => {
  const none: Proposer = { name: 'none', propose: () => [] };
  const fixed: Proposer = { name: 'fixed', propose: (_t, k) => [7, 8, 9].slice(0, k) };
  const first = new FirstGuess([new PromptLookup(3, 2), none, fixed]);
  assert.equal(first.name, 'lookup+none+fixed');
  assert.deepEqual(await first.propose([1, 2, 5, 1, 2], 2), [5, 1], 'lookup where a 2-gram repeats');
  assert.deepEqual(await first.propose([1, 2, 3], 2), [7, 8], 'else the next one that guesses');
});

test('the guess length adapts: +2 after a whole guess, -1 otherwise; single guesses that fail pause guessing, longer each time', () => {
  const length = new AdaptiveLength(8, 4);
  length.update(4, 4);
  assert.equal(length.k, 6);
  length.update(6, 6);
  length.update(3, 8);
  assert.equal(length.k, 7, 'capped at 8, then one less');
  const small = new AdaptiveLength(8, 1);
  const pauses: number[] = [];
  for (let round = 0; round < 3; round++) {
    small.update(0, 1); // a single guess rejected
    let paused = 0;
    while (!small.shouldGuess()) paused++;
    pauses.push(paused);
  }
  assert.deepEqual(pauses, [4, 8, 16]);
  small.update(1, 1);
  small.update(0, 3);
  assert.equal(small.shouldGuess(), true, 'an accepted guess ended the pauses; a longer guess rejected does not pause');
});
