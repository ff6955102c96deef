// An independent reference exporter for tests: writes a CodeGen decoder in the published "newer" ONNX layout
// (what torch.onnx.export makes of Hugging Face's CodeGenForCausalLM) with standard ONNX operators only, straight
// from the architecture as models/make_tiny_codegen.py documents it, so that the compiler and the engine can be
// tested on any model shape (codegen-350M's in particular) without Python, PyTorch or a large file in the repository. Also: seeded random weights of any
// shape, and a plain float64 forward pass (no cache, loops over heads) to check graphs against.
//
// The file is named the way torch's exporter names the real published files, so that the compiler's weight finder
// (src/engine/compiler/weights.ts) is exercised as on them: checkpoint names for the embedding, layer norms and
// biases; Linear weights as anonymous `onnx::MatMul_<n>` initializers stored as MatMul's B ([in, out]), consumed by
// nodes named `/model/h.{i}/attn/qkv_proj/MatMul`, ...; layer norms decomposed as torch does below opset 17
// (`/model/h.{i}/ln_1/ReduceMean`, ..., `/Mul` with the weight, `/Add_1` with the bias) or, on request, as one
// LayerNormalization node. With `dedupe`, equal parameters are stored once and the copies are `Identity` outputs
// named `model.<parameter>`, as torch's exporter deduplicates them.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataType, GraphWriter, writeOnnxModel, type AttributeValue } from '../../src/engine/compiler/onnxFormat';
import type { CodeGenWeights } from '../../src/engine/compiler/weights';
import { readCodeGenConfig, type CodeGenConfig } from '../../src/engine/modelFolder';

/** CodeGen's fixed model-parallel split of the qkv projection (CODEGEN.md). */
const MP_NUM = 4;
const FLOAT32_MIN = -3.4028234663852886e38;

export interface ReferenceShape {
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nHead: number;
  readonly rotaryDim: number;
  /** Default 4 * n_embd (written to config.json as null). */
  readonly nInner?: number;
  /** Default 51200. */
  readonly vocabSize?: number;
  /** Default 2048. */
  readonly nPositions?: number;
  /** Default 1e-5. */
  readonly layerNormEpsilon?: number;
}

/** codegen-350M-mono's shape (20 layers); spread it with a smaller `nLayer` for tests. */
// n_inner left out: null in config.json, as in the real one (4 * n_embd = 4096).
export const CODEGEN_350M_SHAPE: ReferenceShape = { nLayer: 20, nEmbd: 1024, nHead: 16, rotaryDim: 32, vocabSize: 51200, nPositions: 2048 };

export interface RandomWeightSpec {
  readonly seed: number;
  /** All biases (layer norms', fc_in's, fc_out's, lm_head's) exactly 0. */
  readonly zeroBiases?: boolean;
  /** Layer-norm weights exactly 1. */
  readonly unitNorms?: boolean;
}

export interface ReferenceExportOptions {
  /** Store equal parameters once; the copies become Identity outputs (torch's exporter does this). */
  readonly dedupe?: boolean;
  /** 'decomposed' (default; torch's export below opset 17) or one LayerNormalization node per norm. */
  readonly layerNorm?: 'decomposed' | 'fused';
  /** Weights in onnx/model.onnx_data. Default: when they exceed 64 MB. */
  readonly externalData?: boolean;
}

export interface ReferenceModel {
  readonly dir: string;
  /** dir/onnx/model.onnx */
  readonly onnxFile: string;
  /** As the engine reads dir/config.json. */
  readonly config: CodeGenConfig;
}

/** The engine's view of a shape (what readCodeGenConfig gives for the config.json written for it). */
export function referenceConfig(shape: ReferenceShape): CodeGenConfig {
  const { nLayer, nEmbd, nHead, rotaryDim } = shape;
  const headDim = nEmbd / nHead;
  if (!Number.isInteger(headDim)) throw new Error(`n_embd ${nEmbd} is not a multiple of n_head ${nHead}`);
  if (nHead % MP_NUM !== 0) throw new Error(`n_head ${nHead} is not a multiple of CodeGen's mp_num ${MP_NUM}`);
  if (rotaryDim % 2 !== 0 || rotaryDim <= 0 || rotaryDim > headDim) throw new Error(`rotary_dim ${rotaryDim} must be even and at most the head size ${headDim}`);
  return {
    nLayer,
    nEmbd,
    nHead,
    headDim,
    rotaryDim,
    nInner: shape.nInner ?? 4 * nEmbd,
    layerNormEpsilon: shape.layerNormEpsilon ?? 1e-5,
    nPositions: shape.nPositions ?? 2048,
    vocabSize: shape.vocabSize ?? 51200,
    eosTokenId: 50256,
  };
}

/** The shape of a config (to re-export a model read with readCodeGenConfig). */
export function shapeOf(config: CodeGenConfig): ReferenceShape {
  const { nLayer, nEmbd, nHead, rotaryDim, nInner, vocabSize, nPositions, layerNormEpsilon } = config;
  return { nLayer, nEmbd, nHead, rotaryDim, nInner, vocabSize, nPositions, layerNormEpsilon };
}

export function parameterCount(config: CodeGenConfig): number {
  const { nEmbd: E, nInner: I, vocabSize: V, nLayer: L } = config;
  const block = 2 * E + 3 * E * E + E * E + E * I + I + I * E + E;
  return V * E + L * block + 2 * E + E * V + V;
}

/** Checkpoint parameter names in the order of PyTorch's named_parameters() (the order torch's dedupe keeps). */
export function parameterNames(config: CodeGenConfig): string[] {
  const names = ['transformer.wte.weight'];
  for (let i = 0; i < config.nLayer; i++) {
    const p = `transformer.h.${i}.`;
    names.push(`${p}ln_1.weight`, `${p}ln_1.bias`, `${p}attn.qkv_proj.weight`, `${p}attn.out_proj.weight`);
    names.push(`${p}mlp.fc_in.weight`, `${p}mlp.fc_in.bias`, `${p}mlp.fc_out.weight`, `${p}mlp.fc_out.bias`);
  }
  names.push('transformer.ln_f.weight', 'transformer.ln_f.bias', 'lm_head.weight', 'lm_head.bias');
  return names;
}

// ------------------------------------------------------------------------------------------------ random weights

/**
 * Seeded random CodeGen weights of any shape, made on request (nothing is kept: asking twice regenerates the same
 * values, each tensor from its own seed, so the order of requests does not matter). GPT-2-like at codegen-350M's
 * width (std = gain / sqrt(fan_in): 0.02 for fc_in at 1024 wide), with a stronger qkv (sharp attention, so that
 * head layout and rotary matter) and lm_head (logits spread by about 2), layer norms near 1 / 0, small biases.
 */
export function randomWeights(shape: ReferenceShape, spec: number | RandomWeightSpec): CodeGenWeights {
  const config = referenceConfig(shape);
  const { seed, zeroBiases = false, unitNorms = false } = typeof spec === 'number' ? { seed: spec } : spec;
  const { nEmbd: E, nInner: I, vocabSize: V } = config;
  const gen = (name: string, count: number, std: number, mean = 0): Float32Array => {
    const out = new Float32Array(count);
    fillNormal(out, tensorSeed(seed, name), std, mean);
    return out;
  };
  const LINEAR_GAIN: Record<string, number> = { qkv_proj: 1.6, out_proj: 1.0, fc_in: 0.64, fc_out: 0.5 };
  return {
    embedding: () => gen('transformer.wte.weight', V * E, 0.02),
    linear(module: string): Float32Array {
      if (module === 'lm_head') return gen('lm_head.weight', E * V, 2 / Math.sqrt(E));
      const m = /^transformer\.h\.(\d+)\.(attn|mlp)\.(qkv_proj|out_proj|fc_in|fc_out)$/.exec(module);
      if (!m || Number(m[1]) >= config.nLayer) throw new Error(`no Linear ${module} in this model`);
      const [inF, outF] = { qkv_proj: [E, 3 * E], out_proj: [E, E], fc_in: [E, I], fc_out: [I, E] }[m[3]]!;
      return gen(`${module}.weight`, inF * outF, LINEAR_GAIN[m[3]] / Math.sqrt(inF));
    },
    vector(name: string): Float32Array {
      const m = /^(?:transformer\.h\.(\d+)\.(ln_1|mlp\.fc_in|mlp\.fc_out)|transformer\.(ln_f)|(lm_head))\.(weight|bias)$/.exec(name);
      const kind = m ? (m[2] ?? m[3] ?? m[4]) : undefined;
      if (!m || !kind || (m[1] !== undefined && Number(m[1]) >= config.nLayer) || (m[5] === 'weight' && !kind.startsWith('ln_'))) {
        throw new Error(`no parameter ${name} in this model`);
      }
      const size = kind === 'mlp.fc_in' ? I : kind === 'lm_head' ? V : E;
      if (m[5] === 'weight') return unitNorms ? new Float32Array(size).fill(1) : gen(name, size, 0.05, 1);
      if (zeroBiases) return new Float32Array(size);
      return gen(name, size, kind === 'lm_head' ? 0.1 : 0.02);
    },
  };
}

function tensorSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0; // FNV-1a over the name, from the seed
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

let normalTable: Float64Array | undefined;

/**
 * N(mean, std) draws: mulberry32, and each 16-bit half of its output indexes a table of the standard normal's
 * 65536 quantiles (midpoints). Fast (hundreds of millions a second), deterministic, tails cut at about 4.3 sigma.
 */
function fillNormal(out: Float32Array, seed: number, std: number, mean: number): void {
  if (!normalTable) {
    normalTable = new Float64Array(65536);
    for (let k = 0; k < 65536; k++) normalTable[k] = inverseNormal((k + 0.5) / 65536);
  }
  const table = new Float32Array(65536);
  for (let k = 0; k < 65536; k++) table[k] = mean + std * normalTable[k];
  let a = seed | 0;
  const n = out.length;
  for (let i = 0; i < n; i += 2) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    t ^= t >>> 14;
    out[i] = table[t & 0xffff];
    if (i + 1 < n) out[i + 1] = table[t >>> 16];
  }
}

/** The standard normal's quantile function (Acklam's rational approximation, relative error below 1.2e-9). */
function inverseNormal(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (q: number): number => (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

// ----------------------------------------------------------------------------------------------------- exporter

/**
 * Writes dir/config.json and dir/onnx/model.onnx (plus model.onnx_data for big models): a CodeGen decoder in the
 * published newer layout, from the given weights or from seeded random ones.
 */
export function writeReferenceModel(
  dir: string,
  shape: ReferenceShape,
  weights: CodeGenWeights | RandomWeightSpec,
  options: ReferenceExportOptions = {},
): ReferenceModel {
  const config = referenceConfig(shape);
  const source = 'seed' in weights ? randomWeights(shape, weights) : weights;
  fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  writeConfigJson(dir, shape, config);
  const onnxFile = path.join(dir, 'onnx', 'model.onnx');
  const external = options.externalData ?? 4 * parameterCount(config) > 64 * 1024 * 1024;
  const graph = new GraphWriter(external ? `${onnxFile}_data` : undefined);
  try {
    new Exporter(graph, config, source, options).build();
    writeOnnxModel(onnxFile, graph, { opsets: { '': 17 }, producer: 'codegen-mt test/helpers/referenceExport.ts' });
  } finally {
    graph.close();
  }
  return { dir, onnxFile, config: readCodeGenConfig(dir) };
}

export function writeConfigJson(dir: string, shape: ReferenceShape, config: CodeGenConfig): void {
  const json = {
    _name_or_path: 'codegen-reference-export',
    activation_function: 'gelu_new',
    architectures: ['CodeGenForCausalLM'],
    attn_pdrop: 0.0,
    bos_token_id: 1,
    embd_pdrop: 0.0,
    eos_token_id: 50256,
    gradient_checkpointing: false,
    initializer_range: 0.02,
    layer_norm_epsilon: config.layerNormEpsilon,
    model_type: 'codegen',
    n_ctx: config.nPositions,
    n_embd: config.nEmbd,
    n_head: config.nHead,
    n_inner: shape.nInner ?? null,
    n_layer: config.nLayer,
    n_positions: config.nPositions,
    resid_pdrop: 0.0,
    rotary_dim: config.rotaryDim,
    scale_attn_weights: true,
    tie_word_embeddings: false,
    torch_dtype: 'float32',
    use_cache: true,
    vocab_size: config.vocabSize,
  };
  fs.writeFileSync(path.join(dir, 'config.json'), `${JSON.stringify(json, null, 2)}\n`);
}

class Exporter {
  /** Checkpoint name (parameters) or module (Linear weights) -> the graph value that holds it. */
  private readonly refs = new Map<string, string>();
  private readonly opCounts = new Map<string, number>();
  private matmulCounter = 0;

  constructor(
    private readonly g: GraphWriter,
    private readonly config: CodeGenConfig,
    private readonly weights: CodeGenWeights,
    private readonly options: ReferenceExportOptions,
  ) {}

  build(): void {
    const { nLayer: L, nHead: H, headDim: D, vocabSize: V } = this.config;
    this.matmulCounter = 100 * L + 100; // torch numbers the folded MatMul weights after the graph's values
    this.parameters();
    const g = this.g;
    g.inputs.push({ name: 'input_ids', dataType: DataType.INT64, shape: ['batch_size', 'sequence_length'] });
    g.inputs.push({ name: 'attention_mask', dataType: DataType.INT64, shape: ['batch_size', 'total_sequence_length'] });
    g.inputs.push({ name: 'position_ids', dataType: DataType.INT64, shape: ['batch_size', 'sequence_length'] });
    for (let i = 0; i < L; i++) {
      for (const kind of ['key', 'value']) g.inputs.push({ name: `past_key_values.${i}.${kind}`, dataType: DataType.FLOAT, shape: ['batch_size', H, 'past_sequence_length', D] });
    }
    g.outputs.push({ name: 'logits', dataType: DataType.FLOAT, shape: ['batch_size', 'sequence_length', V] });
    for (let i = 0; i < L; i++) {
      for (const kind of ['key', 'value']) g.outputs.push({ name: `present.${i}.${kind}`, dataType: DataType.FLOAT, shape: ['batch_size', H, 'total_sequence_length', D] });
    }

    let h = this.op('/model/wte', 'Gather', [this.ref('transformer.wte.weight'), 'input_ids'])[0]; // [B, S, E]
    const allowed = this.attentionMask();
    const rotary = this.rotaryTables();
    for (let i = 0; i < L; i++) h = this.block(i, h, allowed, rotary);
    const y = this.layerNorm('/model/ln_f', h, 'transformer.ln_f');
    const logits = this.op('/model/lm_head', 'MatMul', [y, this.ref('lm_head')])[0];
    this.op('/model/lm_head', 'Add', [this.ref('lm_head.bias'), logits], {}, ['logits']);
  }

  /** Initializers (and, with dedupe, Identity aliases) for every parameter, in named_parameters() order. */
  private parameters(): void {
    const { nEmbd: E, nInner: I, vocabSize: V } = this.config;
    const dimsOf = (name: string): number[] => {
      if (name === 'transformer.wte.weight') return [V, E];
      if (name === 'lm_head.weight') return [E, V];
      if (name === 'lm_head.bias') return [V];
      if (name.endsWith('qkv_proj.weight')) return [E, 3 * E];
      if (name.endsWith('out_proj.weight')) return [E, E];
      if (name.endsWith('fc_in.weight')) return [E, I];
      if (name.endsWith('fc_out.weight')) return [I, E];
      if (name.endsWith('fc_in.bias')) return [I];
      return [E];
    };
    const names = parameterNames(this.config);
    const sameDims = new Map<string, number>();
    for (const name of names) sameDims.set(dimsOf(name).join(), (sameDims.get(dimsOf(name).join()) ?? 0) + 1);
    const stored = new Map<string, string>(); // dims + content hash -> stored name
    for (const name of names) {
      const dims = dimsOf(name);
      const linear = name !== 'transformer.wte.weight' && dims.length === 2;
      const module = linear ? name.slice(0, -'.weight'.length) : name;
      const data = name === 'transformer.wte.weight' ? this.weights.embedding() : linear ? this.weights.linear(module) : this.weights.vector(name);
      if (data.length !== dims.reduce((a, b) => a * b, 1)) throw new Error(`${name}: ${data.length} values for [${dims}]`);
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      let key: string | undefined;
      if (this.options.dedupe && sameDims.get(dims.join())! > 1) key = `${dims.join()}:${createHash('sha256').update(bytes).digest('hex')}`;
      const original = key === undefined ? undefined : stored.get(key);
      if (original !== undefined && linear) {
        this.refs.set(module, original); // one folded MatMul weight for both
      } else if (original !== undefined) {
        const alias = `model.${name}`;
        this.g.node('Identity', [original], { outputs: [alias], name: `Identity_${this.refs.size}` });
        this.refs.set(name, alias);
      } else {
        const stem = linear ? `onnx::MatMul_${this.matmulCounter++}` : name;
        this.g.initializer({ name: stem, dataType: DataType.FLOAT, dims, data: bytes });
        this.refs.set(module, stem);
        if (key !== undefined) stored.set(key, stem);
      }
      this.weights.release?.(linear ? module : name);
    }
  }

  private ref(name: string): string {
    const value = this.refs.get(name);
    if (value === undefined) throw new Error(`no parameter ${name}`);
    return value;
  }

  /** A node named as torch names them (`<scope>/<Op>`, `<scope>/<Op>_1`, ...), outputs `<name>_output_<k>`. */
  private op(scope: string, opType: string, inputs: readonly string[], attrs: Record<string, AttributeValue> = {}, outputs: number | readonly string[] = 1): string[] {
    const key = `${scope}/${opType}`;
    const n = this.opCounts.get(key) ?? 0;
    this.opCounts.set(key, n + 1);
    const name = n === 0 ? key : `${key}_${n}`;
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, (_, k) => `${name}_output_${k}`) : [...outputs];
    this.g.node(opType, inputs, { name, outputs: outs, attrs });
    return outs;
  }

  private ints(scope: string, values: readonly number[]): string {
    return this.op(scope, 'Constant', [], { value_ints: { ints: values } })[0];
  }

  private int(scope: string, value: number): string {
    return this.op(scope, 'Constant', [], { value_int: { int: value } })[0];
  }

  private float(scope: string, value: number): string {
    return this.op(scope, 'Constant', [], { value_float: { float: value } })[0];
  }

  private floats(scope: string, values: readonly number[]): string {
    return this.op(scope, 'Constant', [], { value_floats: { floats: values } })[0];
  }

  /**
   * [B, 1, S, T] bool, true where query s (absolute position past + s) may attend to key t: t <= past + s, and
   * attention_mask[b, t] is not 0. past is the length of the cached keys (HF CodeGen's past_key_values[0][0].shape[2]).
   */
  private attentionMask(): string {
    const s = '/model/attn_mask';
    const seq = this.op(s, 'Gather', [this.op(s, 'Shape', ['input_ids'])[0], this.int(s, 1)], { axis: { int: 0 } })[0];
    const past = this.op(s, 'Gather', [this.op(s, 'Shape', ['past_key_values.0.key'])[0], this.int(s, 2)], { axis: { int: 0 } })[0];
    const total = this.op(s, 'Add', [past, seq])[0];
    const one = this.int(s, 1);
    const queryPos = this.op(s, 'Range', [past, total, one])[0]; // [S]
    const keyPos = this.op(s, 'Range', [this.int(s, 0), total, one])[0]; // [T]
    const causal = this.op(s, 'LessOrEqual', [this.op(s, 'Unsqueeze', [keyPos, this.ints(s, [0])])[0], this.op(s, 'Unsqueeze', [queryPos, this.ints(s, [1])])[0]])[0]; // [S, T]
    const keep = this.op(s, 'Greater', ['attention_mask', this.int(s, 0)])[0]; // [B, T]
    const keep4 = this.op(s, 'Unsqueeze', [keep, this.ints(s, [1, 2])])[0]; // [B, 1, 1, T]
    return this.op(s, 'And', [causal, keep4])[0];
  }

  /**
   * cos and signed sin, [B, S, 1, rotary_dim], each angle position * inv_freq[i] repeated for the pair (2i, 2i+1);
   * the sin is negated at even dims, so that rotary(x) = x * cos + swapPairs(x) * signedSin:
   * out[2i] = x[2i] cos - x[2i+1] sin, out[2i+1] = x[2i+1] cos + x[2i] sin.
   */
  private rotaryTables(): { cos: string; signedSin: string; swap: string } {
    const s = '/model/rotary';
    const R = this.config.rotaryDim;
    const invFreq: number[] = [];
    const sign: number[] = [];
    const swap: number[] = [];
    for (let j = 0; j < R; j++) {
      invFreq.push(Math.fround(1 / 10000 ** ((2 * Math.floor(j / 2)) / R)));
      sign.push(j % 2 === 0 ? -1 : 1);
      swap.push(j ^ 1);
    }
    const pos = this.op(s, 'Cast', ['position_ids'], { to: { int: DataType.FLOAT } })[0];
    const pos4 = this.op(s, 'Unsqueeze', [pos, this.ints(s, [2, 3])])[0]; // [B, S, 1, 1]
    const angle = this.op(s, 'Mul', [pos4, this.floats(s, invFreq)])[0]; // [B, S, 1, R]
    const cos = this.op(s, 'Cos', [angle])[0];
    const signedSin = this.op(s, 'Mul', [this.op(s, 'Sin', [angle])[0], this.floats(s, sign)])[0];
    return { cos, signedSin, swap: this.ints(s, swap) };
  }

  private layerNorm(scope: string, x: string, module: string): string {
    const weight = this.ref(`${module}.weight`);
    const bias = this.ref(`${module}.bias`);
    const eps = this.config.layerNormEpsilon;
    if (this.options.layerNorm === 'fused') {
      return this.op(scope, 'LayerNormalization', [x, weight, bias], { axis: { int: -1 }, epsilon: { float: eps } })[0];
    }
    const mean = this.op(scope, 'ReduceMean', [x], { axes: { ints: [-1] }, keepdims: { int: 1 } })[0];
    const centered = this.op(scope, 'Sub', [x, mean])[0];
    const squares = this.op(scope, 'Pow', [centered, this.float(scope, 2)])[0];
    const variance = this.op(scope, 'ReduceMean', [squares], { axes: { ints: [-1] }, keepdims: { int: 1 } })[0];
    const std = this.op(scope, 'Sqrt', [this.op(scope, 'Add', [variance, this.float(scope, eps)])[0]])[0];
    const normed = this.op(scope, 'Div', [centered, std])[0];
    return this.op(scope, 'Add', [this.op(scope, 'Mul', [normed, weight])[0], bias])[0];
  }

  private block(i: number, h: string, allowed: string, rotary: { cos: string; signedSin: string; swap: string }): string {
    const { nEmbd: E, nHead: H, headDim: D, rotaryDim: R } = this.config;
    const p = `/model/h.${i}`;
    const a = `${p}/attn`;
    const x = this.layerNorm(`${p}/ln_1`, h, `transformer.h.${i}.ln_1`);

    // qkv: [B, S, 3E] -> [B, S, 4, 3E/4]; each quarter is [q | v | k], E/4 each; [B, S, 4, E/4] -> [B, S, H, D]
    // (head = quarter * H/4 + head within the quarter).
    const qkv = this.op(`${a}/qkv_proj`, 'MatMul', [x, this.ref(`transformer.h.${i}.attn.qkv_proj`)])[0];
    const quarters = this.op(a, 'Reshape', [qkv, this.ints(a, [0, 0, MP_NUM, (3 * E) / MP_NUM])])[0];
    const [q4, v4, k4] = this.op(a, 'Split', [quarters, this.ints(a, [E / MP_NUM, E / MP_NUM, E / MP_NUM])], { axis: { int: 3 } }, 3);
    const heads = (t: string): string => this.op(a, 'Reshape', [t, this.ints(a, [0, 0, H, D])])[0];
    const rotate = (t: string): string => {
      const [rot, pass] = R < D ? this.op(a, 'Split', [t, this.ints(a, [R, D - R])], { axis: { int: 3 } }, 2) : [t, undefined];
      const swapped = this.op(a, 'Gather', [rot, rotary.swap], { axis: { int: 3 } })[0];
      const rotated = this.op(a, 'Add', [this.op(a, 'Mul', [rot, rotary.cos])[0], this.op(a, 'Mul', [swapped, rotary.signedSin])[0]])[0];
      return pass === undefined ? rotated : this.op(a, 'Concat', [rotated, pass], { axis: { int: 3 } })[0];
    };
    const q = rotate(heads(q4));
    const k = rotate(heads(k4));
    const v = heads(v4);
    const toBHSD = (t: string): string => this.op(a, 'Transpose', [t], { perm: { ints: [0, 2, 1, 3] } })[0];
    // Keys cached after rotary.
    const keys = this.op(a, 'Concat', [`past_key_values.${i}.key`, toBHSD(k)], { axis: { int: 2 } }, [`present.${i}.key`])[0];
    const values = this.op(a, 'Concat', [`past_key_values.${i}.value`, toBHSD(v)], { axis: { int: 2 } }, [`present.${i}.value`])[0];
    const keysT = this.op(a, 'Transpose', [keys], { perm: { ints: [0, 1, 3, 2] } })[0];
    const scores = this.op(a, 'Div', [this.op(a, 'MatMul', [toBHSD(q), keysT])[0], this.float(a, Math.sqrt(D))])[0]; // [B, H, S, T]
    const masked = this.op(a, 'Where', [allowed, scores, this.float(a, FLOAT32_MIN)])[0];
    const probs = this.op(a, 'Softmax', [masked], { axis: { int: 3 } })[0];
    const context = this.op(a, 'Transpose', [this.op(a, 'MatMul', [probs, values])[0]], { perm: { ints: [0, 2, 1, 3] } })[0]; // [B, S, H, D]
    const merged = this.op(a, 'Reshape', [context, this.ints(a, [0, 0, E])])[0];
    const attn = this.op(`${a}/out_proj`, 'MatMul', [merged, this.ref(`transformer.h.${i}.attn.out_proj`)])[0];

    // MLP on the same x: fc_out(gelu_new(fc_in(x))), gelu_new(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    const m = `${p}/mlp`;
    const fcIn = this.op(`${m}/fc_in`, 'Add', [this.ref(`transformer.h.${i}.mlp.fc_in.bias`), this.op(`${m}/fc_in`, 'MatMul', [x, this.ref(`transformer.h.${i}.mlp.fc_in`)])[0]])[0];
    const half = this.op(m, 'Mul', [fcIn, this.float(m, 0.5)])[0];
    const cube = this.op(m, 'Pow', [fcIn, this.float(m, 3)])[0];
    const inner = this.op(m, 'Add', [fcIn, this.op(m, 'Mul', [cube, this.float(m, 0.044715)])[0]])[0];
    const tanh = this.op(m, 'Tanh', [this.op(m, 'Mul', [inner, this.float(m, Math.sqrt(2 / Math.PI))])[0]])[0];
    const gelu = this.op(m, 'Mul', [half, this.op(m, 'Add', [tanh, this.float(m, 1)])[0]])[0];
    const fcOut = this.op(`${m}/fc_out`, 'Add', [this.ref(`transformer.h.${i}.mlp.fc_out.bias`), this.op(`${m}/fc_out`, 'MatMul', [gelu, this.ref(`transformer.h.${i}.mlp.fc_out`)])[0]])[0];

    // Parallel residual: h = attn + mlp + h.
    return this.op(p, 'Add', [this.op(p, 'Add', [attn, fcOut])[0], h])[0];
  }
}

// -------------------------------------------------------------------------------------------- float64 reference

/** Deliberate layout mistakes, to show which ones a model shape can reveal. */
export type LayoutMistake =
  /** heads numbered head-within-quarter major (j * 4 + quarter) instead of quarter major */
  | 'head-order'
  /** rotary on (i, i + rotary_dim/2) pairs (GPT-NeoX "rotate half") instead of interleaved (2i, 2i+1) */
  | 'rotate-half'
  /** each quarter split q, k, v instead of q, v, k */
  | 'qkv-order';

/**
 * Logits [ids.length, vocab] of one sequence by full recomputation in float64, straight from CODEGEN.md (loops
 * over heads, no cache). Positions 0..n-1 unless given; every token attends to itself and those before it.
 */
export function referenceLogits(
  weights: CodeGenWeights,
  config: CodeGenConfig,
  ids: readonly number[],
  options: { positions?: readonly number[]; mistake?: LayoutMistake } = {},
): Float64Array {
  const { nEmbd: E, nHead: H, headDim: D, rotaryDim: R, nInner: I, vocabSize: V, layerNormEpsilon: eps } = config;
  const T = ids.length;
  const positions = options.positions ?? ids.map((_, t) => t);
  const mistake = options.mistake;
  const embedding = weights.embedding();
  let h = new Float64Array(T * E);
  ids.forEach((id, t) => {
    for (let e = 0; e < E; e++) h[t * E + e] = embedding[id * E + e];
  });
  const part = E / MP_NUM;
  const perQuarter = H / MP_NUM;
  for (let l = 0; l < config.nLayer; l++) {
    const p = `transformer.h.${l}.`;
    const x = layerNorm64(h, T, E, weights.vector(`${p}ln_1.weight`), weights.vector(`${p}ln_1.bias`), eps);
    const qkv = matmul64(x, T, E, weights.linear(`${p}attn.qkv_proj`), 3 * E);
    const merged = new Float64Array(T * E);
    for (let hd = 0; hd < H; hd++) {
      const [quarter, j] = mistake === 'head-order' ? [hd % MP_NUM, Math.floor(hd / MP_NUM)] : [Math.floor(hd / perQuarter), hd % perQuarter];
      const base = quarter * 3 * part + j * D;
      const [qOff, vOff, kOff] = mistake === 'qkv-order' ? [base, base + 2 * part, base + part] : [base, base + part, base + 2 * part];
      const head = (off: number, rotary: boolean): Float64Array => {
        const out = new Float64Array(T * D);
        for (let t = 0; t < T; t++) for (let d = 0; d < D; d++) out[t * D + d] = qkv[t * 3 * E + off + d];
        if (rotary) {
          for (let t = 0; t < T; t++) {
            for (let i = 0; i < R / 2; i++) {
              const angle = positions[t] * 10000 ** ((-2 * i) / R);
              const [a, b] = mistake === 'rotate-half' ? [i, i + R / 2] : [2 * i, 2 * i + 1];
              const x0 = out[t * D + a];
              const x1 = out[t * D + b];
              out[t * D + a] = x0 * Math.cos(angle) - x1 * Math.sin(angle);
              out[t * D + b] = x1 * Math.cos(angle) + x0 * Math.sin(angle);
            }
          }
        }
        return out;
      };
      const q = head(qOff, true);
      const k = head(kOff, true);
      const v = head(vOff, false);
      for (let t = 0; t < T; t++) {
        const scores = new Float64Array(t + 1);
        let max = -Infinity;
        for (let u = 0; u <= t; u++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[t * D + d] * k[u * D + d];
          scores[u] = dot / Math.sqrt(D);
          max = Math.max(max, scores[u]);
        }
        let sum = 0;
        for (let u = 0; u <= t; u++) sum += (scores[u] = Math.exp(scores[u] - max));
        for (let u = 0; u <= t; u++) for (let d = 0; d < D; d++) merged[t * E + hd * D + d] += (scores[u] / sum) * v[u * D + d];
      }
    }
    const attn = matmul64(merged, T, E, weights.linear(`${p}attn.out_proj`), E);
    const fcIn = matmul64(x, T, E, weights.linear(`${p}mlp.fc_in`), I, weights.vector(`${p}mlp.fc_in.bias`));
    for (let n = 0; n < fcIn.length; n++) {
      const z = fcIn[n];
      fcIn[n] = 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z * z * z)));
    }
    const mlp = matmul64(fcIn, T, I, weights.linear(`${p}mlp.fc_out`), E, weights.vector(`${p}mlp.fc_out.bias`));
    const next = new Float64Array(T * E);
    for (let n = 0; n < next.length; n++) next[n] = attn[n] + mlp[n] + h[n];
    h = next;
  }
  const y = layerNorm64(h, T, E, weights.vector('transformer.ln_f.weight'), weights.vector('transformer.ln_f.bias'), eps);
  return matmul64(y, T, E, weights.linear('lm_head'), V, weights.vector('lm_head.bias'));
}

function layerNorm64(x: Float64Array, rows: number, n: number, weight: Float32Array, bias: Float32Array, eps: number): Float64Array {
  const out = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += x[r * n + i];
    mean /= n;
    let variance = 0;
    for (let i = 0; i < n; i++) variance += (x[r * n + i] - mean) ** 2;
    variance /= n;
    const scale = 1 / Math.sqrt(variance + eps);
    for (let i = 0; i < n; i++) out[r * n + i] = (x[r * n + i] - mean) * scale * weight[i] + bias[i];
  }
  return out;
}

/** a [rows, k] times w [k, n] (row-major, MatMul's B), plus an optional bias [n]. */
function matmul64(a: Float64Array, rows: number, k: number, w: Float32Array, n: number, bias?: Float32Array): Float64Array {
  const out = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    const o = out.subarray(r * n, (r + 1) * n);
    if (bias) for (let j = 0; j < n; j++) o[j] = bias[j];
    for (let i = 0; i < k; i++) {
      const av = a[r * k + i];
      if (av === 0) continue;
      const row = i * n;
      for (let j = 0; j < n; j++) o[j] += av * w[row + j];
    }
  }
  return out;
}
