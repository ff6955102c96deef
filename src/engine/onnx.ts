// onnxruntime sessions, and published CodeGen ONNX files run as they are: opens a decoder in either published
// layout, checks that its inputs fit the config, and runs one forward pass over new tokens given the past.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as ort from 'onnxruntime-node';
import type { TokenId } from '../protocol/engine';
import { EngineError } from '../protocol/errors';
import { ALTERNATIVES_K, logSumExp, topAlternatives, type Decoder, type DecoderOutput, type TopAlternatives } from './decoder';
import { TOKENIZER_VOCAB_SIZE } from './tokenizer';
import { halfToFloat } from './compiler/quantize';
import type { CodeGenConfig } from './modelFolder';

type KvData = Float32Array | Uint16Array; // float16 travels as raw 16-bit words

/** Keys and values of the tokens seen so far, for every layer. Immutable: a forward pass returns a new one. */
export interface PastState {
  readonly length: number;
  /** [key, value] tensors per layer, each [1, n_head, length, head_dim]. */
  readonly tensors: readonly ort.Tensor[];
}

export interface ForwardResult {
  /** [seq, vocab] row-major, float32 whatever the model's own type. */
  readonly logits: Float32Array;
  readonly past: PastState;
}

export class OnnxDecoder {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly config: CodeGenConfig,
    readonly layout: 'newer' | 'merged',
    readonly kvType: 'float32' | 'float16',
    private readonly hasPositionIds: boolean,
    /** Whether the logits' width is known to be the config's vocab_size (checked at load when the graph states it). */
    private logitsWidthChecked: boolean,
  ) {}

  static async open(onnxFile: string, config: CodeGenConfig, threads?: number): Promise<OnnxDecoder> {
    const session = await createSession(onnxFile, threads);
    try {
      const io = { inputs: session.inputMetadata, outputs: session.outputMetadata };
      const { layout, kvType, hasPositionIds, logitsWidthChecked } = checkSignature(io, config, onnxFile);
      return new OnnxDecoder(session, config, layout, kvType, hasPositionIds, logitsWidthChecked);
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  emptyPast(): PastState {
    const tensors: ort.Tensor[] = [];
    for (let i = 0; i < 2 * this.config.nLayer; i++) tensors.push(this.kvTensor(new (this.kvArray())(0), 0));
    return { length: 0, tensors };
  }

  /** Runs the model on `ids`, which follow the `past.length` tokens already in `past`. */
  async forward(ids: readonly TokenId[], past: PastState): Promise<ForwardResult> {
    const seq = ids.length;
    const total = past.length + seq;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, seq]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
    };
    if (this.hasPositionIds) {
      const positions = new BigInt64Array(seq);
      for (let i = 0; i < seq; i++) positions[i] = BigInt(past.length + i);
      feeds.position_ids = new ort.Tensor('int64', positions, [1, seq]);
    }
    if (this.layout === 'merged') {
      feeds.use_cache_branch = new ort.Tensor('bool', Uint8Array.of(past.length > 0 ? 1 : 0), [1]);
    }
    for (let i = 0; i < this.config.nLayer; i++) {
      feeds[`past_key_values.${i}.key`] = past.tensors[2 * i];
      feeds[`past_key_values.${i}.value`] = past.tensors[2 * i + 1];
    }
    const out = await this.session.run(feeds);
    const tensors: ort.Tensor[] = [];
    for (let i = 0; i < this.config.nLayer; i++) {
      tensors.push(out[`present.${i}.key`], out[`present.${i}.value`]);
    }
    // A graph whose vocabulary dimension is symbolic is checked on its first run: logits read with the config's
    // stride would silently give wrong tokens and perplexities.
    if (!this.logitsWidthChecked) {
      const width = out.logits.dims[out.logits.dims.length - 1];
      if (width !== this.config.vocabSize) {
        throw new EngineError('invalid-model', `The model's logits are ${width} wide, but its config.json has vocab_size ${this.config.vocabSize}: use the config.json published with this ONNX file.`);
      }
      this.logitsWidthChecked = true;
    }
    const raw = out.logits.data as Float32Array | Uint16Array;
    const logits = raw instanceof Float32Array ? raw : halfToFloat(raw);
    return { logits, past: { length: total, tensors } };
  }

  /** The first `length` positions of `past` (copies: onnxruntime owns no reference to them). */
  truncatePast(past: PastState, length: number): PastState {
    if (length >= past.length) return past;
    if (length === 0) return this.emptyPast();
    const { nHead, headDim } = this.config;
    const Ctor = this.kvArray();
    const tensors = past.tensors.map((t) => {
      const src = t.data as KvData;
      const dst = new Ctor(nHead * length * headDim);
      for (let h = 0; h < nHead; h++) {
        const from = h * past.length * headDim;
        dst.set(src.subarray(from, from + length * headDim), h * length * headDim);
      }
      return this.kvTensor(dst, length);
    });
    return { length, tensors };
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }

  private kvArray(): typeof Float32Array | typeof Uint16Array {
    return this.kvType === 'float16' ? Uint16Array : Float32Array;
  }

  private kvTensor(data: KvData, length: number): ort.Tensor {
    return new ort.Tensor(this.kvType, data, [1, this.config.nHead, length, this.config.headDim]);
  }
}

/** Session options the bench compares against the engine's defaults (bench/sessionOptions.ts). */
export type SessionTuning = Pick<ort.InferenceSession.SessionOptions, 'graphOptimizationLevel' | 'enableCpuMemArena' | 'enableMemPattern'>;

/** Opens an onnxruntime CPU session with the engine's options; a missing or unreadable file is one clear error. */
export async function createSession(onnxFile: string, threads?: number, overrides: SessionTuning = {}): Promise<ort.InferenceSession> {
  let size: number;
  try {
    size = fs.statSync(onnxFile).size;
  } catch {
    throw new EngineError('model-not-found', `${onnxFile} does not exist.`);
  }
  if (size === 0) throw new EngineError('invalid-model', `${onnxFile} is empty: download it again.`);
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    // One thread per physical core: hyper-threads share the core's vector units and only add contention.
    intraOpNumThreads: threads && threads > 0 ? threads : physicalCores(),
    ...overrides,
  };
  try {
    return await ort.InferenceSession.create(onnxFile, options);
  } catch (err) {
    throw unreadableModel(onnxFile, `by onnxruntime (${firstLine(err)})`);
  }
}

/** The one message for a model file that cannot be read, whoever found out. */
export function unreadableModel(file: string, how: string): EngineError {
  return new EngineError('invalid-model', `${file} could not be loaded ${how}; the file may be truncated or corrupt: download it again.`);
}

/** Physical cores from /proc/cpuinfo (distinct physical id + core id pairs); elsewhere the logical count. */
export function physicalCores(): number {
  try {
    const pairs = new Set<string>();
    let physical = '';
    for (const line of fs.readFileSync('/proc/cpuinfo', 'utf8').split('\n')) {
      const [key, value] = line.split(':').map((s) => s.trim());
      if (key === 'physical id') physical = value;
      else if (key === 'core id') pairs.add(`${physical}/${value}`);
    }
    if (pairs.size > 0) return pairs.size;
  } catch {
    // not Linux
  }
  return Math.max(1, os.availableParallelism());
}

/** A published file behind the Decoder contract: new present tensors every step, truncation by copying. */
export class PublishedDecoder implements Decoder {
  readonly ranksAlternatives = true;
  readonly givesRowLogits = true;
  private past: PastState;
  constructor(private readonly onnx: OnnxDecoder) {
    this.past = onnx.emptyPast();
  }

  get layout(): 'newer' | 'merged' {
    return this.onnx.layout;
  }

  get kvType(): 'float32' | 'float16' {
    return this.onnx.kvType;
  }

  get length(): number {
    return this.past.length;
  }

  async feed(ids: readonly TokenId[], wantSurprisals: boolean, rankFrom?: number, logitsFrom?: number): Promise<DecoderOutput> {
    let result: ForwardResult;
    try {
      result = await this.onnx.forward(ids, this.past);
    } catch (err) {
      this.past = this.onnx.emptyPast();
      throw err;
    }
    this.past = result.past;
    const V = result.logits.length / ids.length;
    const innerSurprisals = new Float32Array(wantSurprisals ? ids.length - 1 : 0);
    const innerAlternatives: TopAlternatives[] | undefined = rankFrom === undefined ? undefined : [];
    const firstRanked = Math.max(1, rankFrom ?? ids.length);
    for (let j = wantSurprisals ? 0 : firstRanked - 1; j + 1 < ids.length; j++) {
      // Row j predicts token j + 1: its surprisal and (when asked) its alternatives, from one normaliser.
      const row = result.logits.subarray(j * V, j * V + Math.min(V, TOKENIZER_VOCAB_SIZE));
      const norm = logSumExp(row);
      if (wantSurprisals) innerSurprisals[j] = norm - row[ids[j + 1]];
      if (innerAlternatives && j + 1 >= firstRanked) innerAlternatives.push(topAlternatives(row, ALTERNATIVES_K, norm));
    }
    if (logitsFrom !== undefined) {
      const rowLogits = result.logits.subarray(Math.min(ids.length - 1, Math.max(0, logitsFrom)) * V);
      return { logits: rowLogits.subarray(rowLogits.length - V), innerSurprisals, innerAlternatives, rowLogits, logitsWidth: V };
    }
    // A copy of the last row, so that the whole [seq, vocab] buffer can be freed.
    return { logits: result.logits.slice((ids.length - 1) * V), innerSurprisals, innerAlternatives };
  }

  truncate(length: number): void {
    this.past = this.onnx.truncatePast(this.past, length);
  }

  dispose(): Promise<void> {
    return this.onnx.dispose();
  }
}

/** A graph input or output as onnxruntime's session metadata (or the compiler's ONNX reader) describes it. */
export interface IoMetadata {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  readonly shape?: readonly (number | string)[];
}

/**
 * Checks a published CodeGen graph's inputs and outputs against config.json (before it is run, or compiled):
 * one message listing what does not fit.
 */
export function checkSignature(
  io: { readonly inputs: readonly IoMetadata[]; readonly outputs: readonly IoMetadata[] },
  config: CodeGenConfig,
  file: string,
): { layout: 'newer' | 'merged'; kvType: 'float32' | 'float16'; hasPositionIds: boolean; logitsWidthChecked: boolean } {
  const inputs = new Map(io.inputs.map((m) => [m.name, m]));
  const outputs = new Set(io.outputs.map((m) => m.name));
  const problems: string[] = [];
  for (const name of ['input_ids', 'attention_mask']) if (!inputs.has(name)) problems.push(`no input "${name}"`);
  if (!outputs.has('logits')) problems.push('no output "logits"');
  const logitsMeta = io.outputs.find((m) => m.name === 'logits');
  const logitsWidth = logitsMeta?.isTensor && logitsMeta.shape ? logitsMeta.shape[logitsMeta.shape.length - 1] : undefined;
  if (typeof logitsWidth === 'number' && logitsWidth !== config.vocabSize) {
    problems.push(`its logits are ${logitsWidth} wide, but config.json has vocab_size ${config.vocabSize}`);
  }
  const pastLayers = [...inputs.keys()].filter((n) => /^past_key_values\.\d+\.key$/.test(n)).length;
  if (pastLayers !== config.nLayer) {
    problems.push(`${pastLayers} layers of past_key_values inputs, but config.json has n_layer ${config.nLayer}`);
  }
  let kvType: 'float32' | 'float16' = 'float32';
  for (let i = 0; i < config.nLayer && problems.length === 0; i++) {
    for (const kind of ['key', 'value']) {
      const meta = inputs.get(`past_key_values.${i}.${kind}`);
      if (!meta) {
        problems.push(`no input "past_key_values.${i}.${kind}"`);
        continue;
      }
      if (!outputs.has(`present.${i}.${kind}`)) problems.push(`no output "present.${i}.${kind}"`);
      if (meta.isTensor && meta.shape) {
        if (meta.type === 'float16') kvType = 'float16';
        else if (meta.type !== 'float32') problems.push(`past_key_values.${i}.${kind} has type ${meta.type}`);
        const [, heads, , dim] = meta.shape;
        if (typeof heads === 'number' && heads !== config.nHead) {
          problems.push(`past_key_values.${i}.${kind} has ${heads} heads, config.json has n_head ${config.nHead}`);
        }
        if (typeof dim === 'number' && dim !== config.headDim) {
          problems.push(`past_key_values.${i}.${kind} has head size ${dim}, config.json implies ${config.headDim}`);
        }
      }
    }
  }
  if (problems.length > 0) {
    throw new EngineError(
      'invalid-model',
      `${file} does not fit config.json or is not a CodeGen decoder with a KV cache: ${problems.slice(0, 4).join('; ')}. ` +
        `Use the config.json published with this ONNX file (both from one hub repository: codegen-mt download), or an export of a CodeGen model.`,
    );
  }
  const layout = inputs.has('use_cache_branch') ? 'merged' : 'newer';
  return { layout, kvType, hasPositionIds: inputs.has('position_ids'), logitsWidthChecked: typeof logitsWidth === 'number' };
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0].slice(0, 300);
}
