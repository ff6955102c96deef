// The generation pieces on synthetic logits: processors, sampler, stopping criteria and the loop over a script.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generate, logprobOf, type GenerationPipeline, type LogitsSource } from '../../src/engine/generation/generate';
import { createLogitsProcessors, NucleusFinder, Temperature, TopP, VocabularyMask } from '../../src/engine/generation/logitsProcessors';
import { createSampler, GreedySampler, MultinomialSampler, SeededRandom } from '../../src/engine/generation/sampler';
import * as stop from '../../src/engine/generation/stoppingCriteria';
import { TurnStopper } from '../../src/engine/generation/turnStop';
import { EOS_ID, TOKENIZER_VOCAB_SIZE as V } from '../../src/engine/tokenizer';
import type { StopMode } from '../../src/protocol/engine';

const softmax = (row: ArrayLike<number>, t = 1): number[] => {
  const max = Math.max(...Array.from(row));
  const e = Array.from(row, (l) => Math.exp((l - max) / t));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
};

/** Empirical frequencies of `draws` selections from `row` through the engine's processors and sampler. */
function frequencies(row: Float32Array, temperature: number, topP: number, draws: number, seed = 1): number[] {
  const processors = createLogitsProcessors({ temperature, topP });
  const sampler = createSampler({ temperature }, new SeededRandom(seed));
  const counts = new Array<number>(row.length).fill(0);
  for (let k = 0; k < draws; k++) counts[sampler.select(processors.process(row))]++;
  return counts.map((c) => c / draws);
}

test('vocabulary mask: ids >= 50295 are never chosen, even with the largest logits', () => {
  const row = new Float32Array(51200);
  row[1234] = 5;
  row[50300] = 9;
  row[51199] = 9;
  const before = row.slice();
  const masked = new VocabularyMask().process(row);
  assert.equal(masked.length, V);
  assert.deepEqual(row, before, 'the input row is not written');
  assert.equal(new GreedySampler().select(row), 50300, 'the row is a meaningful test: unmasked greedy picks 50300');
  assert.equal(new GreedySampler().select(masked), 1234);
  const wide = new Float32Array(51200).fill(0);
  wide.fill(12, V); // nearly all the mass is beyond the vocabulary
  const sampler = new MultinomialSampler(new SeededRandom(3));
  const mask = new VocabularyMask();
  for (let k = 0; k < 500; k++) assert.ok(sampler.select(mask.process(wide)) < V);
  // A row that is exactly the vocabulary's width is left alone.
  const exact = new Float32Array(V);
  assert.equal(mask.process(exact), exact);
});

test('temperature: softmax of the processed row is softmax(logits / T), input untouched', () => {
  const row = Float32Array.from([0.5, -1, 2, 3.5, 0]);
  const before = row.slice();
  for (const t of [0.3, 0.5, 2, 5]) {
    const got = softmax(new Temperature(t).process(row));
    const want = softmax(row, t);
    got.forEach((p, i) => assert.ok(Math.abs(p - want[i]) < 1e-6, `T=${t} id ${i}: ${p} vs ${want[i]}`));
  }
  assert.deepEqual(row, before);
});

test('sampling frequencies follow softmax(logits / T): T=0.5 and T=2 differ as they should', () => {
  // 20000 draws: the standard error of a frequency is below 0.0036, so 0.015 is over 4 of them.
  const bound = 0.015;
  for (const row of [Float32Array.from([0, 1, 2]), Float32Array.from([1, 0])]) {
    const byT = new Map<number, number[]>();
    for (const t of [0.5, 1, 2]) {
      const freq = frequencies(row, t, 1, 20000, 7);
      const exact = softmax(row, t);
      freq.forEach((f, i) => assert.ok(Math.abs(f - exact[i]) < bound, `T=${t} id ${i}: ${f} vs ${exact[i]}`));
      byT.set(t, freq);
    }
    // Sharper at 0.5 than at 2 by far more than the bound: ignoring T could not pass both.
    assert.ok(byT.get(0.5)![0] - byT.get(2)![0] > 4 * bound || byT.get(2)![0] - byT.get(0.5)![0] > 4 * bound);
  }
});

/** The nucleus by its definition: a full sort (descending, ties by lower id), the running sum in that order. */
function bruteNucleus(probs: Float32Array, order: readonly number[], topP: number): number[] {
  let mass = 0;
  for (let i = 0; i < probs.length; i++) mass += probs[i];
  const kept: number[] = [];
  let acc = 0;
  for (const i of order) {
    kept.push(i);
    acc += probs[i];
    if (acc >= topP * mass) break;
  }
  return kept;
}

/** Rows of 50295 logits: peaked, spread, with many ties, flat and nearly flat. */
function* randomRows(): Generator<[string, Float32Array]> {
  const rand = new SeededRandom(11);
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rand.next())) * Math.cos(2 * Math.PI * rand.next());
  for (const scale of [0.5, 3, 12]) yield [`gaussian x${scale}`, Float32Array.from({ length: V }, () => scale * gauss())];
  yield ['ties', Float32Array.from({ length: V }, () => Math.floor(rand.next() * 5))];
  yield ['few high ties', Float32Array.from({ length: V }, (_, i) => (i % 997 === 0 ? 8 : Math.floor(rand.next() * 3)))];
  yield ['flat', new Float32Array(V).fill(0.25)];
  yield ['nearly flat', Float32Array.from({ length: V }, () => 1e-3 * rand.next())];
  // Zeros (exp underflows) and a range wide enough for sums to round: the sorted-order sum can then fall
  // short of the id-order one, which makes the finder take in lower buckets.
  yield ['underflow, wide range', Float32Array.from({ length: V }, (_, i) => (i % 2 ? -1000 : -60 * rand.next()))];
}

test('top-p keeps exactly the smallest most-probable set reaching the mass (against a full sort)', () => {
  const finder = new NucleusFinder();
  for (const [name, row] of randomRows()) {
    let max = -Infinity;
    for (const l of row) max = Math.max(max, l);
    const probs = Float32Array.from(row, (l) => Math.exp(l - max)); // as TopP computes them
    const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a] || a - b);
    for (const topP of [1e-9, 0.05, 0.5, 0.9, 0.95, 0.999, 1]) {
      const want = bruteNucleus(probs, order, topP);
      const got = finder.find(probs, topP);
      const firstDiff = want.findIndex((id, k) => got[k] !== id);
      assert.ok(got.length === want.length && firstDiff < 0, `${name}, top-p ${topP}: ${got.length} vs ${want.length} ids, first difference at ${firstDiff}`);
      // The processor: the kept ids keep their logits, all others are -Infinity.
      const out = new TopP(topP).process(row);
      const expected = new Float32Array(V).fill(-Infinity);
      for (const id of want) expected[id] = row[id];
      const wrong = expected.findIndex((x, i) => out[i] !== x);
      assert.equal(wrong, -1, `${name}, top-p ${topP}: id ${wrong}`);
    }
  }
});

test('top-p: a tiny mass keeps only the argmax (the lowest id among ties); sampling stays inside the nucleus', () => {
  const row = Float32Array.from([1, 3, 0, 3, 2]);
  assert.deepEqual(Array.from(new NucleusFinder().find(Float32Array.from(softmax(row)), 1e-9)), [1]);
  // softmax: ids 1 and 3 hold 0.78 of the mass, so top-p 0.6 keeps both, 0.8 adds id 4.
  const freq = frequencies(row, 1, 0.6, 4000);
  assert.equal(freq[0] + freq[2] + freq[4], 0);
  assert.ok(Math.abs(freq[1] - 0.5) < 0.03 && Math.abs(freq[3] - 0.5) < 0.03, String(freq));
  const wider = frequencies(row, 1, 0.8, 4000);
  assert.equal(wider[0] + wider[2], 0);
  assert.ok(wider[4] > 0.1, String(wider));
});

test('greedy picks the argmax of the valid ids, the lowest id among ties, and ignores the seed', () => {
  const row = new Float32Array(51200).fill(-1);
  row[700] = 4;
  row[300] = 4;
  row[50299] = 100;
  const processors = createLogitsProcessors({ temperature: 0, topP: 0.5 });
  for (const seed of [1, 2]) assert.equal(createSampler({ temperature: 0 }, new SeededRandom(seed)).select(processors.process(row)), 300);
});

test('the config chooses the pieces: greedy at T=0, else multinomial after temperature and top-p', () => {
  const names = (t: number, p: number): string[] => createLogitsProcessors({ temperature: t, topP: p }).processors.map((x) => x.constructor.name);
  assert.deepEqual(names(0, 0.95), ['VocabularyMask']);
  assert.deepEqual(names(0.2, 0.95), ['VocabularyMask', 'Temperature', 'TopP']);
  assert.deepEqual(names(1, 1), ['VocabularyMask']);
  assert.ok(createSampler({ temperature: 0 }, new SeededRandom(1)) instanceof GreedySampler);
  assert.ok(createSampler({ temperature: 0.2 }, new SeededRandom(1)) instanceof MultinomialSampler);
});

test('the same seed gives the same draws; other seeds give other draws', () => {
  const rows = Array.from(randomRows(), ([, r]) => r).slice(0, 3);
  const draws = (seed: number): number[] => {
    const processors = createLogitsProcessors({ temperature: 0.8, topP: 0.95 });
    const sampler = createSampler({ temperature: 0.8 }, new SeededRandom(seed));
    return Array.from({ length: 30 }, (_, k) => sampler.select(processors.process(rows[k % 3])));
  };
  assert.deepEqual(draws(42), draws(42));
  assert.notDeepEqual(draws(42), draws(43));
  // mulberry32's stream is unchanged.
  assert.equal(new SeededRandom(42).next(), 0.6011037519201636);
});

test('each stopping criterion fires exactly when it should', () => {
  const at = (ids: number, token = 5, contextLength = 10): stop.GenerationState => ({ ids: Array.from({ length: ids }, () => 1), token, contextLength });
  const controller = new AbortController();
  const cancel = new stop.CancellationCriterion(controller.signal);
  assert.equal(cancel.check(), undefined);
  controller.abort();
  assert.equal(cancel.check(), 'cancelled');
  assert.equal(new stop.CancellationCriterion(undefined).check(), undefined);

  const eos = new stop.EosCriterion();
  assert.equal(eos.check(at(0, EOS_ID)), 'eos');
  assert.equal(eos.check(at(0, EOS_ID - 1)), undefined);
  assert.equal(eos.check(at(0, -1)), undefined);

  const budget = new stop.MaxNewTokensCriterion(3);
  assert.deepEqual([0, 1, 2, 3, 4].map((n) => budget.check(at(n))), [undefined, undefined, undefined, 'max-new-tokens', 'max-new-tokens']);
  const full = new stop.ContextFullCriterion(8);
  assert.deepEqual([6, 7, 8].map((n) => full.check(at(1, 5, n))), [undefined, undefined, 'context-full']);

  const stopper = new TurnStopper('turn');
  const turn = new stop.TurnEndCriterion(stopper);
  stopper.push('x = 1\n');
  assert.equal(turn.check(), undefined);
  stopper.push('\n\n');
  assert.equal(turn.check(), 'turn-end');
  const raw = new TurnStopper('none');
  raw.push('# c\n\n\n');
  assert.equal(new stop.TurnEndCriterion(raw).check(), undefined);
  assert.deepEqual([cancel, eos, turn, budget, full].map((c) => c.stage), ['before-select', 'selected', 'kept', 'kept', 'kept']);
});

test('the criteria list: only the stage asked, the first in order wins', () => {
  const stopper = new TurnStopper('turn');
  const controller = new AbortController();
  const list = stop.createStoppingCriteria({ signal: controller.signal, stopper, maxNewTokens: 2, nPositions: 10 });
  const all: stop.GenerationState = { ids: [1, 2], token: EOS_ID, contextLength: 10 };
  assert.equal(list.check('before-select', all), undefined);
  assert.equal(list.check('selected', all), 'eos');
  assert.equal(list.check('kept', all), 'max-new-tokens');
  assert.equal(list.check('kept', { ...all, ids: [1] }), 'context-full');
  stopper.push('x\n#');
  assert.equal(list.check('kept', all), 'turn-end');
  controller.abort();
  assert.equal(list.check('before-select', all), 'cancelled');
});

/** Scripted logits: token k of the script wins the k-th step (and a padded id beyond the vocabulary wins more). */
class ScriptedSource implements LogitsSource {
  readonly stepped: number[] = [];
  onStep?: (n: number) => void;
  constructor(
    private readonly script: readonly number[],
    private readonly promptLength = 3,
  ) {}
  get nextLogits(): Float32Array {
    const token = this.script[this.stepped.length];
    if (token === undefined) throw new Error('read past the script');
    const row = new Float32Array(51200);
    row[token] = 10;
    row[50400] = 20;
    return row;
  }
  get length(): number {
    return this.promptLength + this.stepped.length;
  }
  async step(id: number): Promise<void> {
    this.stepped.push(id);
    this.onStep?.(this.stepped.length);
  }
}

const TEXT: Record<number, string> = { 1: 'x = 1', 2: '\n', 3: '# next', 4: 'y' };
const deltas: string[] = [];
function pipeline(o: { stop?: StopMode; maxNewTokens?: number; nPositions?: number; signal?: AbortSignal }): GenerationPipeline {
  deltas.length = 0;
  const stopper = new TurnStopper(o.stop ?? 'none');
  return {
    processors: createLogitsProcessors({ temperature: 0, topP: 1 }),
    sampler: new GreedySampler(),
    stopping: stop.createStoppingCriteria({ signal: o.signal, stopper, maxNewTokens: o.maxNewTokens ?? 100, nPositions: o.nPositions ?? 100 }),
    decoder: { push: (id) => TEXT[id] ?? 'z', flush: () => '' },
    stopper,
    onDelta: (d) => deltas.push(d),
    scoreTokens: true,
  };
}

test('the loop stops with the right reason and never steps after stopping', async () => {
  let source = new ScriptedSource([1, 2, EOS_ID, 4]);
  let r = await generate(source, pipeline({}));
  assert.equal(r.stopReason, 'eos');
  assert.deepEqual(r.ids, [1, 2]);
  assert.deepEqual(source.stepped, [1, 2]); // EOS is neither kept nor fed
  assert.equal(r.text, 'x = 1\n');
  assert.equal(deltas.join(''), r.text);

  source = new ScriptedSource([4, 4, 4, 4, 4]);
  r = await generate(source, pipeline({ maxNewTokens: 3 }));
  assert.equal(r.stopReason, 'max-new-tokens');
  assert.deepEqual(r.ids, [4, 4, 4]);
  assert.deepEqual(source.stepped, [4, 4]);

  source = new ScriptedSource([4, 4, 4, 4, 4], 3);
  r = await generate(source, pipeline({ nPositions: 5 }));
  assert.equal(r.stopReason, 'context-full');
  assert.deepEqual(r.ids, [4, 4, 4]);
  assert.equal(source.length, 5); // the third token had no position left

  source = new ScriptedSource([1, 2, 3, 4]);
  r = await generate(source, pipeline({ stop: 'turn', maxNewTokens: 3 }));
  assert.equal(r.stopReason, 'turn-end'); // before the budget, which ran out on the same token
  assert.deepEqual(r.ids, [1, 2, 3]);
  assert.deepEqual(source.stepped, [1, 2]);
  assert.equal(r.text, 'x = 1\n');
  assert.equal(r.rawText, 'x = 1\n# next');
  assert.equal(deltas.join(''), r.text);
});

test('cancellation: before the first token nothing is read; a cancel arriving between steps is seen', async () => {
  const controller = new AbortController();
  controller.abort();
  const untouched = new ScriptedSource([]);
  const started = performance.now();
  const r = await generate(untouched, pipeline({ signal: controller.signal }));
  assert.equal(r.stopReason, 'cancelled');
  assert.deepEqual([r.ids, untouched.stepped, r.text], [[], [], '']);
  assert.ok(r.firstTokenAt >= started && r.firstTokenAt <= performance.now());

  // The abort is queued on the event loop during the 2nd step, as a message would arrive: the loop must yield.
  const later = new AbortController();
  const source = new ScriptedSource(new Array(50).fill(4));
  source.onStep = (n) => {
    if (n === 2) setImmediate(() => later.abort());
  };
  const s = await generate(source, pipeline({ signal: later.signal, maxNewTokens: 50 }));
  assert.equal(s.stopReason, 'cancelled');
  assert.deepEqual(s.ids, [4, 4]);
  assert.deepEqual(source.stepped, [4, 4]);
});

/** ln softmax(row[0..V))[id] in float64, two passes: the reference for the loop's one-pass value. */
function refLogprob(row: Float32Array, id: number): number {
  const n = Math.min(row.length, V);
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, row[i]);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(row[i] - max);
  return row[id] - max - Math.log(sum);
}

/** Seeded random rows of logits (51200 wide, so the padded ids are there too), each read kept. */
class RandomRowsSource implements LogitsSource {
  readonly rows: Float32Array[] = [];
  private readonly random = new SeededRandom(99);
  private current: Float32Array | undefined;
  get nextLogits(): Float32Array {
    if (!this.current) {
      this.current = Float32Array.from({ length: 51200 }, () => (this.random.next() - 0.5) * 12);
      this.current[EOS_ID] = -50; // never sampled, so the budget ends the loop
      this.rows.push(this.current);
    }
    return this.current;
  }
  get length(): number {
    return 3 + this.rows.length;
  }
  async step(): Promise<void> {
    this.current = undefined;
  }
}

test('meanLogprob: the mean of the kept tokens\' log-softmax under the raw logits, not the tempered ones', async () => {
  const source = new RandomRowsSource();
  const sampled: GenerationPipeline = {
    ...pipeline({ maxNewTokens: 12 }),
    processors: createLogitsProcessors({ temperature: 0.5, topP: 0.9 }),
    sampler: createSampler({ temperature: 0.5 }, new SeededRandom(7)),
  };
  const r = await generate(source, sampled);
  assert.equal(r.ids.length, 12);
  assert.equal(source.rows.length, 12);
  const want = r.ids.reduce((sum, id, k) => sum + refLogprob(source.rows[k], id), 0) / r.ids.length;
  assert.ok(Math.abs(r.meanLogprob! - want) < 1e-9, `${r.meanLogprob} vs ${want}`);
  const tempered = r.ids.reduce((sum, id, k) => sum + refLogprob(new Temperature(0.5).process(source.rows[k]).slice(), id), 0) / r.ids.length;
  assert.ok(Math.abs(want - tempered) > 0.1, 'the test tells the raw distribution from the tempered one');

  // Greedy on the script: each chosen token has logit 10 among V - 1 zeros (the padded 20 is outside the vocabulary).
  const scripted = await generate(new ScriptedSource([1, 2, EOS_ID]), pipeline({}));
  assert.deepEqual(scripted.ids, [1, 2]); // EOS, selected but not kept, does not count
  assert.ok(Math.abs(scripted.meanLogprob! - (10 - Math.log(Math.exp(10) + V - 1))) < 1e-9);
  // Not asked for: not computed.
  const unasked = await generate(new ScriptedSource([1, 2, EOS_ID]), { ...pipeline({}), scoreTokens: false });
  assert.deepEqual([unasked.ids, 'meanLogprob' in unasked], [[1, 2], false]);
  // No token kept: no mean.
  const none = await generate(new ScriptedSource([EOS_ID]), pipeline({}));
  assert.deepEqual([none.ids, none.meanLogprob, 'meanLogprob' in none], [[], undefined, false]);
});

test('logprobOf (one pass) equals the two-pass log-softmax, also for huge and spread logits', () => {
  const random = new SeededRandom(5);
  for (const scale of [1, 100, 1e4]) {
    const row = Float32Array.from({ length: 51200 }, () => (random.next() - 0.5) * scale);
    for (const id of [0, 17, 30000, V - 1]) {
      const want = refLogprob(row, id);
      assert.ok(Math.abs(logprobOf(row, id) - want) < 1e-9 * Math.max(1, Math.abs(want)), `scale ${scale} id ${id}`);
    }
  }
  assert.equal(logprobOf(Float32Array.from([3]), 0), 0);
});
