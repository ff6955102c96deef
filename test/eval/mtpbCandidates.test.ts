// `mtpb --candidates N`: each mode runs plain and execution-ranked on the same jobs and seeds, and the summary
// measures the gain. A scripted engine writes MTPB problem 1's right code on odd seeds; on even ones, code that
// raises, except the last turn's, which runs but prints the wrong thing. Plain multi-turn (seeds s, s+1, ...) then
// always has a turn that raises; candidate 1's seed has the other parity than candidate 0's, so ranking by running
// keeps a running turn 1-4, and at turn 5 (both run) the more probable one, right or wrong: the MTPB tests never
// rank. Then the bundled model through the CLI.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main';
import { sampleSeed } from '../../src/eval/evalRun';
import { mtpbKey, runMtpb, type MtpbOptions, type MtpbRecord } from '../../src/eval/mtpb';
import { candidateSeed, type CandidateRecord } from '../../src/eval/mtpbSample';
import type { Engine, GenerateRequest, GenerateResult } from '../../src/protocol/engine';
import { cliArgv } from '../helpers/cli';
import { NO_PYTHON, PYTHON, ROOT, tmpDir } from './helpers';

/** Problem 1 ("Sandwich string"), turn by turn: what each prompt asks for. */
function rightCode(prompt: string): string {
  const assigned = /Assign the string "([^"]*)"/.exec(prompt);
  if (assigned) return `my_string = ${JSON.stringify(assigned[1])}`;
  if (/Lowercase/.test(prompt)) return 'my_string = my_string.lower()';
  if (/distinct characters/.test(prompt)) return 'chars = set(my_string)';
  if (/Sort these/.test(prompt)) return 'chars = sorted(chars)';
  if (/Print the resulting/.test(prompt)) return 'print(chars)';
  throw new Error(`unexpected prompt ${prompt}`);
}

const wrongCode = (prompt: string): string => (/Print the resulting/.test(prompt) ? 'print("wrong")' : 'my_string = undefined_name');
const scriptedLogprob = (seed: number): number => -((seed % 5) + 1) / 10;

/** Right code on odd seeds, wrong on even ones (see the top); single-turn prompts get every line at once. */
class ScriptedEngine implements Engine {
  readonly requests: GenerateRequest[] = [];
  constructor(private readonly onRequest?: (count: number) => void) {}
  async load(): Promise<never> {
    throw new Error('not used');
  }
  async tokenize(text: string): Promise<number[]> {
    return Array.from({ length: Math.ceil(text.length / 4) }, (_, i) => i);
  }
  async generate(request: GenerateRequest, callbacks: { signal?: AbortSignal } = {}): Promise<GenerateResult> {
    this.requests.push(request);
    this.onRequest?.(this.requests.length);
    const seed = request.seed!;
    const lines = request.context.prompt.replace(/\n$/, '').split('\n').map((l) => l.replace(/^# /, ''));
    const text = lines.map(seed % 2 === 1 ? rightCode : wrongCode).join('\n');
    const timings = { tokenizeMs: 0, prefillMs: 0, prefillTokens: 0, timeToFirstTokenMs: 0, decodeMs: 0, decodeTokens: 0, totalMs: 0 };
    return {
      text, rawText: text, ids: [1, 2], stopReason: callbacks.signal?.aborted ? 'cancelled' : 'turn-end', seed, prompt: { perplexity: 3, tokens: [] },
      promptTokens: 10, droppedTurns: 0, reusedTokens: 0, timings,
      ...(request.scoreTokens ? { meanLogprob: scriptedLogprob(seed) } : {}),
    };
  }
  async perplexity(): Promise<never> {
    throw new Error('not used');
  }
  async dispose(): Promise<void> {}
}

type Turn = { seed: number; code: string; candidates?: CandidateRecord[] };
type Line = MtpbRecord & { turns: Turn[] };
const records = (file: string): Line[] =>
  fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('{') && l.includes('"mode"')).map((l) => JSON.parse(l) as Line);
const twinOf = (all: readonly Line[], mode: string, r: Line): Line => all.find((p) => p.mode === mode && p.input_index === r.input_index && p.sample_index === r.sample_index)!;

/** Problem 1 of the shipped data with only its first `inputs` test inputs, as a data file. */
function problemOneData(inputs: number): string {
  const line = fs.readFileSync(path.join(ROOT, 'data', 'mtpb.jsonl'), 'utf8').split('\n').find((l) => l.includes('"id": "1"}'))!;
  const problem = JSON.parse(line);
  const file = path.join(tmpDir('codegen-mt-mtpb-data-'), 'mtpb.jsonl');
  fs.writeFileSync(file, JSON.stringify({ ...problem, inputs: problem.inputs.slice(0, inputs), outputs: problem.outputs.slice(0, inputs) }) + '\n');
  return file;
}

test('ranked by running: the running candidate kept, candidate 0 on plain sampling\'s seed, the gain measured; a plain run reused', { skip: NO_PYTHON }, async () => {
  const engine = new ScriptedEngine();
  const outDir = tmpDir('codegen-mt-mtpb-ranked-');
  const plainOptions: MtpbOptions = { model: 'scripted', outDir, problems: ['1'], samples: 1, temperature: 0.8, python: PYTHON!.executable };
  const plainRun = await runMtpb(engine, plainOptions);
  assert.deepEqual([plainRun.computed, plainRun.summary.ranking], [10, undefined]);
  const plainRequests = engine.requests.length;

  // The same folder with --candidates 2: the plain samples are reused, only the ranked ones are made.
  const options = { ...plainOptions, candidates: 2 };
  const result = await runMtpb(engine, options);
  assert.deepEqual([result.complete, result.computed, result.skipped], [true, 10, 10]);
  assert.equal(engine.requests.length - plainRequests, 5 * 5 * 2 + 5 * 2, 'two candidates per turn, five turns (multi) or one (single)');
  assert.ok(engine.requests.slice(plainRequests).every((r) => r.scoreTokens), 'candidates are scored (mean log-probability)');
  const all = records(result.samplesPath);
  assert.equal(all.length, 20);
  assert.deepEqual([...new Set(all.map((r) => r.mode))].sort(), ['multi', 'multi-ranked2', 'single', 'single-ranked2']);

  // Multi-turn: turns 1-4 keep the candidate that ran; turn 5 (both run) the higher mean log-probability
  // (candidate 0 on a tie), whether or not it prints the right thing.
  let rankedPassed = 0;
  let keptWrong = 0;
  for (const ranked of all.filter((r) => r.mode === 'multi-ranked2')) {
    const plain = twinOf(all, 'multi', ranked);
    assert.equal(plain.turns[0].seed, sampleSeed(16, mtpbKey('multi', '1', ranked.input_index, 0)));
    assert.equal(ranked.turns[0].candidates![0].code, plain.turns[0].code, 'turn 1\'s candidate 0 is plain sampling\'s turn 1');
    ranked.turns.forEach((turn, i) => {
      const [c0, c1] = turn.candidates!;
      assert.equal(turn.candidates!.length, 2);
      assert.equal(c0.seed, (plain.turns[0].seed + i) >>> 0, `turn ${i + 1}: candidate 0 on plain's seed for that turn`);
      assert.equal(c1.seed, candidateSeed(c0.seed, 1));
      assert.equal(typeof c0.meanLogprob, 'number');
      const kept = turn.candidates!.filter((c) => c.kept);
      assert.equal(kept.length, 1);
      assert.equal(turn.code, kept[0].code);
      if (i < 4) {
        assert.deepEqual([kept[0].run, turn.candidates!.map((c) => c.run).sort()], ['ran', ['raised', 'ran']], 'the one that ran is kept');
      } else {
        assert.deepEqual([c0.run, c1.run], ['ran', 'ran']);
        assert.equal(kept[0], c1.meanLogprob! > c0.meanLogprob! ? c1 : c0);
      }
    });
    const passes = ranked.turns[4].candidates!.find((c) => c.kept)!.seed % 2 === 1;
    assert.equal(ranked.passed, passes);
    if (passes) rankedPassed++;
    else keptWrong++;
  }
  assert.ok(rankedPassed > 0 && keptWrong > 0, 'the seeds give both cases: a gain, and a running wrong candidate kept over a right one');

  const singlePlainPassed = all.filter((r) => r.mode === 'single' && r.passed).length;
  assert.equal(singlePlainPassed, all.filter((r) => r.mode === 'single' && r.turns[0].seed % 2 === 1).length);
  for (const ranked of all.filter((r) => r.mode === 'single-ranked2')) {
    assert.equal(ranked.turns[0].candidates![0].seed, twinOf(all, 'single', ranked).turns[0].seed);
    assert.equal(ranked.passed, true, 'the one that ran is kept, and it is right');
  }

  const byMode = Object.fromEntries(result.summary.modes.map((m) => [m.mode, m.passed]));
  assert.deepEqual(byMode, { multi: 0, 'multi-ranked2': rankedPassed, single: singlePlainPassed, 'single-ranked2': 5 });
  const figures = (mode: string) => {
    const r = result.summary.ranking!.find((c) => c.mode === mode)!;
    return [r.rankedMode, r.candidates, r.pairs, r.plain.passed, r.ranked.passed, r.gainPoints, r.rankedOnly, r.plainOnly];
  };
  assert.deepEqual(figures('multi'), ['multi-ranked2', 2, 5, 0, rankedPassed, 20 * rankedPassed, rankedPassed, 0]);
  assert.deepEqual(figures('single'), ['single-ranked2', 2, 5, singlePlainPassed, 5, 20 * (5 - singlePlainPassed), 5 - singlePlainPassed, 0]);
  const onDisk = JSON.parse(fs.readFileSync(result.summaryJsonPath, 'utf8'));
  assert.deepEqual(onDisk.ranking, result.summary.ranking);
  assert.equal(onDisk.settings.candidates, 2);
  assert.ok(result.summary.ranking!.every((r) => typeof r.generateTimeRatio === 'number' && r.generateTimeRatio > 0));
  const markdown = fs.readFileSync(result.summaryMarkdownPath, 'utf8');
  assert.match(markdown, /## Execution-ranked candidates vs plain sampling/);
  assert.match(markdown, new RegExp(`\\| multi \\| 2 \\| 5 \\| 0\\.00% \\| ${20 * rankedPassed}\\.00% \\| \\+${20 * rankedPassed}\\.00 \\| ${rankedPassed} \\| 0 \\|`));

  // Resumed: nothing made again.
  const generated = engine.requests.length;
  const again = await runMtpb(engine, options);
  assert.deepEqual([again.computed, again.skipped, engine.requests.length], [0, 20, generated]);
  assert.deepEqual(again.summary.ranking, result.summary.ranking);
});

test('ranked: interrupted mid-turn, nothing partial is kept; the resumed run finishes it', { skip: NO_PYTHON }, async () => {
  const controller = new AbortController();
  // Input 0: 5 plain requests, then the ranked sample's 10; stop during its third turn.
  const engine = new ScriptedEngine((count) => count === 10 && controller.abort());
  const options = { model: 'scripted', outDir: tmpDir('codegen-mt-mtpb-ranked-stop-'), dataFile: problemOneData(2), modes: ['multi' as const], candidates: 2, temperature: 0.8, python: PYTHON!.executable };
  const stopped = await runMtpb(engine, options, { signal: controller.signal });
  assert.deepEqual([stopped.complete, stopped.computed], [false, 1]);
  assert.deepEqual(records(stopped.samplesPath).map((r) => r.mode), ['multi']);
  const resumed = await runMtpb(engine, options);
  assert.deepEqual([resumed.complete, resumed.computed, resumed.skipped], [true, 3, 1]);
  const ranked = records(resumed.samplesPath).filter((r) => r.mode === 'multi-ranked2');
  assert.deepEqual(ranked.map((r) => [r.input_index, r.turns.length]), [[0, 5], [1, 5]]);
  assert.equal(resumed.summary.ranking![0].pairs, 2);
});

test('codegen-mt mtpb --candidates 2 on the bundled model: both modes and the comparison; --candidates 0 is one line', { skip: NO_PYTHON }, async () => {
  const outDir = tmpDir('codegen-mt-mtpb-cli-ranked-');
  const args = ['mtpb', '--candidates', '2', '--problems', '1', '--mode', 'multi', '--samples', '1', '--data', problemOneData(1), '--out', outDir, '--python', PYTHON!.executable];
  const run = spawnSync(process.execPath, cliArgv([...args, '--json']), { cwd: ROOT, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const json = JSON.parse(run.stdout);
  assert.deepEqual(json.summary.modes.map((m: { mode: string }) => m.mode), ['multi', 'multi-ranked2']);
  assert.equal(json.summary.settings.candidates, 2);
  const [comparison] = json.summary.ranking;
  assert.deepEqual([json.summary.ranking.length, comparison.mode, comparison.rankedMode, comparison.pairs], [1, 'multi', 'multi-ranked2', 1]);
  const [plain, ranked] = records(json.samples);
  assert.deepEqual([plain.mode, ranked.mode], ['multi', 'multi-ranked2']);
  assert.deepEqual(ranked.turns.map((t) => t.candidates!.map((c) => c.seed)), plain.turns.map((t) => [t.seed, candidateSeed(t.seed, 1)]));
  assert.match(fs.readFileSync(path.join(outDir, 'summary.md'), 'utf8'), /## Execution-ranked candidates vs plain sampling/);

  // The printed table has the comparison (a resumed run: nothing generated).
  const printed = spawnSync(process.execPath, cliArgv(args), { cwd: ROOT, encoding: 'utf8' });
  assert.equal(printed.status, 0, printed.stderr);
  assert.match(printed.stdout, /## Execution-ranked candidates vs plain sampling[\s\S]*\| multi \| 2 \| 1 \|/);
  assert.match(printed.stdout, /0 samples made, 2 already done/);

  for (const [value, message] of [['0', /--candidates must be at least 1/], ['1.5', /--candidates must be a whole number, got "1\.5"/]] as const) {
    let err = '';
    const code = await main(['mtpb', '--candidates', value, '--out', outDir], { out: () => undefined, err: (t) => (err += t) });
    assert.equal(code, 2, err);
    const [first, ...rest] = err.trimEnd().split('\n');
    assert.match(first, /^codegen-mt mtpb: /);
    assert.match(first, message);
    assert.deepEqual(rest, ['Run "codegen-mt --help" for usage.']);
  }
});
