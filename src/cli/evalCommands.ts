// `codegen-mt mtpb`, `codegen-mt mtpb score` and `codegen-mt humaneval`: the paper's evaluations from the command
// line (src/eval/ does the work).
import * as path from 'node:path';
import { runHumanEval, type HumanEvalRunResult } from '../eval/humanEval';
import { runMtpb, scoreMtpbSamples, type MtpbMode } from '../eval/mtpb';
import { ProgressBar } from '../eval/progress';
import { SettingsMismatchError } from '../eval/resultsStore';
import { EvalSetupError } from '../eval/sandbox';
import { summaryMarkdown, type MtpbSummary } from '../eval/summary';
import { checkedSampling, interruptSignal, numberOption, openEngine, parse, UsageError, type Io, type Values } from './common';

export const EVAL_USAGE = `  mtpb        [--mode multi|single|both] [--samples N] [--problems 1,5,9] [--out DIR]
              [--temperature T] [--top-p P] [--greedy] [--seed S] [--data FILE] [--candidates N]
              [--python PATH] [--timeout S] [--memory-mb M] [--workers N]
                                                        the paper's Multi-Turn Programming Benchmark;
                                                        resumes a run in DIR (default ./mtpb-results);
                                                        --candidates N also runs each mode with N
                                                        candidates per turn ranked by running them
                                                        (same seeds) and reports the gain
  mtpb score  --samples FILE [--out DIR] [--data FILE] [--python PATH] [--timeout S] ...
                                                        scores samples in the paper's format
  humaneval   [--samples N] [--k 1,10,100] [--problems 0,1] [--out DIR] [--max-new-tokens N]
              [--temperature T] [--top-p P] [--greedy] [--seed S] [--data FILE] [--canonical]
              [--python PATH] [--timeout S] [--memory-mb M] [--workers N]
                                                        HumanEval pass@k (resumes a run in DIR,
                                                        default ./humaneval-results)
`;

const SANDBOX = {
  python: { type: 'string' },
  timeout: { type: 'string' },
  'memory-mb': { type: 'string' },
  workers: { type: 'string' },
  data: { type: 'string' },
  out: { type: 'string' },
} as const;
const RUN = {
  samples: { type: 'string' },
  temperature: { type: 'string' },
  'top-p': { type: 'string' },
  greedy: { type: 'boolean', default: false },
  seed: { type: 'string' },
  problems: { type: 'string' },
} as const;

function sandboxOf(values: Values): { python?: string; timeoutS?: number; memoryMb?: number; workers?: number } {
  const workers = numberOption(values, 'workers', true);
  if (workers !== undefined && workers < 1) throw new UsageError('--workers must be at least 1');
  const timeoutS = numberOption(values, 'timeout', false);
  if (timeoutS !== undefined && timeoutS <= 0) throw new UsageError('--timeout must be above 0 seconds');
  return {
    python: typeof values.python === 'string' ? values.python : undefined,
    timeoutS,
    memoryMb: numberOption(values, 'memory-mb', true),
    workers,
  };
}

function samplingOf(values: Values): { temperature?: number; topP?: number; seed?: number } {
  const temperature = values.greedy ? 0 : numberOption(values, 'temperature', false);
  if (values.greedy && values.temperature !== undefined) throw new UsageError('give --greedy or --temperature, not both');
  return checkedSampling({ temperature, topP: numberOption(values, 'top-p', false), seed: numberOption(values, 'seed', true) });
}

function countOption(values: Values, name: string): number | undefined {
  const n = numberOption(values, name, true);
  if (n !== undefined && n < 1) throw new UsageError(`--${name} must be at least 1`);
  return n;
}

function listOption(values: Values, name: string): string[] | undefined {
  const raw = values[name];
  if (typeof raw !== 'string') return undefined;
  const items = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UsageError(`--${name} needs a comma-separated list`);
  return items;
}

/** Progress on stderr and notes as lines; returns what the run's callbacks need. */
function reporting(io: Io, label: string): { bar: ProgressBar; callbacks: { onProgress: ProgressBar['update']; onNote: (t: string) => void; signal: AbortSignal } } {
  const bar = new ProgressBar(process.stderr, label);
  return {
    bar,
    callbacks: {
      onProgress: (p) => bar.update(p),
      onNote: (text) => {
        bar.end();
        io.err(`${text}\n`);
      },
      signal: interruptSignal(),
    },
  };
}

/** Errors of the set-up (Python, data, a results folder of another run): one line, exit code 1. */
async function reported(command: string, io: Io, run: () => Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof EvalSetupError || err instanceof SettingsMismatchError) {
      io.err(`codegen-mt ${command}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

function overallTable(summary: MtpbSummary): string {
  const md = summaryMarkdown(summary);
  const start = md.indexOf('## Pass rate');
  const end = md.indexOf('## By category');
  return md.slice(start, end).trim() + '\n';
}

export async function mtpbCommand(args: string[], io: Io): Promise<number> {
  if (args[0] === 'score') return mtpbScoreCommand(args.slice(1), io);
  const values = parse(args, { ...SANDBOX, ...RUN, mode: { type: 'string' }, candidates: { type: 'string' } });
  const mode = (values.mode as string | undefined) ?? 'both';
  const modes: MtpbMode[] = mode === 'both' ? ['multi', 'single'] : mode === 'multi' || mode === 'single' ? [mode] : [];
  if (modes.length === 0) throw new UsageError(`--mode must be multi, single or both, got "${mode}"`);
  const options = {
    ...sandboxOf(values),
    ...samplingOf(values),
    modes,
    samples: countOption(values, 'samples'),
    candidates: countOption(values, 'candidates'),
    problems: listOption(values, 'problems'),
    dataFile: values.data as string | undefined,
    outDir: (values.out as string | undefined) ?? 'mtpb-results',
  };
  return reported('mtpb', io, async () => {
    const engine = await openEngine(values, io);
    const { bar, callbacks } = reporting(io, 'mtpb');
    try {
      const info = engine.modelInfo!;
      const result = await runMtpb(engine, { ...options, model: `${info.modelDir} (${info.variant})`, nPositions: info.nPositions }, callbacks);
      bar.end();
      if (values.json) {
        io.out(JSON.stringify({ complete: result.complete, computed: result.computed, skipped: result.skipped, samples: result.samplesPath, summaryMarkdown: result.summaryMarkdownPath, summarySvg: result.summarySvgPath, summary: result.summary }) + '\n');
      } else {
        io.out(overallTable(result.summary));
        io.out(`\n${result.computed} samples made, ${result.skipped} already done; results in ${path.resolve(options.outDir)} (samples.jsonl, summary.md, summary.json, summary.svg)\n`);
      }
      if (!result.complete) {
        io.err('interrupted: run the same command again to resume\n');
        return 130;
      }
      return 0;
    } finally {
      bar.end();
      await engine.dispose();
    }
  });
}

async function mtpbScoreCommand(args: string[], io: Io): Promise<number> {
  const values = parse(args, { ...SANDBOX, samples: { type: 'string' } });
  if (typeof values.samples !== 'string') throw new UsageError('mtpb score needs --samples FILE (JSONL: id, input, gold_output, completions)');
  return reported('mtpb score', io, async () => {
    const { bar, callbacks } = reporting(io, 'score');
    try {
      const result = await scoreMtpbSamples({ ...sandboxOf(values), samplesFile: values.samples as string, outDir: values.out as string | undefined, dataFile: values.data as string | undefined }, callbacks);
      bar.end();
      if (values.json) {
        io.out(JSON.stringify({ complete: result.complete, results: result.results, summary: result.summary, scored: result.scoredPath, summaryMarkdown: result.summaryMarkdownPath }) + '\n');
      } else {
        for (const r of result.results) io.out(`line ${r.line} problem ${r.id}: ${r.passed ? 'pass' : 'fail'}  printed ${r.printed ?? '-'}${r.error ? `  (${r.error})` : ''}\n`);
        io.out('\n' + overallTable(result.summary));
      }
      return result.complete ? 0 : 130;
    } finally {
      bar.end();
    }
  });
}

export async function humanEvalCommand(args: string[], io: Io): Promise<number> {
  const values = parse(args, { ...SANDBOX, ...RUN, k: { type: 'string' }, 'max-new-tokens': { type: 'string' }, canonical: { type: 'boolean', default: false } });
  const ks = (listOption(values, 'k') ?? ['1', '10', '100']).map((k) => {
    const n = Number(k);
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`--k takes whole numbers >= 1, got "${k}"`);
    return n;
  });
  const options = {
    ...sandboxOf(values),
    ...samplingOf(values),
    samples: countOption(values, 'samples'),
    k: ks,
    maxNewTokens: countOption(values, 'max-new-tokens'),
    problems: listOption(values, 'problems'),
    dataFile: values.data as string | undefined,
    outDir: (values.out as string | undefined) ?? 'humaneval-results',
    canonical: values.canonical === true,
  };
  return reported('humaneval', io, async () => {
    const engine = options.canonical ? undefined : await openEngine(values, io);
    const { bar, callbacks } = reporting(io, 'humaneval');
    try {
      const info = engine?.modelInfo;
      const result: HumanEvalRunResult = await runHumanEval(engine, { ...options, model: info ? `${info.modelDir} (${info.variant})` : 'canonical' }, callbacks);
      bar.end();
      if (values.json) {
        io.out(JSON.stringify({ complete: result.complete, computed: result.computed, skipped: result.skipped, samples: result.samplesPath, summaryMarkdown: result.summaryMarkdownPath, summary: result.summary }) + '\n');
      } else {
        for (const [k, v] of Object.entries(result.summary.passAtK)) io.out(`${k}: ${(100 * v).toFixed(2)}%\n`);
        io.out(`${result.summary.problems} problems x ${result.summary.samplesPerProblem} samples; results in ${path.resolve(options.outDir)}\n`);
      }
      if (!result.complete) {
        io.err('interrupted: run the same command again to resume\n');
        return 130;
      }
      return 0;
    } finally {
      bar.end();
      await engine?.dispose();
    }
  });
}
