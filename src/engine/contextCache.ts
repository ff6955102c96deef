// The KV cache of the tokens the model has seen, kept across calls: a new context is fed only from where it
// departs from the cached one (longest common prefix), so a turn costs its own tokens, not the whole history.
// Prefilled tokens keep their surprisal, so a prompt's perplexity comes from the pass that prefilled it; generated
// tokens get none (nobody reads it), and a context whose scored part lacks one is refed from there. Tokens of the
// scored part also keep the model's top alternatives at their position (from the same logits, so no extra pass).
import type { TokenId } from '../protocol/engine';
import { EngineError } from '../protocol/errors';
import { surprisalOf, topAlternatives, type Decoder, type DecoderOutput, type TopAlternatives } from './decoder';

export interface SyncReport {
  readonly reusedTokens: number;
  readonly prefillTokens: number;
  readonly prefillMs: number;
}

/** Prompts longer than this are prefilled in slices of it, bounding the graph's [seq, vocab] intermediates. */
export const PREFILL_CHUNK = 256;

export class ContextCache {
  private cachedIds: TokenId[] = [];
  /** -ln p(token | before) per cached position; NaN where unknown (position 0, generated tokens). */
  private surprisals: number[] = [];
  /** The top next-token candidates at each cached position's predecessor; undefined where not ranked. */
  private alternatives: (TopAlternatives | undefined)[] = [];
  /** Logits of the token after the last cached one; undefined when unknown (after a truncation). */
  private next: Float32Array | undefined;

  constructor(private readonly decoder: Decoder) {}

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

  /** The model's best candidates instead of ids[i], for cached positions [from, to); undefined where not ranked. */
  alternativesOf(from: number, to: number): (TopAlternatives | undefined)[] {
    return this.alternatives.slice(from, to);
  }

  /**
   * Makes the cache hold exactly `target`, with the next-token logits known and the surprisal (and, where the
   * decoder ranks them, the alternatives) of every token from `scoreFrom` on. Keeps the longest common prefix that
   * satisfies both and feeds the rest; if that prefix is the whole target but the logits after it are unknown, the
   * last token is fed again. Aborting between slices leaves a consistent (shorter) cache.
   */
  async sync(target: readonly TokenId[], signal?: AbortSignal, scoreFrom = target.length): Promise<SyncReport> {
    let keep = 0;
    const max = Math.min(target.length, this.cachedIds.length);
    while (keep < max && target[keep] === this.cachedIds[keep]) keep++;
    const ranks = this.decoder.ranksAlternatives;
    for (let i = Math.max(1, scoreFrom); i < keep; i++) {
      if (Number.isNaN(this.surprisals[i]) || (ranks && !this.alternatives[i])) {
        keep = i;
        break;
      }
    }
    const logitsKnownAtKeep = keep === this.cachedIds.length && this.next !== undefined;
    if (keep === target.length && logitsKnownAtKeep) return { reusedTokens: keep, prefillTokens: 0, prefillMs: 0 };
    // Refeed one token to get the logits that predict the next; its own surprisal (and alternatives) are known.
    let refed: { surprisal: number; alternatives: TopAlternatives | undefined } | undefined;
    if (!logitsKnownAtKeep && keep > 0) {
      keep--;
      refed = { surprisal: this.surprisals[keep], alternatives: this.alternatives[keep] };
    }
    this.truncate(keep);

    const started = performance.now();
    for (let from = keep; from < target.length; from += PREFILL_CHUNK) {
      if (signal?.aborted) throw new EngineError('cancelled', 'Cancelled.');
      await this.feed(target.slice(from, Math.min(target.length, from + PREFILL_CHUNK)), true, Math.max(0, scoreFrom - from));
      if (refed !== undefined) {
        this.surprisals[keep] = refed.surprisal;
        this.alternatives[keep] ??= refed.alternatives;
      }
      refed = undefined;
    }
    return { reusedTokens: keep, prefillTokens: target.length - keep, prefillMs: performance.now() - started };
  }

  /** Feeds one generated token (no surprisal is computed for it). */
  async step(id: TokenId): Promise<void> {
    await this.feed([id], false);
  }

  /** Whether verify() can check proposed tokens (the decoder gives every fed position's logits). */
  get verifies(): boolean {
    return this.decoder.givesRowLogits;
  }

  /**
   * Feeds generated tokens in one run (a chosen token and the tokens proposed after it) and returns the next-token
   * logits after each: rows[j] follows ids[0..j]. keep() then forgets the ones not accepted.
   */
  async verify(ids: readonly TokenId[]): Promise<Float32Array[]> {
    const out = await this.feed(ids, false, undefined, 0);
    const width = out.logitsWidth;
    if (!out.rowLogits || !width) throw new EngineError('internal', 'the decoder gave no logits per position');
    return ids.map((_, j) => out.rowLogits!.subarray(j * width, (j + 1) * width));
  }

  /**
   * Keeps the cached tokens up to `length` (a rollback after verify(): setting a length, the buffers are not
   * copied), with `next` the logits after the last one kept (one of verify()'s rows).
   */
  keep(length: number, next: Float32Array): void {
    if (length > this.cachedIds.length) throw new EngineError('internal', `cannot keep ${length} of ${this.cachedIds.length} cached tokens`);
    this.truncate(length);
    this.next = next;
  }

  /** Forgets everything (after an error, or for a fresh start). */
  reset(): void {
    this.truncate(0);
  }

  private truncate(length: number): void {
    if (length === this.cachedIds.length) return;
    this.decoder.truncate(length);
    this.cachedIds.length = length;
    this.surprisals.length = length;
    this.alternatives.length = length;
    this.next = undefined;
  }

  /** `rankFrom`: the first of `ids` whose alternatives are kept (undefined: none); `logitsFrom`: see Decoder. */
  private async feed(ids: readonly TokenId[], score: boolean, rankFrom?: number, logitsFrom?: number): Promise<DecoderOutput> {
    const ranks = rankFrom !== undefined && rankFrom < ids.length && this.decoder.ranksAlternatives;
    let out;
    try {
      out = await this.decoder.feed(ids, score, ranks ? Math.max(1, rankFrom) : undefined, logitsFrom);
    } catch (err) {
      this.reset();
      throw err;
    }
    this.surprisals.push(score && this.next ? surprisalOf(this.next, ids[0]) : NaN);
    for (let j = 1; j < ids.length; j++) this.surprisals.push(score ? out.innerSurprisals[j - 1] : NaN);
    // The first token's candidates come from the logits the last feed left; the others' from this one's rows.
    this.alternatives.push(ranks && rankFrom === 0 && this.next ? topAlternatives(this.next) : undefined);
    const inner = out.innerAlternatives ?? [];
    const firstInner = ids.length - inner.length;
    for (let j = 1; j < ids.length; j++) this.alternatives.push(j >= firstInner ? inner[j - firstInner] : undefined);
    this.cachedIds.push(...ids);
    this.next = out.logits;
    return out;
  }
}
