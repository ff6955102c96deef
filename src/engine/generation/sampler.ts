// Token selection from a processed row of logits (see logitsProcessors.ts): greedy when the temperature is 0,
// otherwise one draw from the row's softmax with a seedable RNG, so that a seed reproduces a sample.
import type { TokenId } from '../../protocol/engine';

/** mulberry32: a small, fast, seedable PRNG; the same seed gives the same stream everywhere. */
export class SeededRandom {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** Picks one token id (an index of the row) from a processed row of logits; the row is read, never written. */
export interface Sampler {
  select(logits: Float32Array): TokenId;
  /**
   * The token at a position where `proposed` was guessed (speculative decoding): `proposed` itself if accepted,
   * else the token chosen instead, so that the token is distributed exactly as select()'s.
   */
  verify(logits: Float32Array, proposed: TokenId): TokenId;
}

/** The argmax; the lowest id among equal maxima. */
export class GreedySampler implements Sampler {
  select(logits: Float32Array): TokenId {
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }

  /** The argmax, whatever was proposed. */
  verify(logits: Float32Array): TokenId {
    return this.select(logits);
  }
}

/** One draw from softmax(row), walking the ids in order; -Infinity entries have probability 0. */
export class MultinomialSampler implements Sampler {
  private probs = new Float32Array(0);

  constructor(private readonly random: SeededRandom) {}

  select(logits: Float32Array): TokenId {
    const n = logits.length;
    let max = -Infinity;
    for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
    if (max === -Infinity) return 0; // nothing can be drawn; processors never leave a row like this
    if (this.probs.length < n) this.probs = new Float32Array(n);
    const probs = this.probs;
    let sum = 0;
    let last = 0;
    for (let i = 0; i < n; i++) {
      const p = (probs[i] = Math.exp(logits[i] - max));
      if (p > 0) last = i;
      sum += p;
    }
    return this.draw(sum, last, -1);
  }

  /**
   * Speculative sampling with a proposal that is one token (prompt lookup, a greedy draft): `proposed` is kept
   * with probability p(proposed); otherwise one draw from p without it, renormalised. Then P(proposed) =
   * p(proposed) and P(x) = (1 - p(proposed)) p(x) / (1 - p(proposed)) = p(x) for every other x: select()'s law.
   */
  verify(logits: Float32Array, proposed: TokenId): TokenId {
    const n = logits.length;
    let max = -Infinity;
    for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
    if (max === -Infinity) return 0;
    if (this.probs.length < n) this.probs = new Float32Array(n);
    const probs = this.probs;
    let sum = 0;
    let last = -1;
    for (let i = 0; i < n; i++) {
      const p = (probs[i] = Math.exp(logits[i] - max));
      if (p > 0 && i !== proposed) last = i;
      sum += p;
    }
    const pProposed = proposed >= 0 && proposed < n ? probs[proposed] : 0;
    if (this.random.next() * sum < pProposed || last === -1) return proposed;
    return this.draw(sum - pProposed, last, proposed);
  }

  /** One draw from the probs (their sum `sum`), skipping `skip`; `last`: the last id that can be drawn. */
  private draw(sum: number, last: TokenId, skip: TokenId): TokenId {
    const probs = this.probs;
    let r = this.random.next() * sum;
    for (let i = 0; i <= last; i++) {
      if (i === skip) continue;
      r -= probs[i];
      if (r < 0) return i;
    }
    return last; // r * sum rounded up to the whole mass: the last id that can be drawn
  }
}

/** Greedy when the temperature is 0, else multinomial with the given RNG. */
export function createSampler(options: { readonly temperature: number }, random: SeededRandom): Sampler {
  return options.temperature === 0 ? new GreedySampler() : new MultinomialSampler(random);
}
