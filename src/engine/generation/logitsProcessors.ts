// Logits processors: each turns one row of next-token logits into another, in the order of Hugging Face's
// warpers (vocabulary mask, temperature, top-p). A row's index is the token id.
import { TOKENIZER_VOCAB_SIZE } from '../tokenizer';

/**
 * One transformation of a row of logits. It returns the input itself, a prefix view of it, or a buffer it owns
 * (valid until its next call); it never writes its input, which may be the row the KV cache keeps.
 */
export interface LogitsProcessor {
  process(logits: Float32Array): Float32Array;
}

/** Applies processors in order. */
export class LogitsProcessorList implements LogitsProcessor {
  constructor(readonly processors: readonly LogitsProcessor[]) {}

  process(logits: Float32Array): Float32Array {
    let row = logits;
    for (const p of this.processors) row = p.process(row);
    return row;
  }
}

/**
 * Ids >= size are never chosen: the published ONNX files have 51200 outputs, the tokenizer only 50295. The row
 * is cut to a view of its first `size` entries (no copy); a row that is not wider is returned as is.
 */
export class VocabularyMask implements LogitsProcessor {
  constructor(readonly size: number = TOKENIZER_VOCAB_SIZE) {}

  process(logits: Float32Array): Float32Array {
    return logits.length > this.size ? logits.subarray(0, this.size) : logits;
  }
}

/** Divides by the temperature (after subtracting the max, which softmax ignores, so exp() cannot overflow). */
export class Temperature implements LogitsProcessor {
  private out = new Float32Array(0);

  constructor(readonly temperature: number) {
    if (!(temperature > 0) || !Number.isFinite(temperature)) throw new RangeError(`temperature must be > 0, got ${temperature}`);
  }

  process(logits: Float32Array): Float32Array {
    const n = logits.length;
    let max = -Infinity;
    for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
    if (max === -Infinity) return logits;
    if (this.out.length < n) this.out = new Float32Array(n);
    const out = this.out;
    const invT = 1 / this.temperature;
    for (let i = 0; i < n; i++) out[i] = (logits[i] - max) * invT;
    return out.subarray(0, n);
  }
}

// Buckets by the bits of a non-negative float32 below the sign (8 exponent and 3 mantissa bits): monotone in
// the value, each spanning a factor of at most 9/8, and computed without a log.
const BUCKET_SHIFT = 20;
const BUCKETS = 1 << 11;
const bucketOf = (bits: number): number => (bits >>> BUCKET_SHIFT) & (BUCKETS - 1);
/** Ids below this sort as one float64 key each, (value bits, -id): a plain numeric sort, no comparator. */
const ID_SPACE = 2 ** 17;

/**
 * The nucleus of a row of (unnormalised, non-negative) probabilities: with `mass` their sum in id order, the
 * shortest prefix of the ids sorted by probability (descending, ties by lower id first) whose running sum, taken
 * in that order, reaches topP * mass; all ids if none does. Exactly the set a full sort gives, but one pass
 * buckets the ids by magnitude and sums each bucket's mass, and only the ids of the buckets needed are sorted.
 */
export class NucleusFinder {
  private readonly masses = new Float64Array(BUCKETS);
  private candidates = new Int32Array(0);
  private keys = new Float64Array(0);

  /** The kept ids, most probable first; a view of a buffer reused by the next call. */
  find(probs: Float32Array, topP: number): Int32Array {
    const n = probs.length;
    const bits = new Int32Array(probs.buffer, probs.byteOffset, n);
    const masses = this.masses;
    masses.fill(0);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      masses[bucketOf(bits[i])] += probs[i];
      sum += probs[i];
    }
    const target = topP * sum;
    // The highest bucket at which the mass from the top reaches the target.
    let boundary = BUCKETS - 1;
    for (let acc = 0; boundary > 0; boundary--) {
      acc += masses[boundary];
      if (acc >= target) break;
    }
    if (this.candidates.length < n) this.candidates = new Int32Array(n);
    for (;;) {
      const sorted = this.sortedFrom(boundary, probs, bits);
      let acc = 0;
      for (let k = 0; k < sorted.length; k++) {
        acc += probs[sorted[k]];
        if (acc >= target) return sorted.subarray(0, k + 1);
      }
      if (boundary === 0) return sorted;
      // Summed in sorted order, the mass fell short of the buckets' by rounding (rare): sort everything once.
      boundary = 0;
    }
  }

  /** The ids in bucket `boundary` or above (everything below is less probable than all of them), sorted. */
  private sortedFrom(boundary: number, probs: Float32Array, bits: Int32Array): Int32Array {
    const n = probs.length;
    const ids = this.candidates;
    let count = 0;
    if (n > ID_SPACE) {
      for (let i = 0; i < n; i++) if (bucketOf(bits[i]) >= boundary) ids[count++] = i;
      return ids.subarray(0, count).sort((a, b) => probs[b] - probs[a] || a - b);
    }
    if (this.keys.length < n) this.keys = new Float64Array(n);
    const keys = this.keys;
    // Equal non-negative float32s have equal bits (-0 aside, hence the mask), and larger ones larger bits.
    for (let i = 0; i < n; i++) if (bucketOf(bits[i]) >= boundary) keys[count++] = (bits[i] & 0x7fffffff) * ID_SPACE + (ID_SPACE - 1 - i);
    const sorted = keys.subarray(0, count).sort();
    for (let k = 0; k < count; k++) ids[k] = ID_SPACE - 1 - (sorted[count - 1 - k] % ID_SPACE);
    return ids.subarray(0, count);
  }
}

/** Keeps the nucleus (top-p) of the softmax of the row; every other id gets -Infinity. */
export class TopP implements LogitsProcessor {
  private probs = new Float32Array(0);
  private out = new Float32Array(0);
  private readonly finder = new NucleusFinder();

  constructor(readonly topP: number) {
    if (!(topP > 0 && topP <= 1)) throw new RangeError(`top-p must be in (0, 1], got ${topP}`);
  }

  process(logits: Float32Array): Float32Array {
    const n = logits.length;
    let max = -Infinity;
    for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
    if (max === -Infinity) return logits;
    if (this.probs.length < n) {
      this.probs = new Float32Array(n);
      this.out = new Float32Array(n);
    }
    const probs = this.probs.subarray(0, n);
    for (let i = 0; i < n; i++) probs[i] = Math.exp(logits[i] - max);
    const kept = this.finder.find(probs, this.topP);
    const out = this.out.subarray(0, n);
    out.fill(-Infinity);
    for (const id of kept) out[id] = logits[id];
    return out;
  }
}

/** The processors a generation config asks for: only the mask when greedy (the others keep the argmax). */
export function createLogitsProcessors(options: { readonly temperature: number; readonly topP: number }): LogitsProcessorList {
  const list: LogitsProcessor[] = [new VocabularyMask()];
  if (options.temperature > 0) {
    if (options.temperature !== 1) list.push(new Temperature(options.temperature));
    if (options.topP < 1) list.push(new TopP(options.topP));
  }
  return new LogitsProcessorList(list);
}
