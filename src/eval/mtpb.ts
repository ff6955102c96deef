// MTPB as the CodeGen paper ran it, over any Engine: each problem's templates are filled with each of its test
// inputs (by Python's str.format, as the paper's sampler does), and for each input and sample the program is
// generated either multi-turn (runMultiTurn: the protocol's one owner) or single-turn (the same turns as one
// prompt, one generation), then executed and scored by the paper's rules in the sandbox. With `candidates` N, each
// mode also runs execution-ranked on the same jobs and seeds (mtpbSample.ts) and the summary compares the two
// (mtpbRanking.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GENERATION_DEFAULTS, type Engine } from '../protocol/engine';
import { fileSha256, generateAndExecute, harnessLines, prepareSandbox, type EvalCallbacks, type EvalRunOptions, type SandboxSettings } from './evalRun';
import { rankingComparisons } from './mtpbRanking';
import { generateMtpbSample, mtpbKey, rankedMode, type MtpbJob } from './mtpbSample';
import { jsonWithRaw, ResultsStore, writeFileDurably, type StoredRecord } from './resultsStore';
import type { PythonInfo } from './python';
import { benchmarkDataFile, MTPB_DATA } from './benchmarkData';
import { EvalSetupError, type ExecRequest, type Isolation } from './sandbox';
import { summarize, summaryMarkdown, summarySvg, type MtpbSummary, type SampleOutcome } from './summary';

export type MtpbMode = 'multi' | 'single';

/** The paper's sampler's budget for a problem without `max_gen_length`. */
export const DEFAULT_MAX_GEN_LENGTH = 256;
/** The paper's executor's limit. */
export const MTPB_TIMEOUT_S = 20;

export interface MtpbProblem {
  readonly id: string;
  readonly name: string;
  readonly category: string;
  readonly maxGenLength: number;
  /** For each test input, its filled turns. */
  readonly prompts: readonly (readonly string[])[];
  /** Each test input and expected output as JSON text written by Python (3.0 stays a float). */
  readonly inputsJson: readonly string[];
  readonly goldJson: readonly string[];
}

export { mtpbKey };

export interface MtpbOptions extends EvalRunOptions {
  readonly modes?: readonly MtpbMode[];
  /**
   * Candidates per generation ranked by running them (2 or more): each mode then also runs execution-ranked
   * (mode `multi-ranked3`, ...) on the same jobs and seeds, and the summary compares the two.
   */
  readonly candidates?: number;
  /** The model's context (for the single-turn budget). Default 2048. */
  readonly nPositions?: number;
}

export interface MtpbRunResult {
  readonly samplesPath: string;
  readonly summaryJsonPath: string;
  readonly summaryMarkdownPath: string;
  readonly summarySvgPath: string;
  readonly summary: MtpbSummary;
  /** Every requested sample is in the results file. */
  readonly complete: boolean;
  /** Samples made by this call (the rest were in the file already). */
  readonly computed: number;
  readonly skipped: number;
  readonly sandbox: Isolation;
}

export interface MtpbRecord extends StoredRecord {
  readonly mode: string;
  readonly id: string;
  readonly name: string;
  readonly category: string;
  readonly input_index: number;
  readonly sample_index: number;
  readonly completions: string;
  readonly passed: boolean;
  readonly printed: string | null;
  readonly error: string | null;
  readonly prompt_perplexity: number | null;
  /** Time to generate the sample (the comparison's cost ratio reads it). */
  readonly generate_ms?: number;
}

export function defaultMtpbData(): string {
  return benchmarkDataFile(MTPB_DATA);
}

export function loadMtpbProblems(python: PythonInfo, dataFile: string): MtpbProblem[] {
  if (!fs.existsSync(dataFile)) throw new EvalSetupError(`MTPB data not found: ${dataFile}`);
  type Raw = { id: string; name: string; category: string; max_gen_length: number | null; prompts: string[][]; inputs_json: string[]; gold_json: string[] };
  return harnessLines<Raw>(python, ['problems', dataFile])
    .map((p) => ({
      id: p.id,
      name: p.name,
      category: p.category,
      maxGenLength: p.max_gen_length ?? DEFAULT_MAX_GEN_LENGTH,
      prompts: p.prompts,
      inputsJson: p.inputs_json,
      goldJson: p.gold_json,
    }))
    .sort((a, b) => Number(a.id) - Number(b.id) || a.id.localeCompare(b.id));
}

export function outcomeOf(record: MtpbRecord): SampleOutcome {
  return {
    mode: record.mode,
    problemId: record.id,
    problemName: record.name,
    category: record.category,
    passed: record.passed,
    promptPerplexity: typeof record.prompt_perplexity === 'number' ? record.prompt_perplexity : null,
  };
}

function writeSummaryFiles(outDir: string, summary: MtpbSummary): { json: string; markdown: string; svg: string } {
  const files = { json: path.join(outDir, 'summary.json'), markdown: path.join(outDir, 'summary.md'), svg: path.join(outDir, 'summary.svg') };
  writeFileDurably(files.json, JSON.stringify(summary, null, 2) + '\n');
  writeFileDurably(files.markdown, summaryMarkdown(summary));
  writeFileDurably(files.svg, summarySvg(summary));
  return files;
}

/**
 * Runs (or resumes) MTPB on a loaded engine. Used by `codegen-mt mtpb` and by the extension's
 * "CodeGen: Run MTPB benchmark" command (through the worker client: any Engine does).
 */
export async function runMtpb(engine: Engine, options: MtpbOptions, callbacks: EvalCallbacks = {}): Promise<MtpbRunResult> {
  const dataFile = options.dataFile ?? defaultMtpbData();
  const samples = options.samples ?? 1;
  if (!Number.isInteger(samples) || samples < 1) throw new EvalSetupError(`samples must be a whole number >= 1, got ${samples}`);
  const modes = options.modes ?? ['multi', 'single'];
  const candidates = options.candidates ?? 1;
  if (!Number.isInteger(candidates) || candidates < 1) throw new EvalSetupError(`candidates must be a whole number >= 1, got ${candidates}`);
  const sandbox = await prepareSandbox(options, MTPB_TIMEOUT_S, callbacks.onNote);
  const all = loadMtpbProblems(sandbox.python, dataFile);
  let problems = all;
  if (options.problems && options.problems.length > 0) {
    const byId = new Map(all.map((p) => [p.id, p]));
    const unknown = options.problems.filter((id) => !byId.has(id));
    if (unknown.length) throw new EvalSetupError(`no MTPB problem with id ${unknown.join(', ')} in ${dataFile} (ids ${all[0]?.id}..${all[all.length - 1]?.id})`);
    problems = [...new Set(options.problems)].map((id) => byId.get(id)!);
  }

  const temperature = options.temperature ?? GENERATION_DEFAULTS.temperature;
  const topP = options.topP ?? GENERATION_DEFAULTS.topP;
  const seed = options.seed ?? 16;
  const settings = { benchmark: 'mtpb', model: options.model, temperature, topP: temperature === 0 ? null : topP, seed, data: fileSha256(dataFile) };
  const store = ResultsStore.open<MtpbRecord>(options.outDir, 'samples.jsonl', settings);
  if (store.repaired.droppedBytes) callbacks.onNote?.(`${store.file}: dropped a cut-short last line (${store.repaired.droppedBytes} bytes) from an interrupted run`);
  if (store.repaired.badLines) callbacks.onNote?.(`${store.file}: ${store.repaired.badLines} unreadable lines ignored`);

  const jobs: MtpbJob[] = [];
  for (const problem of problems) {
    for (const mode of modes) {
      for (let inputIndex = 0; inputIndex < problem.prompts.length; inputIndex++) {
        for (let sampleIndex = 0; sampleIndex < samples; sampleIndex++) {
          const key = mtpbKey(mode, problem.id, inputIndex, sampleIndex);
          jobs.push({ key, seedKey: key, mode, problem, inputIndex, sampleIndex });
          // The execution-ranked twin: its own record, plain sampling's seed.
          if (candidates > 1) jobs.push({ key: mtpbKey(rankedMode(mode, candidates), problem.id, inputIndex, sampleIndex), seedKey: key, mode, problem, inputIndex, sampleIndex, candidates });
        }
      }
    }
  }
  const skipped = jobs.filter((j) => store.has(j.key)).length;
  const passedBefore = jobs.filter((j) => store.records.get(j.key)?.passed).length;

  // Candidates run in the same pool as the scored programs, under the same limits.
  const ranking = { run: (request: ExecRequest) => sandbox.pool.run(request), options: sandbox.options };
  let outcome: { complete: boolean; computed: number };
  try {
    outcome = await generateAndExecute(
      jobs,
      (key) => store.has(key),
      sandbox.pool,
      (job) => generateMtpbSample(engine, job, options, ranking, callbacks.signal),
      async (job, generated) => {
        const goldJson = job.problem.goldJson[job.inputIndex];
        const exec = generated.generationError
          ? { passed: false, error: generated.generationError, printed: null, stdout: '', timedOut: false, ms: 0 }
          : await sandbox.pool.run({ kind: 'mtpb', program: generated.program, goldJson });
        const record: MtpbRecord = {
          key: job.key,
          mode: job.candidates ? rankedMode(job.mode, job.candidates) : job.mode,
          id: job.problem.id,
          name: job.problem.name,
          category: job.problem.category,
          input_index: job.inputIndex,
          sample_index: job.sampleIndex,
          completions: generated.program,
          passed: exec.passed,
          printed: exec.printed,
          error: exec.error,
          prompt_perplexity: generated.promptPerplexity,
          generate_ms: generated.generateMs,
        };
        const line = jsonWithRaw(
          {
            ...record,
            stdout: exec.stdout,
            timed_out: exec.timedOut,
            turns: generated.turns,
            seed: generated.seed,
            temperature,
            top_p: topP,
            model: options.model,
            timings: { generateMs: generated.generateMs, execMs: exec.ms },
          },
          { input: job.problem.inputsJson[job.inputIndex], gold_output: goldJson },
        );
        store.append(record, line);
        return exec.passed;
      },
      callbacks,
      passedBefore,
    );
  } finally {
    store.close();
  }

  const wanted = new Set(jobs.map((j) => j.key));
  const records = [...store.records.values()].filter((r) => wanted.has(r.key));
  const outcomes = records.map(outcomeOf);
  const notes = [...sandbox.isolation.notes];
  if (!outcome.complete) notes.push(`incomplete: ${outcomes.length} of ${jobs.length} samples (run again with the same options to resume)`);
  let summary = summarize(outcomes, `MTPB: ${path.basename(options.model)}`, {
    model: options.model,
    data: dataFile,
    modes: modes.join(', '),
    problems: problems.length === all.length ? `all ${all.length}` : problems.map((p) => p.id).join(','),
    samplesPerInput: samples,
    ...(candidates > 1 ? { candidates, rankedBy: 'running the program so far, not the MTPB tests: ran first, then mean log-probability' } : {}),
    sampling: temperature === 0 ? 'greedy' : `temperature ${temperature}, top-p ${topP}`,
    seed,
    python: `${sandbox.python.executable} (${sandbox.python.version})`,
    sandbox: sandbox.isolation.description,
    timeLimitS: sandbox.options.timeoutS,
    memoryLimitMb: sandbox.options.memoryMb,
  }, notes);
  if (candidates > 1) summary = { ...summary, ranking: rankingComparisons(records, modes, candidates) };
  const files = writeSummaryFiles(options.outDir, summary);
  return {
    samplesPath: store.file,
    summaryJsonPath: files.json,
    summaryMarkdownPath: files.markdown,
    summarySvgPath: files.svg,
    summary,
    complete: outcome.complete,
    computed: outcome.computed,
    skipped,
    sandbox: sandbox.isolation,
  };
}

export interface ScoreOptions extends SandboxSettings {
  /** A JSONL of samples in the paper's format (`id`, `input`, `gold_output`, `completions`). */
  readonly samplesFile: string;
  /** Where scored.jsonl and the summary go; a second run there resumes. Default: none (nothing written). */
  readonly outDir?: string;
  /** MTPB data for problem names and categories; default the package's copy (data/mtpb.jsonl). */
  readonly dataFile?: string;
}

export interface ScoreResult {
  readonly summary: MtpbSummary;
  readonly results: readonly { line: number; id: string; passed: boolean; printed: string | null; error: string | null }[];
  readonly scoredPath?: string;
  readonly summaryMarkdownPath?: string;
  readonly complete: boolean;
}

/** Scores a samples file (from this tool or the paper's sampler) with the paper's executor rules. */
export async function scoreMtpbSamples(options: ScoreOptions, callbacks: EvalCallbacks = {}): Promise<ScoreResult> {
  if (!fs.existsSync(options.samplesFile)) throw new EvalSetupError(`samples file not found: ${options.samplesFile}`);
  const sandbox = await prepareSandbox(options, MTPB_TIMEOUT_S, callbacks.onNote);
  type Raw = { line: number; id: string; mode: string; prompt_perplexity: unknown; input_json: string; gold_json: string; program: string };
  const samples = harnessLines<Raw>(sandbox.python, ['samples', options.samplesFile]);
  const dataFile = options.dataFile ?? defaultMtpbData();
  const problems = fs.existsSync(dataFile) ? new Map(loadMtpbProblems(sandbox.python, dataFile).map((p) => [p.id, p])) : new Map<string, MtpbProblem>();

  const records = new Map<string, MtpbRecord>();
  let store: ResultsStore<MtpbRecord> | undefined;
  if (options.outDir) {
    store = ResultsStore.open<MtpbRecord>(options.outDir, 'scored.jsonl', { benchmark: 'mtpb-score', samples: fileSha256(options.samplesFile) });
  }
  const isDone = (key: string): boolean => store?.has(key) ?? records.has(key);
  const jobs = samples.map((s) => ({ key: `line:${s.line}`, sample: s }));
  let outcome: { complete: boolean; computed: number };
  try {
    outcome = await generateAndExecute(
      jobs,
      isDone,
      sandbox.pool,
      async (job) => (callbacks.signal?.aborted ? undefined : job.sample),
      async (job, s) => {
        const exec = await sandbox.pool.run({ kind: 'mtpb', program: s.program, goldJson: s.gold_json });
        const problem = problems.get(s.id);
        const record: MtpbRecord = {
          key: job.key,
          mode: s.mode,
          id: s.id,
          name: problem?.name ?? '',
          category: problem?.category ?? '',
          input_index: -1,
          sample_index: s.line,
          completions: s.program,
          passed: exec.passed,
          printed: exec.printed,
          error: exec.error,
          prompt_perplexity: typeof s.prompt_perplexity === 'number' ? s.prompt_perplexity : null,
        };
        records.set(job.key, record);
        store?.append(record, jsonWithRaw({ ...record, stdout: exec.stdout, timed_out: exec.timedOut, execMs: exec.ms }, { input: s.input_json, gold_output: s.gold_json }));
        return exec.passed;
      },
      callbacks,
      0,
    );
  } finally {
    store?.close();
  }
  const all = store ? [...store.records.values()] : [...records.values()];
  const wanted = new Set(jobs.map((j) => j.key));
  const done = all.filter((r) => wanted.has(r.key)).sort((a, b) => a.sample_index - b.sample_index);
  const summary = summarize(done.map(outcomeOf), `MTPB samples: ${path.basename(options.samplesFile)}`, {
    samples: options.samplesFile,
    python: `${sandbox.python.executable} (${sandbox.python.version})`,
    sandbox: sandbox.isolation.description,
    timeLimitS: sandbox.options.timeoutS,
  }, sandbox.isolation.notes);
  const summaryMarkdownPath = options.outDir ? writeSummaryFiles(options.outDir, summary).markdown : undefined;
  return {
    summary,
    results: done.map((r) => ({ line: r.sample_index, id: r.id, passed: r.passed, printed: r.printed, error: r.error })),
    scoredPath: store?.file,
    summaryMarkdownPath,
    complete: outcome.complete,
  };
}
