// What every engine of the benchmark is given (the same token ids for all of them) and the figures each reports.
import type { CodeGenTokenizer } from '../src/engine/tokenizer';
import { MTPB_HEADER } from '../src/session/paperFormat';

export const SESSION_PROMPTS = [
  'Define a list of integers named "values" from 1 to 20.',
  'Keep only the even numbers of "values".',
  'Square each of them.',
  'Compute their sum and store it in "total".',
  'Define a function "mean" that returns the average of a list.',
  'Compute the mean of the squared values.',
  'Build a dictionary mapping each value to its square.',
  'Sort the dictionary items by value in descending order.',
  'Take the first three items.',
  'Print the result.',
];

/** Some ordinary Python to prefill with (repeated to the wanted length). */
const CODE = `import numpy as np\n\ndef moving_average(values, window):\n    result = []\n    for i in range(len(values) - window + 1):\n        result.append(sum(values[i:i + window]) / window)\n    return result\n\n`;

/** A new turn's prompt, cut to TURN_TOKENS tokens (it ends with a newline, as a turn's prompt line does). */
const TURN = '# Build a dictionary that maps each even value to its square, then sort its items by value and print the first three.';

export const HISTORY_TOKENS = 1000;
export const TURN_TOKENS = 16;
export const PREFILL_TOKENS = 512;
export const DECODE_TOKENS = 64;
export const TURN_NEW_TOKENS = 32;
/** Best of this many runs for TTFT, prefill and decode. */
export const REPEATS = 3;

export interface Workload {
  /** HISTORY_TOKENS ids of code, and the text they decode to. */
  readonly history: { text: string; ids: number[] };
  /** TURN_TOKENS ids of a `# ...\n` prompt line. */
  readonly turn: { text: string; ids: number[] };
  readonly prefill: { text: string; ids: number[] };
  /** The decode test's prompt: the MTPB header and a one-line request. */
  readonly decodePrompt: { header: string; prompt: string; ids: number[] };
}

function fit(tokenizer: CodeGenTokenizer, seed: string, tokens: number, suffix = ''): { text: string; ids: number[] } {
  let text = seed;
  while (tokenizer.encode(text).length < tokens) text += seed;
  const suffixIds = suffix ? tokenizer.encode(suffix) : [];
  const ids = [...tokenizer.encode(text).slice(0, tokens - suffixIds.length), ...suffixIds];
  return { text: tokenizer.decode(ids), ids };
}

export function makeWorkload(tokenizer: CodeGenTokenizer): Workload {
  const decodePrompt = '# Print the numbers from 1 to 10.\n';
  return {
    history: fit(tokenizer, CODE, HISTORY_TOKENS),
    turn: fit(tokenizer, TURN, TURN_TOKENS, '\n'),
    prefill: fit(tokenizer, CODE, PREFILL_TOKENS),
    decodePrompt: { header: MTPB_HEADER, prompt: decodePrompt, ids: tokenizer.encode(MTPB_HEADER + decodePrompt) },
  };
}

/** What one engine at one variant measured, in its own process. */
export interface EngineFigures {
  readonly engine: 'ours' | 'transformers.js';
  /** The variant asked for (transformers.js: always fp32, the published onnx/model.onnx). */
  readonly variant: string;
  /** The ONNX file that was run. */
  readonly onnxFile: string;
  readonly loadMs: number;
  /** Our engine: the part of the load that compiled the graph (first load of a model at a precision only). */
  readonly compileMs?: number;
  /** How the KV cache was carried from one call to the next. */
  readonly kvCache: string;
  readonly ttft: { historyTokens: number; turnTokens: number; reusedTokens: number; prefillTokens: number; ms: number };
  readonly prefill: { tokens: number; ms: number; tokensPerSecond: number };
  readonly decode: { tokens: number; ms: number; msPerToken: number; tokensPerSecond: number };
  readonly session: {
    turns: number;
    perTurnMs: number[];
    promptTokens: number[];
    reusedTokens: number[];
    /** Our engine only: the same session with every turn from an empty cache. */
    withoutReuseMs?: number[];
  };
  /** Our engine only: a session long enough for its oldest turns to be dropped. */
  readonly longSession?: LongSession;
  /** Peak RSS of the process after the measurements every engine does (before the long session). */
  readonly peakRssMb: number;
  /** Peak RSS at the end (after the long session, where there was one). */
  readonly finalPeakRssMb: number;
  /** This script's own RSS when it forked the child (a child's peak RSS on Linux starts there; kept small). */
  readonly parentRssMbAtFork?: number;
  readonly extra?: Record<string, unknown>;
}

export interface LongSession {
  readonly turns: number;
  /** Per turn: context tokens, tokens reused from the KV cache, old turns left out, milliseconds. */
  readonly perTurn: { promptTokens: number; reusedTokens: number; droppedTurns: number; ms: number }[];
}

/** What the parent asks a child process to measure. */
export interface ChildSpec {
  readonly engine: 'ours' | 'transformers.js';
  readonly modelDir: string;
  readonly variant: string;
  readonly threads?: number;
  readonly turns: number;
  readonly longTurns: number;
}

export const peakRssMb = (): number => process.resourceUsage().maxRSS / 1024;

export const best = <T extends { ms: number }>(a: T | undefined, b: T): T => (a === undefined || b.ms < a.ms ? b : a);
