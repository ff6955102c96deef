// Runs a graph made by the compiler (compiler/graphBuilder.ts). Its keys and values live in one buffer per layer,
// owned here and passed in as the past (onnxruntime reads inputs in place; the attention reads only the valid
// positions); each run returns just the new tokens' keys and values, appended here. So a decode step copies a few
// kilobytes, never the cache, and forgetting a tail is setting a length.
import * as ort from 'onnxruntime-node';
import type { TokenId } from '../protocol/engine';
import { EngineError } from '../protocol/errors';
import { ALTERNATIVES_K, type Decoder, type DecoderOutput, type TopAlternatives } from './decoder';
import type { CodeGenConfig } from './modelFolder';
import { createSession, type SessionTuning } from './onnx';

/**
 * The KV buffers grow in steps of this many tokens: the attention reads the whole buffer (positions past the
 * tokens held are masked), so a tight buffer keeps a step's cost at the tokens actually held; growing copies the
 * buffers once per step of tokens.
 */
const CAPACITY_STEP = 64;

export class CompiledDecoder implements Decoder {
  readonly layout = 'compiled';
  readonly kvType = 'float32';
  private tokens = 0;
  private capacity = 0;
  private kv: ort.Tensor[] = [];

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly config: CodeGenConfig,
    private readonly cacheHeadDim: number,
    /** A graph of compiler version 4 or later ranks the alternatives (an older standalone one is still run). */
    readonly ranksAlternatives: boolean,
    /** A graph of compiler version 5 or later gives the logits of every fed position when asked. */
    readonly givesRowLogits: boolean,
    /** A graph of compiler version 6 or later scores only the rows asked for (score_from). */
    private readonly scoresFrom: boolean,
  ) {}

  static async open(file: string, config: CodeGenConfig, threads?: number, tuning?: SessionTuning): Promise<CompiledDecoder> {
    // The graph is fused already: onnxruntime's higher levels find nothing to gain and only lengthen the load
    // (bench/sessionOptions.ts: within noise on decode, basic slightly ahead; README, Benchmark).
    const session = await createSession(file, threads, { graphOptimizationLevel: 'basic', ...tuning });
    const past = session.inputMetadata.find((m) => m.name === 'past_values.0');
    const logits = session.outputMetadata.find((m) => m.name === 'logits');
    const dim = past?.isTensor ? past.shape[3] : undefined;
    const width = logits?.isTensor ? logits.shape[1] : undefined;
    const layers = session.inputNames.filter((n) => /^past_values\.\d+$/.test(n)).length;
    if (typeof dim !== 'number' || typeof width !== 'number' || layers !== config.nLayer || !session.outputNames.includes('token_logprobs')) {
      await session.release();
      throw new EngineError('invalid-model', `${file} is not a graph made by codegen-mt optimize for this config.json: compile it again (codegen-mt optimize).`);
    }
    const ranks = session.inputNames.includes('rank_from') && session.outputNames.includes('top_ids') && session.outputNames.includes('top_logprobs');
    return new CompiledDecoder(session, config, dim, ranks, session.inputNames.includes('logits_from'), session.inputNames.includes('score_from'));
  }

  get length(): number {
    return this.tokens;
  }

  async feed(ids: readonly TokenId[], wantSurprisals: boolean, rankFrom?: number, logitsFrom?: number): Promise<DecoderOutput> {
    const total = this.tokens + ids.length;
    if (total > this.config.nPositions) throw new EngineError('internal', `the context would exceed ${this.config.nPositions} positions`);
    // Grown when full, shrunk after a big truncation (a shorter context should not pay for a longer one's buffer).
    if (total > this.capacity || this.capacity - total > 4 * CAPACITY_STEP) this.resize(total);
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
      past_length: new ort.Tensor('int64', BigInt64Array.of(BigInt(this.tokens)), [1]),
    };
    // Row j predicts token j + 1; the graph ranks from row rank_from to the last (which predicts past the chunk:
    // not wanted, but always ranked, so that the graph never ranks no row).
    const firstRanked = Math.min(ids.length, Math.max(1, rankFrom ?? ids.length));
    if (this.ranksAlternatives) feeds.rank_from = new ort.Tensor('int64', BigInt64Array.of(BigInt(firstRanked - 1)), [1]);
    const firstRow = this.givesRowLogits && logitsFrom !== undefined ? Math.min(ids.length - 1, Math.max(0, logitsFrom)) : ids.length - 1;
    if (this.givesRowLogits) feeds.logits_from = new ort.Tensor('int64', BigInt64Array.of(BigInt(firstRow)), [1]);
    if (this.scoresFrom) feeds.score_from = new ort.Tensor('int64', BigInt64Array.of(BigInt(wantSurprisals ? 0 : ids.length - 1)), [1]);
    for (let i = 0; i < this.config.nLayer; i++) {
      feeds[`past_keys_t.${i}`] = this.kv[2 * i];
      feeds[`past_values.${i}`] = this.kv[2 * i + 1];
    }
    const out = await this.session.run(feeds);
    const H = this.config.nHead;
    const Dp = this.cacheHeadDim;
    const S = ids.length;
    const C = this.capacity;
    const P = this.tokens;
    for (let i = 0; i < this.config.nLayer; i++) {
      // Keys are kept transposed, [H, Dp, C]: each (head, dim) row gets S new positions; values [H, C, Dp].
      copyRows(this.kv[2 * i].data as Float32Array, C, P, out[`new_keys_t.${i}`].data as Float32Array, S, S, H * Dp);
      copyRows(this.kv[2 * i + 1].data as Float32Array, C * Dp, P * Dp, out[`new_values.${i}`].data as Float32Array, S * Dp, S * Dp, H);
    }
    this.tokens = total;
    const logprobs = out.token_logprobs.data as Float32Array;
    let innerSurprisals = new Float32Array(0);
    if (wantSurprisals) {
      innerSurprisals = new Float32Array(logprobs.length);
      for (let j = 0; j < logprobs.length; j++) innerSurprisals[j] = -logprobs[j];
    }
    const wanted = ids.length - firstRanked;
    const innerAlternatives =
      rankFrom !== undefined && this.ranksAlternatives ? alternativesOf(out.top_ids.data as Int32Array, out.top_logprobs.data as Float32Array, wanted) : undefined;
    const rowLogits = out.logits.data as Float32Array;
    const width = rowLogits.length / (ids.length - firstRow);
    const logits = rowLogits.subarray(rowLogits.length - width);
    return { logits, innerSurprisals, innerAlternatives, ...(logitsFrom !== undefined && this.givesRowLogits ? { rowLogits, logitsWidth: width } : {}) };
  }

  truncate(length: number): void {
    this.tokens = Math.min(this.tokens, Math.max(0, length));
  }

  async dispose(): Promise<void> {
    this.kv = [];
    await this.session.release();
  }

  /** Reallocates the buffers to hold `needed` tokens (rounded up to a step), keeping the tokens they hold. */
  private resize(needed: number): void {
    const capacity = Math.min(Math.max(1, Math.ceil(needed / CAPACITY_STEP)) * CAPACITY_STEP, this.config.nPositions);
    const H = this.config.nHead;
    const Dp = this.cacheHeadDim;
    const kept = this.tokens;
    const kv: ort.Tensor[] = [];
    for (let i = 0; i < this.config.nLayer; i++) {
      const keysT = new Float32Array(H * Dp * capacity);
      const values = new Float32Array(H * capacity * Dp);
      if (kept > 0) {
        copyRows(keysT, capacity, 0, this.kv[2 * i].data as Float32Array, this.capacity, kept, H * Dp);
        copyRows(values, capacity * Dp, 0, this.kv[2 * i + 1].data as Float32Array, this.capacity * Dp, kept * Dp, H);
      }
      kv.push(new ort.Tensor('float32', keysT, [1, H, Dp, capacity]), new ort.Tensor('float32', values, [1, H, capacity, Dp]));
    }
    this.kv = kv;
    this.capacity = capacity;
  }
}

/** Copies the first `length` elements of each of `rows` rows of `src` into `dst`'s rows, from `dstOffset` on. */
function copyRows(dst: Float32Array, dstStride: number, dstOffset: number, src: Float32Array, srcStride: number, length: number, rows: number): void {
  for (let r = 0; r < rows; r++) dst.set(src.subarray(r * srcStride, r * srcStride + length), r * dstStride + dstOffset);
}

/** The first `count` rows of the graph's [ranked, K] ids and log-probabilities, one TopAlternatives each. */
function alternativesOf(ids: Int32Array, logprobs: Float32Array, count: number): TopAlternatives[] {
  const rows: TopAlternatives[] = [];
  for (let r = 0; r < count; r++) {
    const from = r * ALTERNATIVES_K;
    rows.push({ ids: ids.slice(from, from + ALTERNATIVES_K), logprobs: logprobs.slice(from, from + ALTERNATIVES_K) });
  }
  return rows;
}
