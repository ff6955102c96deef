// ONNX files as the compiler needs them: reading a published model's initializers and nodes (weights stay in
// the file's buffer until asked for), and writing a fresh graph, with large weights in an external data file.
// Field numbers are onnx.proto3's.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fieldFloat, fields, fieldString, fieldVarints, ProtoWriter, WireType } from './protobuf';

export const enum DataType {
  FLOAT = 1,
  UINT8 = 2,
  INT8 = 3,
  INT32 = 6,
  INT64 = 7,
  BOOL = 9,
  FLOAT16 = 10,
}

const ELEMENT_BYTES: Record<number, number> = { 1: 4, 2: 1, 3: 1, 6: 4, 7: 8, 9: 1, 10: 2 };

export interface SourceTensor {
  readonly name: string;
  readonly dataType: number;
  readonly dims: readonly number[];
  /** The tensor's bytes (little-endian, row-major): a view into the file, or read from its external data. */
  bytes(): Uint8Array;
}

export interface SourceNode {
  readonly opType: string;
  readonly name: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  /** Subgraphs of If/Loop nodes, in attribute order. */
  readonly subgraphs: readonly SourceGraph[];
}

export interface SourceGraph {
  readonly nodes: readonly SourceNode[];
  readonly initializers: ReadonlyMap<string, SourceTensor>;
  /** The graph's declared inputs and outputs, described as onnxruntime's session metadata describes them. */
  readonly inputs: readonly ValueMetadata[];
  readonly outputs: readonly ValueMetadata[];
}

export interface ValueMetadata {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  readonly shape: readonly (number | string)[];
}

const TYPE_NAMES: Record<number, string> = { 1: 'float32', 2: 'uint8', 3: 'int8', 6: 'int32', 7: 'int64', 9: 'bool', 10: 'float16' };

export class OnnxReadError extends Error {}

/** Parses an ONNX model file; initializers of subgraphs are merged into the one map (names are unique). */
export function readOnnxModel(file: string): SourceGraph {
  const buf = fs.readFileSync(file);
  const dir = path.dirname(file);
  const initializers = new Map<string, SourceTensor>();
  let graph: SourceGraph | undefined;
  for (const f of fields(buf)) if (f.field === 7) graph = readGraph(buf, f.start, f.end, dir, initializers);
  if (!graph) throw new OnnxReadError(`${file} holds no graph`);
  // Exporters alias one deduplicated initializer under many names with Identity nodes: those names are read too.
  const alias = (nodes: readonly SourceNode[]): void => {
    for (const node of nodes) {
      const target = initializers.get(node.inputs[0]);
      if (node.opType === 'Identity' && target && node.outputs.length === 1) initializers.set(node.outputs[0], { ...target, name: node.outputs[0] });
      for (const sub of node.subgraphs) alias(sub.nodes);
    }
  };
  alias(graph.nodes);
  return { ...graph, initializers };
}

function readGraph(buf: Buffer, start: number, end: number, dir: string, initializers: Map<string, SourceTensor>): SourceGraph {
  const nodes: SourceNode[] = [];
  const inputs: ValueMetadata[] = [];
  const outputs: ValueMetadata[] = [];
  for (const f of fields(buf, start, end)) {
    if (f.field === 1) nodes.push(readNode(buf, f.start, f.end, dir, initializers));
    else if (f.field === 5) {
      const t = readTensor(buf, f.start, f.end, dir);
      initializers.set(t.name, t);
    } else if (f.field === 11) inputs.push(readValueInfo(buf, f.start, f.end));
    else if (f.field === 12) outputs.push(readValueInfo(buf, f.start, f.end));
  }
  return { nodes, initializers, inputs: inputs.filter((i) => !initializers.has(i.name)), outputs };
}

function readValueInfo(buf: Buffer, start: number, end: number): ValueMetadata {
  let name = '';
  let type: string | undefined;
  let isTensor = false;
  const shape: (number | string)[] = [];
  for (const f of fields(buf, start, end)) {
    if (f.field === 1) name = fieldString(buf, f);
    else if (f.field === 2) {
      for (const t of fields(buf, f.start, f.end)) {
        if (t.field !== 1) continue;
        isTensor = true;
        for (const tt of fields(buf, t.start, t.end)) {
          if (tt.field === 1) type = TYPE_NAMES[tt.value] ?? `type ${tt.value}`;
          else if (tt.field === 2) {
            for (const d of fields(buf, tt.start, tt.end)) {
              if (d.field !== 1) continue;
              let dim: number | string = '?';
              for (const v of fields(buf, d.start, d.end)) dim = v.field === 1 ? v.value : v.field === 2 ? fieldString(buf, v) : dim;
              shape.push(dim);
            }
          }
        }
      }
    }
  }
  return { name, isTensor, type, shape };
}

function readNode(buf: Buffer, start: number, end: number, dir: string, initializers: Map<string, SourceTensor>): SourceNode {
  const node = { opType: '', name: '', domain: '', inputs: [] as string[], outputs: [] as string[], subgraphs: [] as SourceGraph[] };
  let constant: SourceTensor | undefined;
  for (const f of fields(buf, start, end)) {
    if (f.field === 1) node.inputs.push(fieldString(buf, f));
    else if (f.field === 2) node.outputs.push(fieldString(buf, f));
    else if (f.field === 3) node.name = fieldString(buf, f);
    else if (f.field === 4) node.opType = fieldString(buf, f);
    else if (f.field === 7) node.domain = fieldString(buf, f);
    else if (f.field === 5) {
      // AttributeProto: graph-valued attributes (If branches), and the tensor of a Constant node.
      for (const a of fields(buf, f.start, f.end)) {
        if (a.field === 6) node.subgraphs.push(readGraph(buf, a.start, a.end, dir, initializers));
        else if (a.field === 5) constant = readTensor(buf, a.start, a.end, dir);
      }
    }
  }
  // An exporter may emit a parameter as a Constant node instead of an initializer: it is read as one.
  if (node.opType === 'Constant' && constant && node.outputs.length === 1) initializers.set(node.outputs[0], { ...constant, name: node.outputs[0] });
  return node;
}

function readTensor(buf: Buffer, start: number, end: number, dir: string): SourceTensor {
  let name = '';
  let dataType = 0;
  const dims: number[] = [];
  let raw: [number, number] | undefined;
  const floats: number[] = [];
  const external = new Map<string, string>();
  for (const f of fields(buf, start, end)) {
    if (f.field === 1) dims.push(...fieldVarints(buf, f));
    else if (f.field === 2) dataType = f.value;
    else if (f.field === 8) name = fieldString(buf, f);
    else if (f.field === 9) raw = [f.start, f.end];
    else if (f.field === 4) {
      if (f.wireType === WireType.Fixed32) floats.push(fieldFloat(buf, f));
      else for (let p = f.start; p < f.end; p += 4) floats.push(buf.readFloatLE(p));
    } else if (f.field === 13) {
      let key = '';
      let value = '';
      for (const e of fields(buf, f.start, f.end)) {
        if (e.field === 1) key = fieldString(buf, e);
        else if (e.field === 2) value = fieldString(buf, e);
      }
      external.set(key, value);
    }
  }
  const count = dims.reduce((a, b) => a * b, 1);
  const bytes = (): Uint8Array => {
    if (raw) return buf.subarray(raw[0], raw[1]);
    if (external.has('location')) {
      const length = Number(external.get('length') ?? count * (ELEMENT_BYTES[dataType] ?? 0));
      const fd = fs.openSync(path.join(dir, external.get('location')!), 'r');
      try {
        const out = Buffer.allocUnsafe(length);
        fs.readSync(fd, out, 0, length, Number(external.get('offset') ?? 0));
        return out;
      } finally {
        fs.closeSync(fd);
      }
    }
    if (dataType === DataType.FLOAT) return new Uint8Array(Float32Array.from(floats).buffer);
    throw new OnnxReadError(`initializer ${name} stores its data in a form this reader does not handle`);
  };
  return { name, dataType, dims, bytes };
}

// ---------------------------------------------------------------------------------------------------------------

export type AttributeValue =
  | { readonly int: number }
  | { readonly float: number }
  | { readonly string: string }
  | { readonly ints: readonly number[] }
  | { readonly floats: readonly number[] };

export interface NewTensor {
  readonly name: string;
  readonly dataType: DataType;
  readonly dims: readonly number[];
  readonly data: Uint8Array;
}

export interface ValueInfo {
  readonly name: string;
  readonly dataType: DataType;
  /** Numbers are fixed sizes, strings symbolic dimensions. */
  readonly shape: readonly (number | string)[];
}

/** Tensors at least this big go to the external data file. */
const EXTERNAL_THRESHOLD = 1024;

/**
 * A graph under construction: nodes in execution order, weights, inputs and outputs. With an external data file,
 * each weight is written there as soon as it is added, so building a big model holds one tensor at a time.
 */
export class GraphWriter {
  readonly nodes: ProtoWriter[] = [];
  readonly initializers: ProtoWriter[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  /** Bytes of weights added so far. */
  weightBytes = 0;
  private counter = 0;
  private dataFd: number | undefined;
  private dataOffset = 0;

  constructor(private readonly externalDataFile?: string) {
    if (externalDataFile) this.dataFd = fs.openSync(externalDataFile, 'w');
  }

  /** Adds a node; returns its output names (fresh names for outputs not given). */
  node(opType: string, inputs: readonly string[], options: { outputs?: number | readonly string[]; attrs?: Record<string, AttributeValue>; domain?: string; name?: string } = {}): string[] {
    const id = this.counter++;
    const outputs =
      typeof options.outputs === 'object' ? [...options.outputs] : Array.from({ length: options.outputs ?? 1 }, (_, i) => `${opType}_${id}_${i}`);
    const w = new ProtoWriter();
    for (const i of inputs) w.string(1, i);
    for (const o of outputs) w.string(2, o);
    w.string(3, options.name ?? `${opType}_${id}`);
    w.string(4, opType);
    if (options.domain) w.string(7, options.domain);
    for (const [name, value] of Object.entries(options.attrs ?? {})) w.message(5, attribute(name, value));
    this.nodes.push(w);
    return outputs;
  }

  /** Adds a weight and returns its name. */
  initializer(tensor: NewTensor): string {
    const count = tensor.dims.reduce((a, b) => a * b, 1);
    if (tensor.data.length !== count * (ELEMENT_BYTES[tensor.dataType] ?? 1)) {
      throw new Error(`initializer ${tensor.name}: ${tensor.data.length} bytes for dims [${tensor.dims}]`);
    }
    const tw = new ProtoWriter().packedInts(1, tensor.dims).int(2, tensor.dataType).string(8, tensor.name);
    if (this.dataFd !== undefined && tensor.data.length >= EXTERNAL_THRESHOLD) {
      // Aligned to 64 bytes so that a mapped file gives aligned weights.
      const pad = (64 - (this.dataOffset % 64)) % 64;
      if (pad) writeAll(this.dataFd, new Uint8Array(pad));
      this.dataOffset += pad;
      writeAll(this.dataFd, tensor.data);
      const entry = (k: string, v: string): ProtoWriter => new ProtoWriter().string(1, k).string(2, v);
      tw.message(13, entry('location', path.basename(this.externalDataFile!)))
        .message(13, entry('offset', String(this.dataOffset)))
        .message(13, entry('length', String(tensor.data.length)))
        .int(14, 1);
      this.dataOffset += tensor.data.length;
    } else {
      tw.bytes(9, Uint8Array.from(tensor.data));
    }
    this.initializers.push(tw);
    this.weightBytes += tensor.data.length;
    return tensor.name;
  }

  int64s(name: string, values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.initializer({ name, dataType: DataType.INT64, dims, data: new Uint8Array(BigInt64Array.from(values, BigInt).buffer) });
  }

  floats(name: string, values: Float32Array, dims: readonly number[]): string {
    return this.initializer({ name, dataType: DataType.FLOAT, dims, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
  }

  /** Closes the external data file (also on failure). */
  close(): void {
    if (this.dataFd !== undefined) fs.closeSync(this.dataFd);
    this.dataFd = undefined;
  }
}

function attribute(name: string, value: AttributeValue): ProtoWriter {
  const w = new ProtoWriter().string(1, name);
  if ('int' in value) w.int(20, 2).int(3, value.int);
  else if ('float' in value) w.int(20, 1).float(2, value.float);
  else if ('string' in value) w.int(20, 3).string(4, value.string);
  else if ('ints' in value) w.int(20, 7).packedInts(8, value.ints);
  else w.int(20, 6).packedFloats(7, value.floats);
  return w;
}

function valueInfo(v: ValueInfo): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.shape) shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  const tensorType = new ProtoWriter().int(1, v.dataType).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensorType));
}

export interface WriteOptions {
  readonly opsets: Readonly<Record<string, number>>;
  readonly producer: string;
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Writes the model file (the weights are already in the external data file, if the graph has one). */
export function writeOnnxModel(file: string, graph: GraphWriter, options: WriteOptions): void {
  graph.close();
  const g = new ProtoWriter();
  for (const n of graph.nodes) g.message(1, n);
  g.string(2, 'codegen_decoder');
  for (const t of graph.initializers) g.message(5, t);
  for (const v of graph.inputs) g.message(11, valueInfo(v));
  for (const v of graph.outputs) g.message(12, valueInfo(v));
  const m = new ProtoWriter().int(1, 8).string(2, options.producer);
  for (const [domain, version] of Object.entries(options.opsets)) m.message(8, new ProtoWriter().string(1, domain).int(2, version));
  m.message(7, g);
  for (const [key, value] of Object.entries(options.metadata ?? {})) m.message(14, new ProtoWriter().string(1, key).string(2, value));
  const fd = fs.openSync(file, 'w');
  try {
    for (const part of m.parts) writeAll(fd, part);
  } finally {
    fs.closeSync(fd);
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  for (let done = 0; done < data.length; ) done += fs.writeSync(fd, data, done, data.length - done);
}
