// Candidates ranked by running them: the ranking rule on a table of cases, and N samples of one turn on the
// bundled model sharing its prefilled prefix.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { LocalEngine } from '../../src/engine/localEngine';
import { consecutiveSeeds, rankCandidates, sampleCandidates } from '../../src/session/candidates';
import { MTPB_HEADER, promptContext } from '../../src/session/paperFormat';
import type { ProgramOutcome } from '../../src/session/ports';
import { MODEL_DIR } from '../helpers/model';

interface C {
  readonly name: string;
  readonly outcome?: ProgramOutcome;
  readonly meanLogprob?: number;
}
const ran: ProgramOutcome = { status: 'ran', output: '' };
const raised: ProgramOutcome = { status: 'raised', output: '', error: 'ZeroDivisionError' };
const timedOut: ProgramOutcome = { status: 'timed-out', output: '' };
const notRun: ProgramOutcome = { status: 'not-run', error: 'no python' };

const CASES: { readonly title: string; readonly candidates: C[]; readonly want: string[] }[] = [
  { title: 'empty', candidates: [], want: [] },
  { title: 'one', candidates: [{ name: 'a', outcome: raised, meanLogprob: -1 }], want: ['a'] },
  {
    title: 'a run without error beats any score',
    candidates: [
      { name: 'a', outcome: raised, meanLogprob: -0.1 },
      { name: 'b', outcome: ran, meanLogprob: -3 },
    ],
    want: ['b', 'a'],
  },
  {
    title: 'among runs, the higher mean log-probability first',
    candidates: [
      { name: 'a', outcome: ran, meanLogprob: -2 },
      { name: 'b', outcome: ran, meanLogprob: -0.5 },
      { name: 'c', outcome: ran, meanLogprob: -1 },
    ],
    want: ['b', 'c', 'a'],
  },
  {
    title: 'raised, timed out, not run and no run at all are all "not ran": ordered by score',
    candidates: [
      { name: 'a', outcome: timedOut, meanLogprob: -2 },
      { name: 'b', outcome: notRun, meanLogprob: -1 },
      { name: 'c', meanLogprob: -0.5 },
      { name: 'd', outcome: raised, meanLogprob: -3 },
    ],
    want: ['c', 'b', 'a', 'd'],
  },
  {
    title: 'an undefined score goes last within its group',
    candidates: [
      { name: 'a', outcome: ran },
      { name: 'b', outcome: ran, meanLogprob: -9 },
      { name: 'c', outcome: raised },
      { name: 'd', outcome: raised, meanLogprob: -9 },
    ],
    want: ['b', 'a', 'd', 'c'],
  },
  {
    title: 'ties keep the sampling order (stable)',
    candidates: [
      { name: 'a', outcome: raised, meanLogprob: -1 },
      { name: 'b', outcome: ran, meanLogprob: -1 },
      { name: 'c', outcome: raised, meanLogprob: -1 },
      { name: 'd', outcome: ran, meanLogprob: -1 },
      { name: 'e', outcome: ran },
      { name: 'f', outcome: ran },
    ],
    want: ['b', 'd', 'e', 'f', 'a', 'c'],
  },
  {
    title: 'NaN counts as unknown',
    candidates: [
      { name: 'a', outcome: ran, meanLogprob: NaN },
      { name: 'b', outcome: ran, meanLogprob: -5 },
    ],
    want: ['b', 'a'],
  },
];

test('rankCandidates: runs without error first, then by mean log-probability, ties in sampling order', () => {
  for (const { title, candidates, want } of CASES) {
    const copy = [...candidates];
    const ranked = rankCandidates(candidates);
    assert.deepEqual(
      ranked.map((c) => c.name),
      want,
      title,
    );
    assert.deepEqual(candidates, copy, `${title}: the input is left as it is`);
    if (candidates.length > 0) assert.equal(ranked[0], candidates.find((c) => c.name === want[0]), `${title}: the same objects`);
  }
});

const engine = new LocalEngine();
before(() => engine.load({ modelDir: MODEL_DIR }));
after(() => engine.dispose());

test('sampleCandidates: n samples of one context with seeds base, base + 1, ...; no second prefill', async () => {
  const context = promptContext(MTPB_HEADER, [{ prompt: 'Make a list of numbers.', code: 'xs = [1, 2, 3]' }], 'Print their sum.');
  const results = await sampleCandidates(engine, { context, temperature: 0.8, topP: 0.95, maxNewTokens: 12 }, 4, consecutiveSeeds(40));
  assert.equal(results.length, 4);
  assert.deepEqual(
    results.map((r) => r.seed),
    [40, 41, 42, 43],
  );
  assert.ok(new Set(results.map((r) => JSON.stringify(r.ids))).size > 1, 'different seeds give different samples');
  for (const r of results) {
    assert.ok(r.meanLogprob !== undefined && r.meanLogprob < 0 && Number.isFinite(r.meanLogprob));
    assert.equal(r.promptTokens, results[0].promptTokens);
  }
  for (const r of results.slice(1)) {
    assert.ok(r.reusedTokens >= r.promptTokens - 1, `reused ${r.reusedTokens} of ${r.promptTokens}`);
    assert.ok(r.timings.prefillTokens <= 1);
  }
  // The same seed reproduces a candidate.
  const again = await engine.generate({ context, temperature: 0.8, topP: 0.95, maxNewTokens: 12, seed: 42, scoreTokens: true });
  assert.deepEqual(again.ids, results[2].ids);
  assert.equal(again.meanLogprob, results[2].meanLogprob);

  assert.equal((await sampleCandidates(engine, { context, maxNewTokens: 4 }, 3, consecutiveSeeds(1), { signal: AbortSignal.abort() })).length, 0);
  await assert.rejects(sampleCandidates(engine, { context }, 0, consecutiveSeeds(1)), RangeError);
});
