// Speculative decoding's guessers and bookkeeping: a proposer guesses the tokens that follow, the target model
// checks them all in one run (generate.ts), and the number guessed adapts to how many were accepted lately.
// Decoding one token reads every weight once; checking k guessed tokens in one run reads them once too, so each
// accepted guess is a token past the memory-bandwidth floor of plain decoding.
import type { TokenId } from '../../protocol/engine';

/** Guesses up to `k` tokens that follow `tokens` (the context and what was generated so far). */
export interface Proposer {
  readonly name: string;
  propose(tokens: readonly TokenId[], k: number, signal?: AbortSignal): TokenId[] | Promise<TokenId[]>;
}

/**
 * Prompt lookup: the longest recent n-gram of the context (`maxNgram` down to `minNgram` tokens) that ends the
 * tokens and occurred before; what followed its latest earlier occurrence is the guess. No model at all: code
 * repeats its names, calls and the shape of the turn before.
 */
export class PromptLookup implements Proposer {
  readonly name = 'lookup';

  constructor(
    readonly maxNgram = 3,
    readonly minNgram = 1,
  ) {}

  propose(tokens: readonly TokenId[], k: number): TokenId[] {
    const n = tokens.length;
    if (k <= 0) return [];
    for (let size = Math.min(this.maxNgram, n - 1); size >= this.minNgram; size--) {
      // The latest earlier occurrence of tokens[n - size, n) that has something after it.
      for (let start = n - size - 1; start >= 0; start--) {
        let j = 0;
        while (j < size && tokens[start + j] === tokens[n - size + j]) j++;
        if (j < size) continue;
        const from = start + size;
        return tokens.slice(from, Math.min(n, from + k));
      }
    }
    return [];
  }
}

/**
 * The first guess of several proposers: prompt lookup where the text repeats itself (free), the draft model
 * elsewhere.
 */
export class FirstGuess implements Proposer {
  readonly name: string;

  constructor(private readonly proposers: readonly Proposer[]) {
    this.name = proposers.map((p) => p.name).join('+');
  }

  async propose(tokens: readonly TokenId[], k: number): Promise<TokenId[]> {
    for (const proposer of this.proposers) {
      const guess = await proposer.propose(tokens, k);
      if (guess.length > 0) return guess;
    }
    return [];
  }
}

/**
 * How many tokens to guess: grows by 2 after a guess accepted whole, shrinks by 1 after one that was not (the rule
 * of Hugging Face's assisted generation), within [1, max]. A single guessed token rejected outright pauses the
 * guessing for 4 steps, then 8, ... up to 64 while it keeps failing (an accepted guess ends the pauses): a check
 * costs more than a step, so text the proposer cannot follow is decoded plainly. It depends only on the tokens,
 * so a seed still reproduces a sample.
 */
export class AdaptiveLength {
  private current: number;
  private pause = 0;
  private idle = 0;

  constructor(
    readonly max = 8,
    start = 4,
  ) {
    this.current = Math.max(1, Math.min(max, start));
  }

  get k(): number {
    return this.current;
  }

  /** Whether to guess at this step; false while a pause lasts (each call counts one step of it). */
  shouldGuess(): boolean {
    if (this.idle === 0) return true;
    this.idle--;
    return false;
  }

  update(accepted: number, proposed: number): void {
    if (accepted > 0) this.pause = 0;
    else if (this.current === 1) {
      this.pause = this.pause === 0 ? 4 : Math.min(64, 2 * this.pause);
      this.idle = this.pause;
    }
    this.current = accepted === proposed ? Math.min(this.max, this.current + 2) : Math.max(1, this.current - 1);
  }
}

/** What speculation did in one generation. */
export interface SpeculationStats {
  /** Verify runs (each checks one chosen token and the guesses after it). */
  verifies: number;
  proposed: number;
  accepted: number;
}

/** A generation's speculation: the proposer, the adaptive length, and its counters. */
export interface Speculation {
  readonly proposer: Proposer;
  readonly length: AdaptiveLength;
  readonly stats: SpeculationStats;
}

export function createSpeculation(proposer: Proposer, maxLength = 8): Speculation {
  return { proposer, length: new AdaptiveLength(maxLength), stats: { verifies: 0, proposed: 0, accepted: 0 } };
}
