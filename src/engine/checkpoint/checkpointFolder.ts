// A model folder as Salesforce publishes it on the hub: config.json and the weights of CodeGenForCausalLM in
// PyTorch's format (pytorch_model.bin), safetensors, or either sharded with an index JSON. The folder has no
// ONNX: the compiler converts it on this machine into the precision asked for, reading one tensor at a time.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError } from '../../protocol/errors';
import type { Precision } from '../compiler/graphBuilder';
import { linearShape, type CodeGenWeights } from '../compiler/weights';
import { transposeBlocked } from '../compiler/layout';
import type { CodeGenConfig } from '../modelFolder';
import { openPytorchCheckpoint } from './pytorchFile';
import { openSafetensors } from './safetensorsFile';
import { elementCount, readFloat32, type CheckpointTensor, type TensorFile } from './tensorFile';

export type CheckpointFormat = 'safetensors' | 'pytorch';

export interface CheckpointSource {
  readonly format: CheckpointFormat;
  /** The file that names the checkpoint: the single weights file, or the index JSON of a sharded one. */
  readonly entry: string;
  /** Every file holding weights (the shards in order, or the single file). */
  readonly files: readonly string[];
}

/** The names a checkpoint may have in a folder, in the order they are preferred (safetensors cannot run code). */
export const CHECKPOINT_ENTRIES: readonly (readonly [string, CheckpointFormat])[] = [
  ['model.safetensors', 'safetensors'],
  ['model.safetensors.index.json', 'safetensors'],
  ['pytorch_model.bin', 'pytorch'],
  ['pytorch_model.bin.index.json', 'pytorch'],
];

/** The checkpoint of a folder, if it has one; an index JSON that cannot be read is an error, not "none". */
export function findCheckpoint(modelDir: string): CheckpointSource | undefined {
  for (const [name, format] of CHECKPOINT_ENTRIES) {
    const entry = path.join(modelDir, name);
    if (!fs.existsSync(entry)) continue;
    const files = name.endsWith('.index.json') ? shardsOf(entry) : [entry];
    return { format, entry, files };
  }
  return undefined;
}

function shardsOf(indexFile: string): string[] {
  let index: unknown;
  try {
    index = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
  } catch (err) {
    throw new EngineError('invalid-model', `${indexFile} cannot be read as JSON (${(err as Error).message}): download the model again.`);
  }
  const map = (index as { weight_map?: unknown })?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new EngineError('invalid-model', `${indexFile} has no "weight_map" object naming the shard of each tensor: download the model again.`);
  }
  const shards: string[] = [];
  for (const [tensor, shard] of Object.entries(map)) {
    if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\') || shard.startsWith('.')) {
      throw new EngineError('invalid-model', `${indexFile}: the shard of ${tensor} is ${JSON.stringify(shard)}, not a file name in the folder: download the model again.`);
    }
    if (!shards.includes(shard)) shards.push(shard);
  }
  return shards.sort().map((s) => path.join(path.dirname(indexFile), s)); // the map is sorted by tensor name, shards by number
}

const FLOAT_DTYPES: ReadonlySet<string> = new Set(['F32', 'F16', 'BF16', 'F64']);

/** Buffers of the published 2022 checkpoints that are not parameters (the converter builds its own masks). */
const IGNORED = /^transformer\.h\.\d+\.attn\.(causal_mask|masked_bias|bias)$/;

/** The parameters of CodeGenForCausalLM for `config`, with PyTorch's shapes ([out, in] for Linear weights). */
export function expectedTensors(config: CodeGenConfig): Map<string, number[]> {
  const E = config.nEmbd;
  const I = config.nInner;
  const V = config.vocabSize;
  const expected = new Map<string, number[]>([['transformer.wte.weight', [V, E]]]);
  for (let i = 0; i < config.nLayer; i++) {
    const p = `transformer.h.${i}`;
    expected.set(`${p}.ln_1.weight`, [E]).set(`${p}.ln_1.bias`, [E]);
    expected.set(`${p}.attn.qkv_proj.weight`, [3 * E, E]).set(`${p}.attn.out_proj.weight`, [E, E]);
    expected.set(`${p}.mlp.fc_in.weight`, [I, E]).set(`${p}.mlp.fc_in.bias`, [I]);
    expected.set(`${p}.mlp.fc_out.weight`, [E, I]).set(`${p}.mlp.fc_out.bias`, [E]);
  }
  expected.set('transformer.ln_f.weight', [E]).set('transformer.ln_f.bias', [E]);
  expected.set('lm_head.weight', [V, E]).set('lm_head.bias', [V]);
  return expected;
}

/** Parameters of a CodeGen with this shape (embeddings and lm_head included). */
export function parameterCount(config: CodeGenConfig): number {
  let n = 0;
  for (const shape of expectedTensors(config).values()) n += elementCount(shape);
  return n;
}

/** The precision a checkpoint converts to when none is asked for: int8 keeps small models close, int4 fits big ones. */
export function defaultCheckpointPrecision(config: CodeGenConfig): Precision {
  return parameterCount(config) < 1.5e9 ? 'int8' : 'int4';
}

export interface CheckedCheckpoint {
  readonly source: CheckpointSource;
  /** Every parameter by name, found in whichever file holds it, shapes checked against config.json. */
  readonly tensors: ReadonlyMap<string, CheckpointTensor>;
  /** Bytes of the parameters as stored. */
  readonly bytes: number;
}

/**
 * Opens the checkpoint's headers (not its weights) and checks it is exactly the CodeGen that config.json
 * describes: every parameter present once with its shape, nothing unknown, every shard there. Cheap: a download
 * validates with it, and the converter starts from it.
 */
export function checkCheckpoint(modelDir: string, config: CodeGenConfig, source = findCheckpoint(modelDir)): CheckedCheckpoint {
  if (!source) {
    throw new EngineError('model-not-found', `${modelDir} has no model.safetensors or pytorch_model.bin (nor a sharded index of either): download the checkpoint (codegen-mt download --repo Salesforce/codegen-350M-mono).`);
  }
  const expected = expectedTensors(config);
  const tensors = new Map<string, CheckpointTensor>();
  let bytes = 0;
  for (const file of source.files) {
    if (!fs.existsSync(file)) {
      throw new EngineError('invalid-model', `${source.entry} names the shard ${path.basename(file)}, which is not in ${modelDir}: download the model again (the download resumes what is missing).`);
    }
    const opened: TensorFile = source.format === 'safetensors' ? openSafetensors(file) : openPytorchCheckpoint(file);
    for (const [name, tensor] of opened.tensors) {
      if (IGNORED.test(name)) continue;
      const shape = expected.get(name);
      if (!shape) {
        throw new EngineError('invalid-model', `${file} holds ${name}, which is not a parameter of CodeGenForCausalLM: this is not a CodeGen checkpoint (or not the one config.json describes); use a Salesforce/codegen-* repository.`);
      }
      if (tensors.has(name)) throw new EngineError('invalid-model', `${name} appears twice in the checkpoint of ${modelDir} (${tensors.get(name)!.file} and ${file}): download the model again.`);
      if (!FLOAT_DTYPES.has(tensor.dtype)) {
        throw new EngineError('invalid-model', `${file}: ${name} holds ${tensor.dtype} values, not floating-point weights: this is not a CodeGen checkpoint the converter can read; use a Salesforce/codegen-* repository.`);
      }
      if (tensor.shape.join() !== shape.join()) {
        throw new EngineError('invalid-model', `${file}: ${name} is [${tensor.shape}], but config.json's shape needs [${shape}]: the checkpoint and config.json do not belong together; download the model again.`);
      }
      tensors.set(name, tensor);
      bytes += tensor.byteLength;
    }
  }
  const missing = [...expected.keys()].filter((name) => !tensors.has(name));
  if (missing.length > 0) {
    const shown = missing.slice(0, 3).join(', ') + (missing.length > 3 ? ` and ${missing.length - 3} more` : '');
    throw new EngineError('invalid-model', `The checkpoint of ${modelDir} lacks ${shown}: it is incomplete (a shard missing from its index?) or not a CodeGen; download the model again.`);
  }
  return { source, tensors, bytes };
}

/** The compiler's view of a checked checkpoint: each tensor read from disk when the graph builder asks for it. */
export class CheckpointWeights implements CodeGenWeights {
  constructor(
    private readonly checked: CheckedCheckpoint,
    private readonly config: CodeGenConfig,
  ) {}

  embedding(): Float32Array {
    return this.read('transformer.wte.weight');
  }

  linear(module: string): Float32Array {
    const { inFeatures, outFeatures } = linearShape(module, this.config);
    return transposeBlocked(this.linearRows(module), outFeatures, inFeatures);
  }

  linearRows(module: string): Float32Array {
    return this.read(`${module}.weight`);
  }

  vector(name: string): Float32Array {
    return this.read(name);
  }

  private read(name: string): Float32Array {
    const tensor = this.checked.tensors.get(name);
    if (!tensor) throw new EngineError('invalid-model', `The checkpoint has no ${name}.`); // checkCheckpoint rules this out
    return readFloat32(tensor);
  }
}
