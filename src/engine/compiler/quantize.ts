// Weight encodings of the compiled graph: block-wise 4- and 8-bit quantization in the layout of onnxruntime's
// com.microsoft MatMulNBits, and IEEE half precision.

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
 * `weight` is the MatMul's B, [K, N] row-major (in x out).
 */
export function quantizeBlockwise(weight: Float32Array, K: number, N: number, bits: 4 | 8, blockSize: number): BlockQuantized {
  const blocks = Math.ceil(K / blockSize);
  const blobBytes = (blockSize * bits) / 8;
  const levels = (1 << bits) - 1;
  const packed = new Uint8Array(N * blocks * blobBytes);
  const scales = new Float32Array(N * blocks);
  const zpBytesPerColumn = Math.ceil((blocks * bits) / 8);
  const zeroPoints = new Uint8Array(N * zpBytesPerColumn);
  const column = new Float32Array(K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) column[k] = weight[k * N + n];
    for (let b = 0; b < blocks; b++) {
      const from = b * blockSize;
      const to = Math.min(K, from + blockSize);
      let min = 0;
      let max = 0;
      for (let k = from; k < to; k++) {
        const v = column[k];
        if (v < min) min = v;
        if (v > max) max = v;
      }
      const scale = max > min ? (max - min) / levels : 1;
      const zp = Math.min(levels, Math.max(0, Math.round(-min / scale)));
      scales[n * blocks + b] = scale;
      if (bits === 4) zeroPoints[n * zpBytesPerColumn + (b >> 1)] |= zp << ((b & 1) * 4);
      else zeroPoints[n * zpBytesPerColumn + b] = zp;
      const base = (n * blocks + b) * blobBytes;
      for (let k = from; k < to; k++) {
        const q = Math.min(levels, Math.max(0, Math.round(column[k] / scale) + zp));
        const i = k - from;
        if (bits === 4) packed[base + (i >> 1)] |= q << ((i & 1) * 4);
        else packed[base + i] = q;
      }
      // A padded tail of the last block holds the zero point, so it dequantizes to 0.
      for (let i = to - from; i < blockSize; i++) {
        if (bits === 4) packed[base + (i >> 1)] |= zp << ((i & 1) * 4);
        else packed[base + i] = zp;
      }
    }
  }
  return { packed, scales, zeroPoints, blocks };
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
