// Where the compiler gets a CodeGen's parameters from. The graph builder asks by checkpoint name
// (`transformer.h.3.attn.qkv_proj`, `lm_head.bias`, ...); each source answers from its own format. The published
// ONNX exports keep the names of embeddings, layer norms and biases, but their Linear weights become anonymous
// MatMul operands: those are found by their place in the architecture (the module path of the MatMul that
// consumes them, or else their shape and order), never by matching the exporter's graph node by node.
import { EngineError } from '../../protocol/errors';
import type { CodeGenConfig } from '../modelFolder';
import { checkSignature, unreadableModel } from '../onnx';
import { DataType, readOnnxModel, type SourceGraph, type SourceNode, type SourceTensor } from './onnxFormat';

export interface CodeGenWeights {
  /** The token embedding, [vocab_size, n_embd] row-major. */
  embedding(): Float32Array;
  /** A Linear layer's weight as MatMul's right operand: [in, out] row-major. `module` as in the checkpoint. */
  linear(module: string): Float32Array;
  /** The same weight as one row per output, [out, in] (PyTorch's layout), where the source holds it that way. */
  linearRows?(module: string): Float32Array;
  /** A one-dimensional parameter by its checkpoint name. */
  vector(name: string): Float32Array;
  /** Lets a source drop what it has read (big sources free memory as the build proceeds). */
  release?(name: string): void;
}

export const LINEAR_KINDS = ['attn.qkv_proj', 'attn.out_proj', 'mlp.fc_in', 'mlp.fc_out'] as const;

/** The parameters of a published CodeGen ONNX file (either layout), read from the file itself. */
export class OnnxExportWeights implements CodeGenWeights {
  /** Checkpoint module or parameter name -> tensor, and whether it is stored [in, out] (MatMul) or [out, in]. */
  private readonly byName = new Map<string, { tensor: SourceTensor; inOut: boolean }>();

  constructor(
    private readonly file: string,
    private readonly config: CodeGenConfig,
  ) {
    let graph: SourceGraph;
    try {
      graph = readOnnxModel(file);
    } catch (err) {
      throw unreadableModel(file, `(${(err as Error).message})`);
    }
    checkSignature(graph, config, file);
    for (const [fullName, tensor] of graph.initializers) {
      const name = fullName.replace(/^model\./, '');
      if (/\.weight$/.test(name) && /(qkv_proj|out_proj|fc_in|fc_out)|^lm_head/.test(name) && tensor.dims.length === 2) {
        this.byName.set(name.slice(0, -'.weight'.length), { tensor, inOut: false }); // kept by name: PyTorch's [out, in]
      } else this.byName.set(name, { tensor, inOut: false });
    }
    this.findLinearWeights(flatten(graph.nodes), graph.initializers);
  }

  embedding(): Float32Array {
    return this.float(this.require('transformer.wte.weight', [this.config.vocabSize, this.config.nEmbd]).tensor);
  }

  linear(module: string): Float32Array {
    const { inFeatures, outFeatures } = linearShape(module, this.config);
    const entry = this.byName.get(module);
    if (!entry) throw this.missing(module);
    const data = this.float(entry.tensor);
    const [rows, cols] = entry.tensor.dims;
    if (entry.inOut && rows === inFeatures && cols === outFeatures) return data;
    if (!entry.inOut && rows === outFeatures && cols === inFeatures) return transpose(data, rows, cols);
    throw new EngineError('invalid-model', `${this.file}: ${module} is [${entry.tensor.dims}], expected [${inFeatures}, ${outFeatures}] from config.json: the file and config.json do not belong together.`);
  }

  vector(name: string): Float32Array {
    const entry = this.byName.get(name);
    if (!entry) throw this.missing(name);
    return this.float(entry.tensor);
  }

  private require(name: string, dims: number[]): { tensor: SourceTensor } {
    const entry = this.byName.get(name);
    if (!entry) throw this.missing(name);
    if (entry.tensor.dims.join() !== dims.join()) {
      throw new EngineError('invalid-model', `${this.file}: ${name} is [${entry.tensor.dims}], expected [${dims}] from config.json: the file and config.json do not belong together.`);
    }
    return entry;
  }

  private missing(name: string): EngineError {
    return new EngineError('invalid-model', `${this.file} has no ${name}: it is not a CodeGen export this compiler can read (use a published fp32 onnx/model.onnx or decoder_model_merged.onnx).`);
  }

  private float(tensor: SourceTensor): Float32Array {
    if (tensor.dataType !== DataType.FLOAT) {
      throw new EngineError('invalid-model', `${this.file}: ${tensor.name} is not float32: compile from the fp32 file (onnx/model.onnx), not a quantized one.`);
    }
    const bytes = tensor.bytes();
    if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  }

  /**
   * Names the anonymous MatMul weights: by the module path in the consuming node's name where the exporter kept
   * one (`/transformer/h.3/attn/qkv_proj/MatMul`), otherwise by shape and order (per layer qkv [E, 3E],
   * out_proj [E, E], fc_in [E, I], fc_out [I, E]; lm_head [E, V]).
   */
  private findLinearWeights(nodes: readonly SourceNode[], initializers: ReadonlyMap<string, SourceTensor>): void {
    const E = this.config.nEmbd;
    const I = this.config.nInner;
    const byShape: Record<string, string> = { [`${E},${3 * E}`]: 'attn.qkv_proj', [`${E},${E}`]: 'attn.out_proj', [`${E},${I}`]: 'mlp.fc_in', [`${I},${E}`]: 'mlp.fc_out' };
    const seen: Record<string, number> = {};
    for (const node of nodes) {
      if (node.opType !== 'MatMul') continue;
      const weight = initializers.get(node.inputs[1]);
      if (!weight || weight.dims.length !== 2) continue;
      let module: string | undefined;
      const path = /h\.(\d+)\/(attn|mlp)\/(qkv_proj|out_proj|fc_in|fc_out)\/MatMul/.exec(node.name);
      if (path) module = `transformer.h.${path[1]}.${path[2]}.${path[3]}`;
      else if (/lm_head\/MatMul/.test(node.name) || weight.dims.join() === `${E},${this.config.vocabSize}`) module = 'lm_head';
      else {
        const kind = byShape[weight.dims.join()];
        if (!kind) continue;
        const layer = seen[kind] ?? 0;
        seen[kind] = layer + 1;
        module = `transformer.h.${layer}.${kind}`;
      }
      if (!this.byName.has(module)) this.byName.set(module, { tensor: weight, inOut: true });
    }
    // Vectors by the module path of the node that consumes them: an exporter that deduplicates equal initializers
    // (zero biases, unit layer-norm weights) keeps one name for many parameters.
    for (const node of nodes) {
      const m = /\/(h\.(\d+)\/(ln_1|mlp\/fc_in|mlp\/fc_out)|ln_f|lm_head)\//.exec(node.name);
      if (!m) continue;
      const module = m[2] !== undefined ? `transformer.h.${m[2]}.${m[3].replace('/', '.')}` : m[1] === 'ln_f' ? 'transformer.ln_f' : 'lm_head';
      const vectors = node.inputs.map((i) => initializers.get(i)).filter((t): t is SourceTensor => t !== undefined && t.dims.length === 1 && t.dims[0] > 1);
      if (node.opType === 'LayerNormalization' && vectors.length === 2) {
        this.byPlace(`${module}.weight`, vectors[0]);
        this.byPlace(`${module}.bias`, vectors[1]);
      } else if (vectors.length === 1 && node.opType === 'Add') this.byPlace(`${module}.bias`, vectors[0]);
      else if (vectors.length === 1 && node.opType === 'Mul' && module.includes('ln_')) this.byPlace(`${module}.weight`, vectors[0]);
    }
  }

  private byPlace(name: string, tensor: SourceTensor): void {
    if (!this.byName.has(name)) this.byName.set(name, { tensor, inOut: false });
  }
}

/** The nodes of a graph in order; an If (the merged layout) contributes its first branch (both share weights). */
function flatten(nodes: readonly SourceNode[]): SourceNode[] {
  const out: SourceNode[] = [];
  for (const node of nodes) {
    if (node.subgraphs.length > 0) out.push(...flatten(node.subgraphs[0].nodes));
    else out.push(node);
  }
  return out;
}

export function linearShape(module: string, config: CodeGenConfig): { inFeatures: number; outFeatures: number } {
  const E = config.nEmbd;
  const I = config.nInner;
  if (module === 'lm_head') return { inFeatures: E, outFeatures: config.vocabSize };
  if (module.endsWith('qkv_proj')) return { inFeatures: E, outFeatures: 3 * E };
  if (module.endsWith('out_proj')) return { inFeatures: E, outFeatures: E };
  if (module.endsWith('fc_in')) return { inFeatures: E, outFeatures: I };
  if (module.endsWith('fc_out')) return { inFeatures: I, outFeatures: E };
  throw new Error(`unknown module ${module}`);
}

function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}
