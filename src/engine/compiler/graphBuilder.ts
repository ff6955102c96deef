// Builds a CodeGen decoder graph for onnxruntime's CPU, fresh from the architecture (CODEGEN.md) and a set of
// weights: fused com.microsoft operators, a KV buffer per layer that the caller owns and the attention reads in
// place, and outputs limited to what decoding and perplexity read.
//
// Per block (x = LayerNorm(h)):  qkv = x Wqkv  ->  RotaryEmbedding (GPT-J interleaved, on the first rotary_dim
// dims) of q and k  ->  attention over the caller's past buffers and the new tokens  ->  out_proj;  mlp = fc_out(FastGelu(fc_in x + b));
// then SkipLayerNormalization gives both the next block's x and h + attn + mlp (+ fc_out's bias).
// The qkv weight's columns are reordered from CodeGen's four (q, v, k) quarters to [q | k | v], heads in order.
import { EngineError } from '../../protocol/errors';
import type { CodeGenConfig } from '../modelFolder';
import { DataType, GraphWriter } from './onnxFormat';
import { packQkv, packQkvRows, padHeadInputs, padHeadRows, sliceColumns, transposeBlocked } from './layout';
import { quantizeRows, quantizeRowsSymmetric, toHalf } from './quantize';
import { linearShape, type CodeGenWeights } from './weights';
import { TOKENIZER_VOCAB_SIZE } from '../tokenizer';
import { ALTERNATIVES_K } from '../decoder';

export const PRECISIONS = ['fp32', 'fp16', 'int8', 'int4'] as const;
export type Precision = (typeof PRECISIONS)[number];

/**
 * How the token embedding is stored beside half or quantized weights: fp16 (the default), or int8 with one fp32
 * scale per row, which halves the largest tensor of a small model (51,200 rows) for an error of at most half a
 * step of its row's range (`quantizeRowsSymmetric`).
 */
export const EMBEDDING_PRECISIONS = ['fp16', 'int8'] as const;
export type EmbeddingPrecision = (typeof EMBEDDING_PRECISIONS)[number];

export interface GraphOptions {
  readonly embedding?: EmbeddingPrecision;
}

/** MatMulNBits' block: one scale and zero point per this many weights along the input dimension. */
export const BLOCK_SIZE = 32;
/** Head and rotary sizes are padded to multiples of 16 (what onnxruntime's fused CPU kernels accept). */
const GQA_MULTIPLE = 16;

export interface GraphShape {
  /** Head size in the graph (the model's, padded with zeros up to what the fused attention accepts). */
  readonly cacheHeadDim: number;
  /** Width of the logits: the tokenizer's vocabulary. */
  readonly logitsWidth: number;
}

export function graphShape(config: CodeGenConfig): GraphShape & { rotaryDim: number } {
  const roundUp = (n: number): number => Math.ceil(n / GQA_MULTIPLE) * GQA_MULTIPLE;
  const rotaryDim = roundUp(config.rotaryDim);
  return { cacheHeadDim: roundUp(Math.max(config.headDim, rotaryDim)), rotaryDim, logitsWidth: TOKENIZER_VOCAB_SIZE };
}

export interface BuildProgress {
  /** Layers done, of n_layer + 1 (the last step is the lm_head). */
  readonly done: number;
  readonly total: number;
}

/** Adds the whole decoder to `g`. Weights are converted one tensor at a time and written out at once. */
export async function buildDecoderGraph(
  g: GraphWriter,
  config: CodeGenConfig,
  weights: CodeGenWeights,
  precision: Precision,
  onProgress?: (p: BuildProgress) => void,
  signal?: AbortSignal,
  options: GraphOptions = {},
): Promise<void> {
  const embedding = options.embedding ?? 'fp16';
  if (precision === 'fp32' && embedding !== 'fp16') throw new EngineError('invalid-request', `an ${embedding} embedding goes only with fp16, int8 or int4 weights, not fp32 (the exact reference)`);
  const E = config.nEmbd;
  const H = config.nHead;
  const D = config.headDim;
  const I = config.nInner;
  const { cacheHeadDim: Dp, rotaryDim: Rp, logitsWidth: Vt } = graphShape(config);
  const eps = config.layerNormEpsilon;
  const linear = new LinearEmitter(g, precision);
  /** A Linear weight as one row per output: from the source as it is, or transposed from [in, out]. */
  const rowsOf = (module: string): Float32Array => {
    if (weights.linearRows) return weights.linearRows(module);
    const { inFeatures, outFeatures } = linearShape(module, config);
    return transposeBlocked(weights.linear(module), inFeatures, outFeatures);
  };

  g.inputs.push({ name: 'input_ids', dataType: DataType.INT64, shape: [1, 'sequence'] });
  g.inputs.push({ name: 'past_length', dataType: DataType.INT64, shape: [1] });
  // The first position (row j predicts token j + 1) whose best candidates top_ids / top_logprobs give; at most
  // sequence - 1.
  g.inputs.push({ name: 'rank_from', dataType: DataType.INT64, shape: [1] });
  // The first position whose logits `logits` gives, at most sequence - 1: the last alone when decoding, every fed
  // position when checking proposed tokens (speculative decoding).
  g.inputs.push({ name: 'logits_from', dataType: DataType.INT64, shape: [1] });
  // The first position whose next token's log-probability token_logprobs gives (0 when a prompt is scored;
  // sequence - 1, none, when generated tokens are checked: a row's log-sum-exp over the vocabulary is not free).
  g.inputs.push({ name: 'score_from', dataType: DataType.INT64, shape: [1] });
  for (let i = 0; i < config.nLayer; i++) {
    // Keys transposed, so that q k^T reads them as they lie; the buffers' last positions past past_length are unused.
    g.inputs.push({ name: `past_keys_t.${i}`, dataType: DataType.FLOAT, shape: [1, H, Dp, 'capacity'] });
    g.inputs.push({ name: `past_values.${i}`, dataType: DataType.FLOAT, shape: [1, H, 'capacity', Dp] });
  }

  // Embedding: only the tokenizer's rows; half precision or int8 beside quantized weights (its rows are read, not
  // multiplied).
  const wte = weights.embedding().subarray(0, Vt * E);
  let h: string;
  if (precision === 'fp32') {
    h = g.node('Gather', [g.floats('wte', wte, [Vt, E]), 'input_ids'])[0];
  } else if (embedding === 'int8') {
    const { codes, scales } = quantizeRowsSymmetric(wte, Vt, E);
    const table = g.initializer({ name: 'wte', dataType: DataType.INT8, dims: [Vt, E], data: new Uint8Array(codes.buffer, codes.byteOffset, codes.byteLength) });
    const rows = g.node('Cast', [g.node('Gather', [table, 'input_ids'])[0]], { attrs: { to: { int: DataType.FLOAT } } })[0];
    h = g.node('Mul', [rows, g.node('Gather', [g.floats('wte_scales', scales, [Vt, 1]), 'input_ids'])[0]])[0];
  } else {
    const table = g.initializer({ name: 'wte', dataType: DataType.FLOAT16, dims: [Vt, E], data: bytesOf(toHalf(wte)) });
    h = g.node('Cast', [g.node('Gather', [table, 'input_ids'])[0]], { attrs: { to: { int: DataType.FLOAT } } })[0];
  }
  weights.release?.('transformer.wte.weight');

  const cos = new Float32Array(config.nPositions * (Rp / 2));
  const sin = new Float32Array(config.nPositions * (Rp / 2));
  for (let p = 0; p < config.nPositions; p++) {
    for (let i = 0; i < Rp / 2; i++) {
      // Pairs past the model's rotary_dim are padding: rotated by angle 0, i.e. passed through.
      const angle = i < config.rotaryDim / 2 ? p * Math.pow(10000, (-2 * i) / config.rotaryDim) : 0;
      cos[p * (Rp / 2) + i] = Math.cos(angle);
      sin[p * (Rp / 2) + i] = Math.sin(angle);
    }
  }
  const cosCache = g.floats('rotary_cos', cos, [config.nPositions, Rp / 2]);
  const sinCache = g.floats('rotary_sin', sin, [config.nPositions, Rp / 2]);

  // Attention reads the caller's buffers in place (onnxruntime takes inputs without copying) and returns only the
  // new tokens' keys and values, which the caller appends: onnxruntime-node copies every output into fresh
  // JavaScript memory, and its fused attention copies its whole past into a new present on every run, so either
  // would copy the cache per token. Masks, computed once per run: past positions at or beyond past_length, and
  // the causal order among the new tokens.
  const axis1 = g.int64s('axis_1', [1]);
  const axis2 = g.int64s('axis_2', [2]);
  const axis3 = g.int64s('axis_3', [3]);
  const zero = g.int64s('zero', [0]);
  const one = g.int64s('one', [1]);
  const intMax = g.int64s('int_max', [2 ** 62]);
  const scalarZero = g.int64s('scalar_zero', [0], []);
  const scalarOne = g.int64s('scalar_one', [1], []);
  const minusInf = g.floats('minus_inf', Float32Array.of(-Infinity), []);
  const floatZero = g.floats('float_zero', Float32Array.of(0), []);
  const shapeOf = (name: string, index: number): string => g.node('Gather', [g.node('Shape', [name])[0], g.int64s(`index_${name}_${index}`, [index])])[0];
  const scalar = (t: string): string => g.node('Squeeze', [t, zero])[0];
  const seqLength = shapeOf('input_ids', 1);
  const capacity = shapeOf('past_values.0', 2);
  const newPositions = g.node('Range', [scalarZero, scalar(seqLength), scalarOne])[0];
  const positionIds = g.node('Unsqueeze', [g.node('Add', [newPositions, 'past_length'])[0], zero])[0]; // [1, S]
  const pastPositions = g.node('Range', [scalarZero, scalar(capacity), scalarOne])[0];
  const pastMask = g.node('Where', [g.node('Less', [pastPositions, 'past_length'])[0], floatZero, minusInf])[0]; // [C]
  const causal = g.node('LessOrEqual', [g.node('Unsqueeze', [newPositions, zero])[0], g.node('Unsqueeze', [newPositions, one])[0]])[0];
  const newMask = g.node('Where', [causal, floatZero, minusInf])[0]; // [S, S]: key j visible to query i when j <= i
  const headsShape = g.node('Concat', [one, seqLength, g.int64s('heads', [H]), g.int64s('head_dim', [Dp])], { attrs: { axis: { int: 0 } } })[0];
  const mergedShape = g.node('Concat', [one, seqLength, g.int64s('width', [H * Dp])], { attrs: { axis: { int: 0 } } })[0];
  const queryScale = g.floats('query_scale', Float32Array.of(1 / Math.sqrt(D)), []);
  const rotary = (t: string): string =>
    g.node('RotaryEmbedding', [t, positionIds, cosCache, sinCache], {
      domain: 'com.microsoft',
      attrs: { interleaved: { int: 1 }, num_heads: { int: H }, rotary_embedding_dim: { int: Rp } },
    })[0];
  const attention = (i: number, qkv: string): string => {
    const [q, k, v] = g.node('Split', [qkv], { outputs: 3, attrs: { axis: { int: 2 } } });
    const heads = (t: string, perm: number[]): string => g.node('Transpose', [g.node('Reshape', [t, headsShape])[0]], { attrs: { perm: { ints: perm } } })[0];
    const q4 = g.node('Mul', [heads(rotary(q), [0, 2, 1, 3]), queryScale])[0]; // [1, H, S, Dp]
    const kT = g.node('Transpose', [g.node('Reshape', [rotary(k), headsShape])[0]], { outputs: [`new_keys_t.${i}`], attrs: { perm: { ints: [0, 2, 3, 1] } } })[0]; // [1, H, Dp, S]
    const v4 = g.node('Transpose', [g.node('Reshape', [v, headsShape])[0]], { outputs: [`new_values.${i}`], attrs: { perm: { ints: [0, 2, 1, 3] } } })[0]; // [1, H, S, Dp]
    const pastScores = g.node('Add', [g.node('MatMul', [q4, `past_keys_t.${i}`])[0], pastMask])[0]; // [1, H, S, C]
    const newScores = g.node('Add', [g.node('MatMul', [q4, kT])[0], newMask])[0]; // [1, H, S, S]
    const probs = g.node('Softmax', [g.node('Concat', [pastScores, newScores], { attrs: { axis: { int: 3 } } })[0]], { attrs: { axis: { int: -1 } } })[0];
    const pastProbs = g.node('Slice', [probs, zero, capacity, axis3])[0];
    const newProbs = g.node('Slice', [probs, capacity, intMax, axis3])[0];
    const mixed = g.node('Add', [g.node('MatMul', [pastProbs, `past_values.${i}`])[0], g.node('MatMul', [newProbs, v4])[0]])[0];
    return g.node('Reshape', [g.node('Transpose', [mixed], { attrs: { perm: { ints: [0, 2, 1, 3] } } })[0], mergedShape])[0];
  };

  const ln = (name: string): [string, string] => [g.floats(`${name}.weight`, weights.vector(`${name}.weight`), [E]), g.floats(`${name}.bias`, weights.vector(`${name}.bias`), [E])];
  let x = g.node('LayerNormalization', [h, ...ln('transformer.h.0.ln_1')], { attrs: { axis: { int: -1 }, epsilon: { float: eps } } })[0];

  for (let i = 0; i < config.nLayer; i++) {
    const p = `transformer.h.${i}`;
    const qkv = linear.emit(x, `${p}.attn.qkv_proj`, E, 3 * H * Dp, {
      inOut: () => packQkv(weights.linear(`${p}.attn.qkv_proj`), E, H, D, Dp),
      rows: () => packQkvRows(rowsOf(`${p}.attn.qkv_proj`), E, H, D, Dp),
    });
    const attn = attention(i, qkv);
    const attnOut = linear.emit(attn, `${p}.attn.out_proj`, H * Dp, E, {
      inOut: () => padHeadRows(weights.linear(`${p}.attn.out_proj`), H, D, Dp, E),
      rows: () => padHeadInputs(rowsOf(`${p}.attn.out_proj`), H, D, Dp, E),
    });
    const fcIn = linear.emit(x, `${p}.mlp.fc_in`, E, I, { inOut: () => weights.linear(`${p}.mlp.fc_in`), rows: () => rowsOf(`${p}.mlp.fc_in`) });
    const gelu = g.node('FastGelu', [fcIn, g.floats(`${p}.mlp.fc_in.bias`, weights.vector(`${p}.mlp.fc_in.bias`), [I])], { domain: 'com.microsoft' })[0];
    const fcOut = linear.emit(gelu, `${p}.mlp.fc_out`, I, E, { inOut: () => weights.linear(`${p}.mlp.fc_out`), rows: () => rowsOf(`${p}.mlp.fc_out`) });
    const branches = g.node('Add', [attnOut, fcOut])[0];
    const next = i + 1 < config.nLayer ? `transformer.h.${i + 1}.ln_1` : 'transformer.ln_f';
    const fcOutBias = g.floats(`${p}.mlp.fc_out.bias`, weights.vector(`${p}.mlp.fc_out.bias`), [E]);
    const [nx, , , nh] = g.node('SkipLayerNormalization', [branches, h, ...ln(next), fcOutBias], { outputs: 4, domain: 'com.microsoft', attrs: { epsilon: { float: eps } } });
    x = nx;
    h = nh;
    onProgress?.({ done: i + 1, total: config.nLayer + 1 });
    // Let the event loop breathe between layers (the engine process answers liveness pings and cancels meanwhile).
    await new Promise((resolve) => setImmediate(resolve));
    if (signal?.aborted) throw new EngineError('cancelled', `The conversion was cancelled after ${i + 1} of ${config.nLayer} layers; nothing was written.`);
  }

  // lm_head over the tokenizer's rows only; the outputs are the logits of the positions from logits_from on (the
  // last alone, but when proposed tokens are checked) and, for the positions before the last, the
  // log-probability of the token that actually follows (all that perplexity needs).
  const lmBias = weights.vector('lm_head.bias').subarray(0, Vt);
  const lmHead = linear.emit(x, 'lm_head', E, Vt, {
    inOut: () => sliceColumns(weights.linear('lm_head'), E, config.vocabSize, Vt),
    rows: () => rowsOf('lm_head').subarray(0, Vt * E),
  });
  const logitsAll = g.node('Add', [lmHead, g.floats('lm_head.bias', lmBias, [Vt])])[0];
  const minusOne = g.int64s('minus_1', [-1]);
  const rows = g.node('Slice', [logitsAll, 'logits_from', intMax, axis1])[0];
  g.node('Reshape', [rows, g.int64s('logits_shape', [-1, Vt])], { outputs: ['logits'] });
  const inner = g.node('Slice', [logitsAll, 'score_from', minusOne, axis1])[0];
  const nextIds = g.node('Slice', ['input_ids', g.node('Add', ['score_from', one])[0], intMax, axis1])[0];
  const picked = g.node('GatherElements', [inner, g.node('Unsqueeze', [nextIds, axis2])[0]], { attrs: { axis: { int: 2 } } })[0];
  const norm = g.node('ReduceLogSumExp', [inner], { attrs: { axes: { ints: [2] }, keepdims: { int: 1 } } })[0];
  g.node('Squeeze', [g.node('Sub', [picked, norm])[0], axis2], { outputs: ['token_logprobs'] });
  // And for the positions from rank_from on (the prompt's, not its history's): the ALTERNATIVES_K tokens the model
  // ranked highest, what it expected instead of the one that follows, from the same logits (TopK selects, it does
  // not sort the row). At least the last row is ranked (the caller ignores it): onnxruntime's TopK fails on none.
  const ranked = g.node('Slice', [logitsAll, 'rank_from', intMax, axis1])[0];
  const k = g.int64s('alternatives_k', [ALTERNATIVES_K]);
  const [topValues, topIds] = g.node('TopK', [ranked, k], { outputs: 2, attrs: { axis: { int: -1 }, largest: { int: 1 }, sorted: { int: 1 } } });
  const rankedNorm = g.node('ReduceLogSumExp', [ranked], { attrs: { axes: { ints: [2] }, keepdims: { int: 1 } } })[0];
  g.node('Sub', [topValues, rankedNorm], { outputs: ['top_logprobs'] });
  g.node('Cast', [topIds], { outputs: ['top_ids'], attrs: { to: { int: DataType.INT32 } } });
  onProgress?.({ done: config.nLayer + 1, total: config.nLayer + 1 });

  g.outputs.push({ name: 'logits', dataType: DataType.FLOAT, shape: ['logit_rows', Vt] });
  g.outputs.push({ name: 'token_logprobs', dataType: DataType.FLOAT, shape: [1, 'scored'] });
  g.outputs.push({ name: 'top_logprobs', dataType: DataType.FLOAT, shape: [1, 'ranked', ALTERNATIVES_K] });
  g.outputs.push({ name: 'top_ids', dataType: DataType.INT32, shape: [1, 'ranked', ALTERNATIVES_K] });
  for (let i = 0; i < config.nLayer; i++) {
    g.outputs.push({ name: `new_keys_t.${i}`, dataType: DataType.FLOAT, shape: [1, H, Dp, 'sequence'] });
    g.outputs.push({ name: `new_values.${i}`, dataType: DataType.FLOAT, shape: [1, H, 'sequence', Dp] });
  }
}

/** A Linear weight in the two layouts the precisions want; only the one asked for is computed. */
interface LinearWeight {
  /** MatMul's B: [in, out]. */
  inOut(): Float32Array;
  /** One row per output: [out, in]. */
  rows(): Float32Array;
}

/** MatMul in the chosen precision. */
class LinearEmitter {
  constructor(
    private readonly g: GraphWriter,
    private readonly precision: Precision,
  ) {}

  emit(input: string, name: string, K: number, N: number, weight: LinearWeight): string {
    const g = this.g;
    if (this.precision === 'fp32') return g.node('MatMul', [input, g.floats(`${name}.weight`, weight.inOut(), [K, N])])[0];
    if (this.precision === 'fp16') {
      // Stored in half precision; onnxruntime's CPU widens it once at load (it has no fast fp16 matrix product on x86).
      const w = g.initializer({ name: `${name}.weight`, dataType: DataType.FLOAT16, dims: [K, N], data: bytesOf(toHalf(weight.inOut())) });
      return g.node('MatMul', [input, g.node('Cast', [w], { attrs: { to: { int: DataType.FLOAT } } })[0]])[0];
    }
    const bits = this.precision === 'int8' ? 8 : 4;
    const q = quantizeRows(weight.rows(), N, K, bits, BLOCK_SIZE);
    const b = g.initializer({ name: `${name}.qweight`, dataType: DataType.UINT8, dims: [N, q.blocks, (BLOCK_SIZE * bits) / 8], data: q.packed });
    const scales = g.floats(`${name}.scales`, q.scales, [N * q.blocks]);
    const zeros = g.initializer({ name: `${name}.zero_points`, dataType: DataType.UINT8, dims: [q.zeroPoints.length], data: q.zeroPoints });
    return g.node('MatMulNBits', [input, b, scales, zeros], {
      domain: 'com.microsoft',
      // accuracy_level 4: activations are quantized to int8 per block, so the product runs on integer dot products.
      attrs: { K: { int: K }, N: { int: N }, bits: { int: bits }, block_size: { int: BLOCK_SIZE }, accuracy_level: { int: 4 } },
    })[0];
  }
}

function bytesOf(a: Uint16Array | Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
