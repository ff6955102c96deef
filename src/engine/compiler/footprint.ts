// What a compiled CodeGen costs, from its shape alone: the bytes of its graph's weights on disk (exactly what
// graphBuilder.ts writes), the memory it needs while running, and the bytes each decoded token reads (what bounds
// decoding speed: every step reads every linear weight once). The download catalog shows these before anything
// is downloaded, so they follow graphBuilder's tensors one by one; test/engine/footprint.test.ts checks the disk
// figure against real compiled files.
import type { CodeGenConfig } from '../modelFolder';
import { PREFILL_CHUNK } from '../contextCache';
import { BLOCK_SIZE, graphShape, type EmbeddingPrecision, type Precision } from './graphBuilder';

/** The four matrix products of a block and the lm_head, as [K, N] (in x out) of the compiled graph. */
function linearShapes(config: CodeGenConfig): [number, number][] {
  const E = config.nEmbd;
  const { cacheHeadDim: Dp, logitsWidth: Vt } = graphShape(config);
  const H = config.nHead;
  const I = config.nInner;
  const block: [number, number][] = [
    [E, 3 * H * Dp], // qkv, heads padded to Dp
    [H * Dp, E], // out_proj
    [E, I], // fc_in
    [I, E], // fc_out
  ];
  return [...Array.from({ length: config.nLayer }, () => block).flat(), [E, Vt]];
}

/** Bytes of one Linear weight in the graph file: the matrix, or MatMulNBits' packed blocks, scales and zero points. */
function linearFileBytes(K: number, N: number, precision: Precision): number {
  if (precision === 'fp32') return K * N * 4;
  if (precision === 'fp16') return K * N * 2;
  const bits = precision === 'int8' ? 8 : 4;
  const blocks = Math.ceil(K / BLOCK_SIZE);
  const packed = N * blocks * ((BLOCK_SIZE * bits) / 8);
  const scales = N * blocks * 4;
  const zeroPoints = N * Math.ceil((blocks * bits) / 8);
  return packed + scales + zeroPoints;
}

function linearBytes(config: CodeGenConfig, precision: Precision): number {
  return linearShapes(config).reduce((n, [K, N]) => n + linearFileBytes(K, N, precision), 0);
}

/** The embedding table over the tokenizer's rows: fp32 beside fp32 weights, else fp16, or int8 and a scale a row. */
function embeddingBytes(config: CodeGenConfig, precision: Precision, embedding: EmbeddingPrecision): number {
  const rows = graphShape(config).logitsWidth;
  if (precision === 'fp32') return rows * config.nEmbd * 4;
  return embedding === 'int8' ? rows * (config.nEmbd + 4) : rows * config.nEmbd * 2;
}

/** The fp32 vectors: layer norms, fc_in/fc_out and lm_head biases. */
function vectorBytes(config: CodeGenConfig): number {
  const E = config.nEmbd;
  const layerNorms = (config.nLayer + 1) * 2 * E; // ln_1 of each block (the last block's next is ln_f)
  const biases = config.nLayer * (config.nInner + E) + graphShape(config).logitsWidth;
  return (layerNorms + biases) * 4;
}

/** The rotary cos and sin tables, [n_positions, Rp / 2] each, and the graph's scalar and shape constants. */
function tableBytes(config: CodeGenConfig): number {
  const rotary = 2 * config.nPositions * (graphShape(config).rotaryDim / 2) * 4;
  // int64 [1]: axis_1..3, zero, one, int_max, minus_1, the two shape indices, heads, head_dim, width,
  // alternatives_k; int64 scalars: scalar_zero, scalar_one; int64 [2]: logits_shape; float scalars: query_scale,
  // minus_inf, float_zero.
  const constants = (13 + 2 + 2) * 8 + 3 * 4;
  return rotary + constants;
}

/** Bytes of every weight of the compiled graph (the .onnx file and its .data together, less the graph's structure). */
export function compiledWeightBytes(config: CodeGenConfig, precision: Precision, embedding: EmbeddingPrecision = 'fp16'): number {
  return embeddingBytes(config, precision, embedding) + linearBytes(config, precision) + vectorBytes(config) + tableBytes(config);
}

/** The KV buffers for `tokens` positions: keys and values per layer, [H, Dp] per position, fp32. */
export function kvCacheBytes(config: CodeGenConfig, tokens: number): number {
  return 2 * config.nLayer * config.nHead * graphShape(config).cacheHeadDim * tokens * 4;
}

/** Linear parameters of the graph (padded heads and the tokenizer's rows of lm_head included). */
function linearParameters(config: CodeGenConfig): number {
  return linearShapes(config).reduce((n, [K, N]) => n + K * N, 0);
}

/**
 * Weights as onnxruntime holds them once loaded: fp16 Linear weights are widened to fp32 at load (4 bytes each);
 * MatMulNBits' prepacked copy adds two fp32 numbers per block (its scale and the block's sum, for the integer
 * products) while the file's scales stay: measured at 2B and 6B int4, 0.69 and 1.57 GiB over the file, where
 * this gives 0.61 and 1.62.
 */
function residentWeightBytes(config: CodeGenConfig, precision: Precision): number {
  const linear = precision === 'fp16' ? linearBytes(config, 'fp32') : linearBytes(config, precision);
  const prepacked = precision === 'int8' || precision === 'int4' ? (linearParameters(config) / BLOCK_SIZE) * 8 : 0;
  return embeddingBytes(config, precision, 'fp16') + linear + prepacked + vectorBytes(config) + tableBytes(config);
}

/**
 * What running adds to the weights and the KV cache: Node, the tokenizer and onnxruntime itself, and the arena's
 * peak, which a prefill chunk's logits set ([256, 50,295] floats and the log-softmax's intermediates: about six
 * copies).
 */
export const RUNTIME_ALLOWANCE = { fixedBytes: 170e6, prefillLogitCopies: 6 } as const;

/**
 * Resident memory needed to run the compiled model with `contextTokens` positions held (default: its whole
 * context). An estimate, checked against measured peak RSS (test/engine/footprint.test.ts): the 350M shape at
 * about 1.1k tokens (README's bench), 2B and 6B at a short prompt (npm run bench:scale); it errs high, by up to
 * 15%, which is the side a "will it fit" warning should err on.
 */
export function runtimeBytes(config: CodeGenConfig, precision: Precision, contextTokens = config.nPositions): number {
  const activations = RUNTIME_ALLOWANCE.prefillLogitCopies * PREFILL_CHUNK * graphShape(config).logitsWidth * 4;
  return residentWeightBytes(config, precision) + kvCacheBytes(config, contextTokens) + activations + RUNTIME_ALLOWANCE.fixedBytes;
}

/**
 * Weight bytes one decode step reads: every Linear weight as it runs (fp16 ones widened to fp32; quantized ones
 * with their scales and zero points), the fp32 vectors, and one row of the embedding table. Memory bandwidth
 * divided into this is the fastest a token can be.
 */
export function bytesReadPerToken(config: CodeGenConfig, precision: Precision): number {
  const linear = linearBytes(config, precision === 'fp16' ? 'fp32' : precision);
  const embeddingRow = config.nEmbd * (precision === 'fp32' ? 4 : 2);
  return linear + vectorBytes(config) + embeddingRow;
}
