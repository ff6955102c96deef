// Weight layouts for the graph builder. A Linear weight comes either as MatMul's right operand, [in, out], or as one
// row per output, [out, in] (PyTorch's layout, and what block quantization reads, since its blocks run along the
// input dimension). Converting between them is a tiled transpose; every rearrangement the graph needs (CodeGen's qkv
// quarters, padded heads, the tokenizer's rows of lm_head) exists for both layouts, so no weight is transposed twice.

/** CodeGen's fixed model-parallel split of the qkv projection. */
const MP_NUM = 4;

/** [rows, cols] -> [cols, rows], in tiles so that both sides stay in cache (16B's weights are 150M values). */
export function transposeBlocked(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const T = 32;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = Math.min(rows, r0 + T);
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = Math.min(cols, c0 + T);
      for (let r = r0; r < r1; r++) {
        const from = r * cols;
        for (let c = c0; c < c1; c++) out[c * rows + r] = data[from + c];
      }
    }
  }
  return out;
}

/**
 * Where output column c of CodeGen's qkv_proj goes: its [3E] outputs are four quarters, each q | v | k of n_head/4
 * heads; the graph wants q | k | v, heads in order, each head padded from D to Dp.
 */
function qkvTarget(c: number, E: number, H: number, D: number, Dp: number): number {
  const quarter = (3 * E) / MP_NUM;
  const local = E / MP_NUM;
  const partOf = [0, 2, 1]; // within a quarter: q, v, k -> target blocks q = 0, k = 1, v = 2
  const j = Math.floor(c / quarter);
  const within = c % quarter;
  const part = partOf[Math.floor(within / local)];
  const r = within % local;
  const head = j * (H / MP_NUM) + Math.floor(r / D);
  return part * H * Dp + head * Dp + (r % D);
}

/** qkv_proj as [in, out] = [E, 3E] -> [E, 3 * H * Dp], laid out q | k | v. */
export function packQkv(w: Float32Array, E: number, H: number, D: number, Dp: number): Float32Array {
  const width = 3 * H * Dp;
  const out = new Float32Array(E * width);
  for (let c = 0; c < 3 * E; c++) {
    const target = qkvTarget(c, E, H, D, Dp);
    for (let e = 0; e < E; e++) out[e * width + target] = w[e * 3 * E + c];
  }
  return out;
}

/** qkv_proj as rows, [3E, E] -> [3 * H * Dp, E] (the padded heads' rows are zero). */
export function packQkvRows(rows: Float32Array, E: number, H: number, D: number, Dp: number): Float32Array {
  const out = new Float32Array(3 * H * Dp * E);
  for (let c = 0; c < 3 * E; c++) out.set(rows.subarray(c * E, (c + 1) * E), qkvTarget(c, E, H, D, Dp) * E);
  return out;
}

/** out_proj as [in, out] = [H * D, E] with zero rows for the padded head dimensions: [H * Dp, E]. */
export function padHeadRows(w: Float32Array, H: number, D: number, Dp: number, E: number): Float32Array {
  if (D === Dp) return w;
  const out = new Float32Array(H * Dp * E);
  for (let hd = 0; hd < H; hd++) for (let d = 0; d < D; d++) out.set(w.subarray((hd * D + d) * E, (hd * D + d + 1) * E), (hd * Dp + d) * E);
  return out;
}

/** out_proj as rows, [E, H * D] -> [E, H * Dp], each row's heads padded with zeros. */
export function padHeadInputs(rows: Float32Array, H: number, D: number, Dp: number, E: number): Float32Array {
  if (D === Dp) return rows;
  const out = new Float32Array(E * H * Dp);
  for (let n = 0; n < E; n++) for (let hd = 0; hd < H; hd++) out.set(rows.subarray(n * H * D + hd * D, n * H * D + (hd + 1) * D), n * H * Dp + hd * Dp);
  return out;
}

/** The first `keep` columns of a [rows, cols] matrix. */
export function sliceColumns(w: Float32Array, rows: number, cols: number, keep: number): Float32Array {
  if (keep === cols) return w;
  const out = new Float32Array(rows * keep);
  for (let r = 0; r < rows; r++) out.set(w.subarray(r * cols, r * cols + keep), r * keep);
  return out;
}
