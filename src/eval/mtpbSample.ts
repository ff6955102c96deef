// One MTPB sample's generation: plain sampling (multi-turn: runMultiTurn, the protocol's one owner; single-turn:
// the turns as one prompt), or ranked by running (`--candidates N`): N candidates per generation on the same
// context, candidate 0 with exactly plain sampling's seed, each run as the program so far in the sandbox (the
// script kind: whether it runs, never the MTPB tests), ranked as the editor ranks them (rankCandidates: ran
// first, then mean log-probability), the best kept.
import { GENERATION_DEFAULTS, type Engine, type GenerateRequest, type GenerateResult } from '../protocol/engine';
import { EngineError } from '../protocol/errors';
import { rankCandidates, sampleCandidates } from '../session/candidates';
import { runMultiTurn, type CompletedTurn } from '../session/multiTurn';
import { assembleProgram, formatPrompt, MTPB_HEADER, promptContext } from '../session/paperFormat';
import { sampleSeed } from './evalRun';
import type { MtpbMode, MtpbOptions, MtpbProblem } from './mtpb';
import { outcomeOf } from './programOutcome';
import type { ExecRequest, ExecResult, SandboxOptions } from './sandbox';

export interface MtpbJob {
  readonly key: string;
  readonly mode: MtpbMode;
  readonly problem: MtpbProblem;
  readonly inputIndex: number;
  readonly sampleIndex: number;
  /** Candidates per generation, ranked by running them; absent or 1: plain sampling. */
  readonly candidates?: number;
  /** The key whose seed the sample uses: a ranked sample uses its plain twin's, so candidate 0 is plain sampling. */
  readonly seedKey: string;
}

export interface GeneratedSample {
  readonly program: string;
  readonly turns: readonly object[];
  readonly promptPerplexity: number | null;
  readonly seed: number;
  readonly generateMs: number;
  readonly generationError?: string;
}

/** What ranking needs of the sandbox: a run of a program, and the options that word its outcome. */
export interface RankingSandbox {
  run(request: ExecRequest): Promise<ExecResult>;
  readonly options: Pick<SandboxOptions, 'python' | 'timeoutS'>;
}

export function mtpbKey(mode: string, problemId: string, inputIndex: number, sampleIndex: number): string {
  return `${mode}/${problemId}/${inputIndex}/${sampleIndex}`;
}

/** The mode of execution-ranked samples with `n` candidates: `multi-ranked3`. */
export function rankedMode(mode: MtpbMode, n: number): string {
  return `${mode}-ranked${n}`;
}

/** Candidate k's seed at a position whose plain seed is `plain`: k = 0 is plain's, the others spread apart. */
export function candidateSeed(plain: number, k: number): number {
  return (plain + Math.imul(k, 0x9e3779b1)) >>> 0;
}

function turnRecord(prompt: string, result: GenerateResult): object {
  return {
    prompt,
    code: result.text,
    perplexity: Number.isFinite(result.prompt.perplexity) ? result.prompt.perplexity : null,
    stopReason: result.stopReason,
    promptTokens: result.promptTokens,
    droppedTurns: result.droppedTurns,
    seed: result.seed,
    timings: result.timings,
  };
}

function meanOf(values: readonly (number | null)[]): number | null {
  const finite = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  return finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : null;
}

/** Errors of one request that would recur on every retry: the sample is recorded as failed. */
function isSampleError(err: unknown): err is EngineError {
  return err instanceof EngineError && (err.code === 'context-too-long' || err.code === 'invalid-request');
}

/** One generation's candidates, run and ranked: the best, and what the record keeps of each. */
interface RankedGeneration {
  readonly best: GenerateResult;
  readonly candidates: readonly CandidateRecord[];
}

/** What a ranked sample's record keeps of each candidate, in sampling order (candidate 0: plain's seed). */
export interface CandidateRecord {
  readonly seed: number;
  readonly code: string;
  /** How its run as the program so far ended: ran, raised, timed-out, not-run. */
  readonly run: string;
  readonly meanLogprob: number | null;
  readonly kept: boolean;
}

async function rankedGeneration(
  engine: Engine,
  request: GenerateRequest,
  n: number,
  plainSeed: number,
  programOf: (code: string) => string,
  sandbox: RankingSandbox,
  signal?: AbortSignal,
): Promise<RankedGeneration | undefined> {
  const results = await sampleCandidates(engine, request, n, (k) => candidateSeed(plainSeed, k), { signal });
  if (signal?.aborted || results.length < n || results.some((r) => r.stopReason === 'cancelled')) return undefined;
  const runs = [];
  for (const result of results) {
    if (signal?.aborted) return undefined;
    const outcome = outcomeOf(await sandbox.run({ kind: 'script', program: programOf(result.text) }), sandbox.options);
    runs.push({ result, outcome, meanLogprob: result.meanLogprob });
  }
  const best = rankCandidates(runs)[0];
  return {
    best: best.result,
    candidates: runs.map((c) => ({ seed: c.result.seed, code: c.result.text, run: c.outcome.status, meanLogprob: c.meanLogprob ?? null, kept: c === best })),
  };
}

/** A multi-turn sample; with candidates, each turn's are ranked after the kept turns so far. */
async function multiTurnSample(engine: Engine, job: MtpbJob, sampling: SamplingOf, sandbox: RankingSandbox | undefined, signal?: AbortSignal): Promise<Omit<GeneratedSample, 'generateMs'> | undefined> {
  const prompts = job.problem.prompts[job.inputIndex];
  const n = job.candidates ?? 1;
  if (n <= 1 || !sandbox) {
    const result = await runMultiTurn(engine, prompts, { header: MTPB_HEADER, maxNewTokens: job.problem.maxGenLength, stop: 'turn', signal, ...sampling });
    if (signal?.aborted || result.turns.length < prompts.length || result.turns.some((t) => t.result.stopReason === 'cancelled')) return undefined;
    return {
      program: result.program,
      turns: result.turns.map((t) => turnRecord(t.prompt, t.result)),
      promptPerplexity: meanOf(result.turns.map((t) => t.result.prompt.perplexity)),
      seed: sampling.seed,
    };
  }
  const kept: CompletedTurn[] = [];
  const records: object[] = [];
  for (const [i, prompt] of prompts.entries()) {
    const request = { context: promptContext(MTPB_HEADER, kept, prompt), maxNewTokens: job.problem.maxGenLength, stop: 'turn' as const, temperature: sampling.temperature, topP: sampling.topP };
    // Turn i's plain seed is runMultiTurn's: the sample's seed + i.
    const programOf = (code: string): string => assembleProgram(MTPB_HEADER, [...kept, { prompt, code }]);
    const ranked = await rankedGeneration(engine, request, n, (sampling.seed + i) >>> 0, programOf, sandbox, signal);
    if (!ranked) return undefined;
    kept.push({ prompt, code: ranked.best.text, result: ranked.best });
    records.push({ ...turnRecord(prompt, ranked.best), candidates: ranked.candidates });
  }
  return { program: assembleProgram(MTPB_HEADER, kept), turns: records, promptPerplexity: meanOf(kept.map((t) => t.result.prompt.perplexity)), seed: sampling.seed };
}

type SamplingOf = { readonly temperature: number; readonly topP: number; readonly seed: number };

/**
 * Single-turn: every turn as a `# ...` line of one prompt; one generation with the turns' budgets summed, cut by
 * the same stop rules, capped to what the context leaves; with candidates, N such generations ranked.
 */
async function singleTurnSample(engine: Engine, job: MtpbJob, options: MtpbOptions, sampling: SamplingOf, sandbox: RankingSandbox | undefined, signal?: AbortSignal): Promise<Omit<GeneratedSample, 'generateMs'> | undefined> {
  const prompts = job.problem.prompts[job.inputIndex];
  const prompt = prompts.join('\n');
  const context = promptContext(MTPB_HEADER, [], prompt);
  const promptTokens = (await engine.tokenize(MTPB_HEADER + formatPrompt(prompt))).length;
  const room = (options.nPositions ?? 2048) - promptTokens - 1;
  const maxNewTokens = Math.max(1, Math.min(job.problem.maxGenLength * prompts.length, room));
  const request = { context, maxNewTokens, stop: 'turn' as const, temperature: sampling.temperature, topP: sampling.topP };
  const programOf = (code: string): string => assembleProgram(MTPB_HEADER, [{ prompt, code }]);
  const n = job.candidates ?? 1;
  let result: GenerateResult;
  let record: object;
  if (n > 1 && sandbox) {
    const ranked = await rankedGeneration(engine, request, n, sampling.seed, programOf, sandbox, signal);
    if (!ranked) return undefined;
    result = ranked.best;
    record = { ...turnRecord(prompt, result), candidates: ranked.candidates };
  } else {
    result = await engine.generate({ ...request, seed: sampling.seed }, { signal });
    if (signal?.aborted || result.stopReason === 'cancelled') return undefined;
    record = turnRecord(prompt, result);
  }
  return {
    program: programOf(result.text),
    turns: [record],
    promptPerplexity: Number.isFinite(result.prompt.perplexity) ? result.prompt.perplexity : null,
    seed: sampling.seed,
  };
}

/** The job's sample (undefined if cancelled); `sandbox` runs the candidates of a ranked job. */
export async function generateMtpbSample(engine: Engine, job: MtpbJob, options: MtpbOptions, sandbox?: RankingSandbox, signal?: AbortSignal): Promise<GeneratedSample | undefined> {
  const started = performance.now();
  const seed = sampleSeed(options.seed ?? 16, job.seedKey);
  const sampling = { temperature: options.temperature ?? GENERATION_DEFAULTS.temperature, topP: options.topP ?? GENERATION_DEFAULTS.topP, seed };
  try {
    const sample = job.mode === 'multi' ? await multiTurnSample(engine, job, sampling, sandbox, signal) : await singleTurnSample(engine, job, options, sampling, sandbox, signal);
    return sample && { ...sample, generateMs: performance.now() - started };
  } catch (err) {
    if (signal?.aborted || (err instanceof EngineError && err.code === 'cancelled')) return undefined;
    if (!isSampleError(err)) throw err;
    return { program: MTPB_HEADER, turns: [], promptPerplexity: null, seed, generateMs: performance.now() - started, generationError: `generation: ${err.message}` };
  }
}
