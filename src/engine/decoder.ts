// What the KV cache needs from a model: feed tokens after the ones it holds, get the next-token logits and,
// when asked, the surprisal of each fed token after the first; forget a tail. Two implementations: the compiled
// graph (compiledDecoder.ts, the default) and a published ONNX file run as it is (onnx.ts).
import type { TokenId } from '../protocol/engine';
import { TOKENIZER_VOCAB_SIZE } from './tokenizer';

export interface DecoderOutput {
  /** Next-token logits after the last fed token; at least the tokenizer's 50,295 wide. Valid until the next feed. */
  readonly logits: Float32Array;
  /** -ln p(ids[j + 1] | everything before) for j = 0 .. ids.length - 2, over the tokenizer's vocabulary; empty unless asked. */
  readonly innerSurprisals: Float32Array;
  /**
   * For each fed token j from `rankFrom` (at least 1) on: the ALTERNATIVES_K ids the model ranked highest at
   * position j - 1 (what it expected instead of ids[j]), best first, with their log-probabilities; from the same
   * logits as the surprisals. Undefined unless asked (and for a graph that cannot rank).
   */
  readonly innerAlternatives?: readonly TopAlternatives[];
  /**
   * With `logitsFrom`: the next-token logits after each fed token from ids[logitsFrom] on, one row per token,
   * `logitsWidth` apart (the last row is `logits`). Valid until the next feed.
   */
  readonly rowLogits?: Float32Array;
  readonly logitsWidth?: number;
}

/** How many next-token candidates are kept per scored position. */
export const ALTERNATIVES_K = 5;

/** The top candidates at one position, best first: ids and their log-probabilities (over the tokenizer's vocabulary). */
export interface TopAlternatives {
  readonly ids: Int32Array;
  readonly logprobs: Float32Array;
}

export interface Decoder {
  /** `compiled`, or the published file's layout. */
  readonly layout: 'compiled' | 'newer' | 'merged';
  readonly kvType: 'float32' | 'float16';
  /** Tokens held in the KV state. */
  readonly length: number;
  /** Whether feed() can give innerAlternatives (a compiled graph older than the ranking cannot). */
  readonly ranksAlternatives: boolean;
  /** Whether feed() can give the logits after every fed token (rowLogits: checking proposed tokens in one run). */
  readonly givesRowLogits: boolean;
  /**
   * `rankFrom`: the first fed token (index into ids, at least 1) whose alternatives are wanted; none if undefined.
   * `logitsFrom`: the first fed token whose next-token logits rowLogits gives (where givesRowLogits).
   */
  feed(ids: readonly TokenId[], wantSurprisals: boolean, rankFrom?: number, logitsFrom?: number): Promise<DecoderOutput>;
  /** Keeps the first `length` tokens. */
  truncate(length: number): void;
  dispose(): Promise<void>;
}

/** ln(sum(exp(row))), stably. */
export function logSumExp(row: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  return max + Math.log(sum);
}

/** -ln p(id) under a row of logits, normalised over the tokenizer's vocabulary (ids past it are never produced). */
export function surprisalOf(row: Float32Array, id: TokenId): number {
  return logSumExp(row.subarray(0, Math.min(row.length, TOKENIZER_VOCAB_SIZE))) - row[id];
}

/**
 * The `k` highest logits of the tokenizer's part of `row`, best first (an equal logit: the lower id first), as
 * log-probabilities: one pass keeping a sorted list of k (no sort of the whole row).
 */
export function topAlternatives(row: Float32Array, k = ALTERNATIVES_K, logNorm?: number): TopAlternatives {
  const width = Math.min(row.length, TOKENIZER_VOCAB_SIZE);
  const ids = new Int32Array(Math.min(k, width));
  const values = new Float32Array(ids.length).fill(-Infinity);
  let filled = 0;
  for (let i = 0; i < width; i++) {
    const v = row[i];
    if (filled === ids.length && !(v > values[filled - 1])) continue;
    let at = filled < ids.length ? filled++ : filled - 1;
    while (at > 0 && v > values[at - 1]) {
      values[at] = values[at - 1];
      ids[at] = ids[at - 1];
      at--;
    }
    values[at] = v;
    ids[at] = i;
  }
  const norm = logNorm ?? logSumExp(row.subarray(0, width));
  const logprobs = new Float32Array(filled);
  for (let j = 0; j < filled; j++) logprobs[j] = values[j] - norm;
  return { ids: filled === ids.length ? ids : ids.slice(0, filled), logprobs };
}
