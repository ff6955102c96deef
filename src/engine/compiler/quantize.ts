// Weight encodings of the compiled graph: block-wise 4- and 8-bit quantization in the layout of onnxruntime's
// com.microsoft MatMulNBits, and IEEE half precision.
import { transposeBlocked } from './layout';

export interface BlockQuantized {
  /** [N, blocks, blockSize * bits / 8]: for each output column, its K weights, block by block. */
  readonly packed: Uint8Array;
  /** [N, blocks]. */
  readonly scales: Float32Array;
  /** [N, ceil(blocks * bits / 8)]: one zero point per block, two to a byte (low nibble first) at 4 bits. */
  readonly zeroPoints: Uint8Array;
  readonly blocks: number;
}

/**
 * Asymmetric min/max quantization per block of `blockSize` consecutive K entries of one output column: each
 * block gets a scale and a zero point so that its range maps onto 0 .. 2^bits - 1 and 0 stays exact.
 * `rows` holds one row per output column, [N, K] row-major (out x in, PyTorch's layout for a Linear weight).
 */
export function quantizeRows(rows: Float32Array, N: number, K: number, bits: 4 | 8, blockSize: number): BlockQuantized {
  const blocks = Math.ceil(K / blockSize);
  const blobBytes = (blockSize * bits) / 8;
  const levels = (1 << bits) - 1;
  const packed = new Uint8Array(N * blocks * blobBytes);
  const scales = new Float32Array(N * blocks);
  const zpBytesPerColumn = Math.ceil((blocks * bits) / 8);
  const zeroPoints = new Uint8Array(N * zpBytesPerColumn);
  // One block's codes before packing; the padded tail of the last block holds the zero point (dequantizes to 0).
  const codes = new Uint8Array(blockSize);
  for (let n = 0; n < N; n++) {
    const row = n * K;
    for (let b = 0; b < blocks; b++) {
      const from = row + b * blockSize;
      const to = Math.min(row + K, from + blockSize);
      let min = 0;
      let max = 0;
      for (let k = from; k < to; k++) {
        const v = rows[k];
        min = v < min ? v : min;
        max = v > max ? v : max;
      }
      const scale = max > min ? (max - min) / levels : 1;
      let zp = Math.round(-min / scale);
      zp = zp < 0 ? 0 : zp > levels ? levels : zp;
      scales[n * blocks + b] = scale;
      for (let k = from; k < to; k++) {
        const q = Math.round(rows[k] / scale) + zp;
        codes[k - from] = q < 0 ? 0 : q > levels ? levels : q;
      }
      codes.fill(zp, to - from);
      const base = (n * blocks + b) * blobBytes;
      if (bits === 4) {
        zeroPoints[n * zpBytesPerColumn + (b >> 1)] |= zp << ((b & 1) * 4);
        for (let i = 0; i < blobBytes; i++) packed[base + i] = codes[2 * i] | (codes[2 * i + 1] << 4);
      } else {
        zeroPoints[n * zpBytesPerColumn + b] = zp;
        packed.set(codes, base);
      }
    }
  }
  return { packed, scales, zeroPoints, blocks };
}

/**
 * Symmetric int8 per row: row r's codes times scales[r] give it back, within half of scales[r] = max |row| / 127.
 * `rows` is [N, K] row-major; an all-zero row gets scale 1 (codes 0).
 */
export function quantizeRowsSymmetric(rows: Float32Array, N: number, K: number): { codes: Int8Array; scales: Float32Array } {
  const codes = new Int8Array(N * K);
  const scales = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    let max = 0;
    for (let k = n * K; k < (n + 1) * K; k++) max = Math.max(max, Math.abs(rows[k]));
    const scale = max > 0 ? max / 127 : 1;
    scales[n] = scale;
    for (let k = n * K; k < (n + 1) * K; k++) codes[k] = Math.round(rows[k] / scale);
  }
  return { codes, scales };
}

/** quantizeRows of a weight given as MatMul's B, [K, N] row-major (in x out). */
export function quantizeBlockwise(weight: Float32Array, K: number, N: number, bits: 4 | 8, blockSize: number): BlockQuantized {
  return quantizeRows(transposeBlocked(weight, K, N), N, K, bits, blockSize);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Round-to-nearest-even single to half precision. */
export function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function toHalf(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = floatToHalf(values[i]);
  return out;
}

const HALF_TABLE = buildHalfTable();

function buildHalfTable(): Float32Array {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) table[h] = sign * frac * 2 ** -24;
    else if (exp === 31) table[h] = frac ? NaN : sign * Infinity;
    else table[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return table;
}

/** IEEE 754 half to single precision (a table of all 65,536 halves: checkpoints hold billions of them). */
export function halfToFloat(halves: Uint16Array): Float32Array {
  const out = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) out[i] = HALF_TABLE[halves[i]];
  return out;
}
