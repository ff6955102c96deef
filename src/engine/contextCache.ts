// The KV cache of the tokens the model has seen, kept across calls: a new context is fed only from where it
// departs from the cached one (longest common prefix), so a turn costs its own tokens, not the whole history.
// Each cached token's surprisal is kept too, so a prompt's perplexity comes from the pass that prefilled it.
import type { TokenId } from '../protocol/engine';
import { EngineError } from '../protocol/errors';
import { logSumExp } from './generation/sampler';
import type { OnnxDecoder, PastState } from './onnx';

export interface SyncReport {
  readonly reusedTokens: number;
  readonly prefillTokens: number;
  readonly prefillMs: number;
}

/** Prompts longer than this are prefilled in slices of it, bounding the [seq, 51200] logits buffer (200 KB a token). */
export const PREFILL_CHUNK = 512;

export class ContextCache {
  private cachedIds: TokenId[] = [];
  private surprisals: number[] = [];
  private past: PastState;
  /** Logits of the token after the last cached one; undefined when unknown (after a truncation). */
  private next: Float32Array | undefined;

  constructor(
    private readonly decoder: OnnxDecoder,
    private readonly vocabSize: number,
  ) {
    this.past = decoder.emptyPast();
  }

  get length(): number {
    return this.cachedIds.length;
  }

  get ids(): readonly TokenId[] {
    return this.cachedIds;
  }

  /** Logits for the token after the cached ones. Only valid right after sync() or step(). */
  get nextLogits(): Float32Array {
    if (!this.next) throw new EngineError('internal', 'next-token logits requested before the context was fed');
    return this.next;
  }

  /** -ln p(ids[i] | ids[<i]) for cached positions [from, to); NaN for position 0. */
  surprisalsOf(from: number, to: number): number[] {
    return this.surprisals.slice(from, to);
  }

  /**
   * Makes the cache hold exactly `target`, with the next-token logits known. Keeps the longest common prefix
   * and feeds the rest; if that prefix is the whole target but the logits after it are unknown, the last token
   * is fed again. Aborting between slices leaves a consistent (shorter) cache.
   */
  async sync(target: readonly TokenId[], signal?: AbortSignal): Promise<SyncReport> {
    let keep = 0;
    const max = Math.min(target.length, this.cachedIds.length);
    while (keep < max && target[keep] === this.cachedIds[keep]) keep++;
    const logitsKnownAtKeep = keep === this.cachedIds.length && this.next !== undefined;
    if (keep === target.length && logitsKnownAtKeep) return { reusedTokens: keep, prefillTokens: 0, prefillMs: 0 };
    // Refeed one token to get the logits that predict the next; its own surprisal is already known.
    let refedSurprisal: number | undefined;
    if (!logitsKnownAtKeep && keep > 0) refedSurprisal = this.surprisals[--keep];
    this.truncate(keep);

    const started = performance.now();
    for (let from = keep; from < target.length; from += PREFILL_CHUNK) {
      if (signal?.aborted) throw new EngineError('cancelled', 'Cancelled.');
      await this.feed(target.slice(from, Math.min(target.length, from + PREFILL_CHUNK)));
      if (refedSurprisal !== undefined) this.surprisals[keep] = refedSurprisal;
      refedSurprisal = undefined;
    }
    return { reusedTokens: keep, prefillTokens: target.length - keep, prefillMs: performance.now() - started };
  }

  /** Feeds one generated token. */
  async step(id: TokenId): Promise<void> {
    await this.feed([id]);
  }

  /** Forgets everything (after an error, or for a fresh start). */
  reset(): void {
    this.truncate(0);
  }

  private truncate(length: number): void {
    if (length === this.cachedIds.length) return;
    this.past = this.decoder.truncatePast(this.past, length);
    this.cachedIds.length = length;
    this.surprisals.length = length;
    this.next = undefined;
  }

  private async feed(ids: readonly TokenId[]): Promise<void> {
    let result;
    try {
      result = await this.decoder.forward(ids, this.past);
    } catch (err) {
      this.reset();
      throw err;
    }
    const V = this.vocabSize;
    for (let j = 0; j < ids.length; j++) {
      const prev = j === 0 ? this.next : result.logits.subarray((j - 1) * V, j * V);
      this.surprisals.push(prev ? logSumExp(prev) - prev[ids[j]] : NaN);
      this.cachedIds.push(ids[j]);
    }
    // Copy the last row so the whole [seq, vocab] buffer can be freed.
    this.next = result.logits.slice((ids.length - 1) * V, ids.length * V);
    this.past = result.past;
  }
}
