// The machine's memory read bandwidth with N threads, three ways, each reading buffers far larger than any cache
// (best of several passes each); the highest is the figure the decode floor uses, since decoding cannot beat what
// any of them shows the memory can deliver:
// - js-sum: N worker threads each summing their own 512 MB Float64Array (8 accumulators, warmed up first);
//   scalar loads, so it tends to stay below what vector code reaches;
// - ort-reducesum: onnxruntime's ReduceSum over a [2, 128M] float32 tensor (1 GiB) with N intra-op threads;
// - ort-gemv: onnxruntime's MatMul of [1, 8192] by a [8192, 16384] float32 matrix (512 MB) with N threads: the
//   kernel that decoding itself runs (one token's matrix-vector products), reading every weight once.
// The two ONNX graphs are written with the compiler's ONNX writer.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { DataType, GraphWriter, writeOnnxModel, type AttributeValue } from '../src/engine/compiler/onnxFormat';
import { Worker } from 'node:worker_threads';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const a = new Float64Array(workerData.elements);
a.fill(1);
function sum(n) {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
  for (let i = 0; i < n; i += 8) {
    s0 += a[i]; s1 += a[i + 1]; s2 += a[i + 2]; s3 += a[i + 3];
    s4 += a[i + 4]; s5 += a[i + 5]; s6 += a[i + 6]; s7 += a[i + 7];
  }
  return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
}
for (let i = 0; i < 20; i++) sum(1 << 16);
parentPort.on('message', () => {
  const t = performance.now();
  const s = sum(a.length);
  parentPort.postMessage({ ms: performance.now() - t, ok: s === a.length });
});
parentPort.postMessage('ready');
`;

export interface MethodFigures {
  readonly bytesPerPass: number;
  /** GB/s (10^9 bytes) of each pass. */
  readonly passes: number[];
  readonly gbPerSecond: number;
}

export interface Bandwidth {
  readonly threads: number;
  /** The highest of the methods. */
  readonly gbPerSecond: number;
  readonly method: string;
  readonly methods: Record<string, MethodFigures>;
}

const PASSES = 8;

async function jsSum(threads: number, bytesPerThread = 512 * 2 ** 20): Promise<MethodFigures> {
  const elements = Math.floor(bytesPerThread / 64) * 8;
  const workers = Array.from({ length: threads }, () => new Worker(WORKER, { eval: true, workerData: { elements } }));
  const next = (w: Worker) =>
    new Promise<unknown>((resolve, reject) => {
      const fail = (err: Error) => reject(err);
      w.once('error', fail);
      w.once('message', (m) => {
        w.off('error', fail);
        resolve(m);
      });
    });
  try {
    await Promise.all(workers.map(next));
    const passes: number[] = [];
    for (let p = 0; p < PASSES; p++) {
      const t = performance.now();
      const results = (await Promise.all(workers.map((w) => { const r = next(w); w.postMessage('go'); return r; }))) as { ok: boolean }[];
      const ms = performance.now() - t;
      if (!results.every((r) => r.ok)) throw new Error('bandwidth test: wrong sum');
      passes.push((threads * elements * 8) / (ms / 1000) / 1e9);
    }
    return { bytesPerPass: threads * elements * 8, passes, gbPerSecond: Math.max(...passes) };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** A one-node graph, written with the compiler's ONNX writer to a temporary file. */
function oneNodeModel(opType: string, inputs: [string, number[]][], output: [string, number[]], attrs: Record<string, AttributeValue> = {}, opset = 17): string {
  const g = new GraphWriter();
  for (const [name, shape] of inputs) g.inputs.push({ name, dataType: DataType.FLOAT, shape });
  g.node(opType, inputs.map(([name]) => name), { outputs: [output[0]], attrs });
  g.outputs.push({ name: output[0], dataType: DataType.FLOAT, shape: output[1] });
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-bandwidth-')), `${opType}.onnx`);
  writeOnnxModel(file, g, { opsets: { '': opset }, producer: 'codegen-mt bench' });
  return file;
}

async function ortPasses(graph: string, threads: number, feeds: Record<string, ort.Tensor>, bytesPerPass: number): Promise<MethodFigures> {
  const session = await ort.InferenceSession.create(graph, { intraOpNumThreads: threads, interOpNumThreads: 1 });
  try {
    await session.run(feeds); // warm-up
    const passes: number[] = [];
    for (let p = 0; p < PASSES; p++) {
      const t = performance.now();
      await session.run(feeds);
      passes.push(bytesPerPass / ((performance.now() - t) / 1000) / 1e9);
    }
    return { bytesPerPass, passes, gbPerSecond: Math.max(...passes) };
  } finally {
    await session.release();
  }
}

export async function measureReadBandwidth(threads: number): Promise<Bandwidth> {
  const methods: Record<string, MethodFigures> = {};
  methods['js-sum'] = await jsSum(threads);
  {
    const n = 128 * 2 ** 20;
    const data = new Float32Array(2 * n).fill(1);
    const graph = oneNodeModel('ReduceSum', [['X', [2, n]]], ['Y', [2]], { axes: { ints: [1] }, keepdims: { int: 0 } }, 11);
    methods['ort-reducesum'] = await ortPasses(graph, threads, { X: new ort.Tensor('float32', data, [2, n]) }, data.byteLength);
  }
  {
    const [k, n] = [8192, 16384];
    const w = new Float32Array(k * n).fill(0.5);
    const graph = oneNodeModel('MatMul', [['A', [1, k]], ['W', [k, n]]], ['Z', [1, n]]);
    const feeds = { A: new ort.Tensor('float32', new Float32Array(k).fill(1), [1, k]), W: new ort.Tensor('float32', w, [k, n]) };
    methods['ort-gemv'] = await ortPasses(graph, threads, feeds, w.byteLength);
  }
  const [method, top] = Object.entries(methods).reduce((a, b) => (b[1].gbPerSecond > a[1].gbPerSecond ? b : a));
  return { threads, gbPerSecond: top.gbPerSecond, method, methods };
}

/** The better of two measurements of the same machine, method by method. */
export function bestOf(a: Bandwidth, b: Bandwidth): Bandwidth {
  const methods: Record<string, MethodFigures> = {};
  for (const key of Object.keys(a.methods)) {
    const [x, y] = [a.methods[key], b.methods[key]];
    methods[key] = y && y.gbPerSecond > x.gbPerSecond ? y : x;
  }
  const [method, top] = Object.entries(methods).reduce((p, q) => (q[1].gbPerSecond > p[1].gbPerSecond ? q : p));
  return { threads: a.threads, gbPerSecond: top.gbPerSecond, method, methods };
}
