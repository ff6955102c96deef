// Stop sequences as OpenAI and vLLM apply them: the completion ends just before the first occurrence of any of
// them. The engine generates with stop 'none' and knows nothing of them; this scanner sees every delta, says when a
// sequence has appeared (the caller then aborts the generation) and releases only text that can no longer turn out
// to be part of a stop sequence: while streaming, the tail that could still be the start of one is held back, so
// no character past a stop is ever sent.

export class StopSequenceScanner {
  /** The completion so far; once a stop sequence has appeared, the text before it (and nothing is added after). */
  private completion = '';
  /** How many characters of `completion` have been released. */
  private released = 0;
  private found: string | undefined;
  private readonly longest: number;

  constructor(private readonly stops: readonly string[]) {
    this.longest = stops.reduce((max, s) => Math.max(max, s.length), 0);
  }

  /** The stop sequence that ended the completion, once one has appeared. */
  get stoppedBy(): string | undefined {
    return this.found;
  }

  get text(): string {
    return this.completion;
  }

  /** Adds generated text; returns the part of the completion that is now safe to send (maybe ''). */
  push(delta: string): string {
    if (this.found !== undefined || delta === '') return '';
    // An occurrence that starts earlier would have lain entirely in the old text, where it was looked for already.
    const searchFrom = Math.max(0, this.completion.length - this.longest + 1);
    this.completion += delta;
    const hit = this.firstOccurrence(searchFrom);
    if (hit) {
      this.completion = this.completion.slice(0, hit.index);
      this.found = hit.stop;
      return this.release(this.completion.length);
    }
    return this.release(this.completion.length - this.heldTailLength());
  }

  /** No more text comes: everything not yet released is safe. */
  finish(): string {
    return this.release(this.completion.length);
  }

  private release(upTo: number): string {
    if (upTo <= this.released) return '';
    const piece = this.completion.slice(this.released, upTo);
    this.released = upTo;
    return piece;
  }

  /** The earliest occurrence of a stop sequence at or after `from` (the first listed wins a tie). */
  private firstOccurrence(from: number): { index: number; stop: string } | undefined {
    let best: { index: number; stop: string } | undefined;
    for (const stop of this.stops) {
      const index = this.completion.indexOf(stop, from);
      if (index >= 0 && (!best || index < best.index)) best = { index, stop };
    }
    return best;
  }

  /** The longest end of the completion that is a proper beginning of some stop sequence. */
  private heldTailLength(): number {
    const text = this.completion;
    for (let length = Math.min(this.longest - 1, text.length); length > 0; length--) {
      const tail = text.slice(text.length - length);
      if (this.stops.some((stop) => stop.length > length && stop.startsWith(tail))) return length;
    }
    return 0;
  }
}
