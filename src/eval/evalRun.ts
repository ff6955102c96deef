// What MTPB and HumanEval runs share: options, callbacks, the sandbox set-up, seeds, the generate-then-execute
// loop (programs run in a small pool while the engine generates the next sample), and reading data through the
// harness.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { findPython, type PythonInfo } from './python';
import {
  defaultWorkers,
  detectIsolation,
  EvalSetupError,
  ExecutorPool,
  harnessPath,
  type Isolation,
  type SandboxOptions,
} from './sandbox';
import { ProgressClock, type Progress } from './progress';

export interface SandboxSettings {
  /** Interpreter with numpy and pandas. Default: the first of python3, /usr/bin/python3, python that has them (findPython). */
  readonly python?: string;
  /** Seconds per program. */
  readonly timeoutS?: number;
  /** Address-space limit per program, MiB. Default 2048. */
  readonly memoryMb?: number;
  /** Programs executed at once. Default min(4, CPUs - 1). */
  readonly workers?: number;
}

/** What a resumable benchmark run (MTPB, HumanEval) is given besides its own options. */
export interface EvalRunOptions extends SandboxSettings {
  /** Folder of the results (samples.jsonl, run.json, summary.json/.md/.svg); a second run there resumes. */
  readonly outDir: string;
  /** The benchmark's data file; default: the copy in the package's data/ folder. */
  readonly dataFile?: string;
  /** Samples per task (MTPB: per problem and test input). Default 1. */
  readonly samples?: number;
  /** Default GENERATION_DEFAULTS.temperature; 0 is greedy. */
  readonly temperature?: number;
  /** Default GENERATION_DEFAULTS.topP. */
  readonly topP?: number;
  /** Base of every sample's seed. Default 16 (the paper's sampler's). */
  readonly seed?: number;
  /** Problem ids; default all. */
  readonly problems?: readonly string[];
  /** What the model is (recorded, and checked on resume): e.g. its folder and variant. */
  readonly model: string;
}

export interface EvalCallbacks {
  /** After each finished sample (and once at the start). */
  readonly onProgress?: (progress: Progress) => void;
  /** A line worth telling the user (sandbox limitations, a repaired results file). */
  readonly onNote?: (text: string) => void;
  /** Stops the run: the sample being generated is dropped, those being executed are finished and kept. */
  readonly signal?: AbortSignal;
}

export interface PreparedSandbox {
  readonly python: PythonInfo;
  readonly isolation: Isolation;
  readonly options: SandboxOptions;
  readonly pool: ExecutorPool;
}

export async function prepareSandbox(settings: SandboxSettings, defaultTimeoutS: number, onNote?: (text: string) => void): Promise<PreparedSandbox> {
  const harness = harnessPath();
  const python = findPython(settings.python, { harness });
  const isolation = await detectIsolation(python, harness);
  for (const note of isolation.notes) onNote?.(`sandbox: ${note}`);
  const options: SandboxOptions = {
    python,
    harness,
    isolation,
    timeoutS: settings.timeoutS ?? defaultTimeoutS,
    memoryMb: settings.memoryMb ?? 2048,
  };
  return { python, isolation, options, pool: new ExecutorPool(options, settings.workers ?? defaultWorkers()) };
}

/** A sample's seed: fixed by the run's seed and the sample's key, so a resumed run makes the same samples. */
export function sampleSeed(seed: number, key: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (const ch of `${seed}/${key}`) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function fileSha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** Runs the harness's data commands (trusted input, no sandbox): one JSON object a line. */
export function harnessLines<T>(python: PythonInfo, args: readonly string[]): T[] {
  const run = spawnSync(python.executable, ['-I', '-B', harnessPath(), ...args], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  if (run.error || run.status !== 0) throw new EvalSetupError(`${args.join(' ')}: ${run.error?.message ?? run.stderr.trim().split('\n').pop()}`);
  const lines = run.stdout.split('\n').filter((l) => l.trim() !== '');
  const out: T[] = [];
  for (const line of lines) {
    const obj = JSON.parse(line) as T & { error?: string };
    if (typeof obj.error === 'string') throw new EvalSetupError(obj.error);
    out.push(obj);
  }
  return out;
}

export interface Job {
  readonly key: string;
}

/**
 * The loop of a run: for each job not yet done, `generate` (on the engine, one at a time) and then, in the pool,
 * `finish` (execute, score and append the record). At most 2 x pool size samples wait for execution, so the
 * engine is never far ahead. Returns whether every job was done (false when the signal stopped it).
 */
export async function generateAndExecute<J extends Job, G>(
  jobs: readonly J[],
  isDone: (key: string) => boolean,
  pool: ExecutorPool,
  generate: (job: J) => Promise<G | undefined>,
  finish: (job: J, generated: G) => Promise<boolean>,
  callbacks: EvalCallbacks,
  passedSoFar: number,
): Promise<{ complete: boolean; computed: number }> {
  const total = jobs.length;
  let done = jobs.filter((j) => isDone(j.key)).length;
  let passed = passedSoFar;
  const clock = new ProgressClock(total);
  callbacks.onProgress?.(clock.progress(done, passed));
  const inflight = new Set<Promise<void>>();
  let failure: unknown;
  let computed = 0;
  let stopped = false;
  for (const job of jobs) {
    if (isDone(job.key)) continue;
    if (callbacks.signal?.aborted || failure !== undefined) {
      stopped = true;
      break;
    }
    const generated = await generate(job);
    if (generated === undefined) {
      stopped = true;
      break;
    }
    const task = finish(job, generated).then(
      (ok) => {
        done++;
        computed++;
        if (ok) passed++;
        callbacks.onProgress?.(clock.progress(done, passed));
      },
      (err: unknown) => {
        failure ??= err;
      },
    );
    inflight.add(task);
    void task.finally(() => inflight.delete(task));
    while (inflight.size >= pool.size * 2) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  if (failure !== undefined) throw failure;
  return { complete: !stopped && done === total, computed };
}
