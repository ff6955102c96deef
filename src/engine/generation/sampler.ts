// Next-token selection: ids the tokenizer cannot produce are suppressed, then greedy (temperature 0) or
// temperature + nucleus (top-p) sampling, in that order as in Hugging Face's warpers, with a seedable RNG.
import type { TokenId } from '../../protocol/engine';
import { TOKENIZER_VOCAB_SIZE } from '../tokenizer';

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

export interface SamplerOptions {
  readonly temperature: number;
  readonly topP: number;
}

/**
 * Picks the next token from one row of logits (length >= 50295; entries beyond the tokenizer's vocabulary are
 * never chosen). The row is read, never written.
 */
export class TokenSampler {
  private readonly probs = new Float32Array(TOKENIZER_VOCAB_SIZE);

  constructor(
    private readonly options: SamplerOptions,
    private readonly random: SeededRandom,
  ) {}

  select(logits: Float32Array): TokenId {
    const n = TOKENIZER_VOCAB_SIZE; // suppress ids >= 50295: the model has 51200 outputs, the tokenizer fewer
    let best = 0;
    for (let i = 1; i < n; i++) if (logits[i] > logits[best]) best = i;
    if (this.options.temperature === 0) return best;

    const invT = 1 / this.options.temperature;
    const max = logits[best];
    const probs = this.probs;
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const p = Math.exp((logits[i] - max) * invT);
      probs[i] = p;
      sum += p;
    }
    if (this.options.topP >= 1) return this.drawFromAll(sum);
    const nucleus = this.nucleus(sum);
    let mass = 0;
    for (const i of nucleus) mass += probs[i];
    let r = this.random.next() * mass;
    for (const i of nucleus) {
      r -= probs[i];
      if (r < 0) return i;
    }
    return nucleus[nucleus.length - 1];
  }

  private drawFromAll(sum: number): TokenId {
    let r = this.random.next() * sum;
    for (let i = 0; i < this.probs.length; i++) {
      r -= this.probs[i];
      if (r < 0) return i;
    }
    return this.probs.length - 1;
  }

  /**
   * The smallest set of most probable ids whose mass reaches topP, most probable first. Instead of sorting all
   * 50k entries, only ids above a threshold are sorted; the threshold is lowered until they hold enough mass,
   * which gives exactly the same set (everything below the threshold is less probable than all above it).
   */
  private nucleus(sum: number): number[] {
    const probs = this.probs;
    const target = this.options.topP * sum;
    for (let threshold = 1e-3 * sum; ; threshold /= 16) {
      const candidates: number[] = [];
      let mass = 0;
      for (let i = 0; i < probs.length; i++) {
        if (probs[i] >= threshold) {
          candidates.push(i);
          mass += probs[i];
        }
      }
      if (mass >= target || threshold === 0 || candidates.length === probs.length) {
        candidates.sort((a, b) => probs[b] - probs[a] || a - b);
        const kept: number[] = [];
        let acc = 0;
        for (const i of candidates) {
          kept.push(i);
          acc += probs[i];
          if (acc >= target) break;
        }
        return kept;
      }
      if (threshold < Number.MIN_VALUE * 16) threshold = 0;
    }
  }
}

/** ln(sum(exp(row))) over a whole row, stably. */
export function logSumExp(row: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  return max + Math.log(sum);
}
