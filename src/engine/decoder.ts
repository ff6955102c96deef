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
}

export interface Decoder {
  /** `compiled`, or the published file's layout. */
  readonly layout: 'compiled' | 'newer' | 'merged';
  readonly kvType: 'float32' | 'float16';
  /** Tokens held in the KV state. */
  readonly length: number;
  feed(ids: readonly TokenId[], wantSurprisals: boolean): Promise<DecoderOutput>;
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
