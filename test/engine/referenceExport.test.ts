// The reference exporter of test/helpers/referenceExport.ts is CodeGen exactly: re-exporting the bundled tiny
// model's weights reproduces the bundled published file (made by PyTorch) output for output, its float64 forward
// reproduces the NumPy fixture, and at codegen-350M's shape (2 layers) its file loads, caches consistently and
// matches the float64 forward, where head-order and rotary-pairing mistakes change the logits a lot (at the tiny
// shape they change nothing). With dedupe, equal parameters become Identity aliases and nothing else changes.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { readOnnxModel } from '../../src/engine/compiler/onnxFormat';
import { LINEAR_KINDS, OnnxExportWeights, type CodeGenWeights } from '../../src/engine/compiler/weights';
import { readCodeGenConfig, type CodeGenConfig } from '../../src/engine/modelFolder';
import { OnnxDecoder } from '../../src/engine/onnx';
import { MODEL_DIR } from '../helpers/model';
import {
  CODEGEN_350M_SHAPE,
  parameterCount,
  parameterNames,
  randomWeights,
  referenceLogits,
  shapeOf,
  writeReferenceModel,
  type ReferenceShape,
} from '../helpers/referenceExport';

interface Fixture {
  input_ids: number[];
  probe_ids: number[];
  logsumexp: number[];
  logits_at_input_ids: number[][];
  logits_at_probe_ids: number[][];
}
const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'tiny-codegen-reference.json'), 'utf8')) as Fixture;
const IDS = fixture.input_ids;
const BUNDLED_FILE = path.join(MODEL_DIR, 'onnx', 'model.onnx');
const TINY = readCodeGenConfig(MODEL_DIR);
const tinyWeights = (): OnnxExportWeights => new OnnxExportWeights(BUNDLED_FILE, TINY);

const scratchDirs: string[] = [];
function scratch(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-refexport-'));
  scratchDirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of scratchDirs) fs.rmSync(dir, { recursive: true, force: true });
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Logits of `ids`: the first `prefill` in one pass, then one token at a time with the past, rows concatenated. */
async function cachedLogits(decoder: OnnxDecoder, ids: readonly number[], prefill: number): Promise<Float32Array> {
  let { logits, past } = await decoder.forward(ids.slice(0, prefill), decoder.emptyPast());
  const V = logits.length / prefill;
  const all = new Float32Array(ids.length * V);
  all.set(logits);
  for (let t = prefill; t < ids.length; t++) {
    ({ logits, past } = await decoder.forward([ids[t]], past));
    assert.equal(past.length, t + 1);
    all.set(logits, t * V);
  }
  return all;
}

async function withDecoder<T>(file: string, config: CodeGenConfig, fn: (d: OnnxDecoder) => Promise<T>): Promise<T> {
  const decoder = await OnnxDecoder.open(file, config);
  try {
    return await fn(decoder);
  } finally {
    await decoder.dispose();
  }
}

function sameParameters(actual: CodeGenWeights, expected: CodeGenWeights, config: CodeGenConfig, names = parameterNames(config)): void {
  for (const name of names) {
    const get = (w: CodeGenWeights): Float32Array =>
      name === 'transformer.wte.weight' ? w.embedding() : name.endsWith('.weight') && !name.includes('ln_') ? w.linear(name.slice(0, -'.weight'.length)) : w.vector(name);
    const a = get(actual);
    const b = get(expected);
    assert.equal(a.length, b.length, name);
    assert.ok(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)), `${name} differs`);
  }
}

// ------------------------------------------------------------------------------------------------- tiny model

test('float64 reference forward = the NumPy fixture; at the tiny shape head-order and rotary-pairing mistakes are invisible', () => {
  const weights = tinyWeights();
  const logits = referenceLogits(weights, TINY, IDS);
  const V = TINY.vocabSize;
  for (let t = 0; t < IDS.length; t++) {
    const row = logits.subarray(t * V, (t + 1) * V);
    let max = -Infinity;
    for (const x of row) max = Math.max(max, x);
    let sum = 0;
    for (const x of row) sum += Math.exp(x - max);
    assert.ok(Math.abs(max + Math.log(sum) - fixture.logsumexp[t]) < 1e-5, `logsumexp at ${t}`);
    IDS.forEach((id, j) => assert.ok(Math.abs(row[id] - fixture.logits_at_input_ids[t][j]) < 1e-5, `logit ${id} at ${t}`));
    fixture.probe_ids.forEach((id, k) => assert.ok(Math.abs(row[id] - fixture.logits_at_probe_ids[t][k]) < 1e-5, `probe ${id} at ${t}`));
  }
  // One head per quarter and rotary_dim 2: these mistakes compute the same function here (hence the 350M-shape test).
  assert.ok(maxAbsDiff(referenceLogits(weights, TINY, IDS, { mistake: 'head-order' }), logits) < 1e-12);
  assert.ok(maxAbsDiff(referenceLogits(weights, TINY, IDS, { mistake: 'rotate-half' }), logits) < 1e-12);
  assert.ok(maxAbsDiff(referenceLogits(weights, TINY, IDS, { mistake: 'qkv-order' }), logits) > 0.5);
});

for (const layerNorm of ['decomposed', 'fused'] as const) {
  test(`tiny (${layerNorm} layer norms): the bundled weights re-exported give the bundled file's logits, prefill and cached`, async () => {
    const dir = scratch();
    const model = writeReferenceModel(dir, shapeOf(TINY), tinyWeights(), { layerNorm });
    assert.deepEqual(model.config, TINY);
    assert.ok(!fs.existsSync(`${model.onnxFile}_data`), 'a small model is one file');
    const bundled = await withDecoder(BUNDLED_FILE, TINY, async (d) => ({ full: (await d.forward(IDS, d.emptyPast())).logits, cached: await cachedLogits(d, IDS, 5) }));
    await withDecoder(model.onnxFile, model.config, async (d) => {
      assert.equal(d.layout, 'newer');
      const { logits } = await d.forward(IDS, d.emptyPast());
      assert.equal(logits.length, IDS.length * 51200);
      assert.ok(maxAbsDiff(logits, bundled.full) < 1e-4, `prefill: ${maxAbsDiff(logits, bundled.full)}`);
      const cached = await cachedLogits(d, IDS, 5);
      assert.ok(maxAbsDiff(cached, bundled.cached) < 1e-4, `cached: ${maxAbsDiff(cached, bundled.cached)}`);
      assert.ok(maxAbsDiff(cached, bundled.full) < 1e-4, `cached vs bundled prefill: ${maxAbsDiff(cached, bundled.full)}`);
      // Prefill over a past of several tokens (the causal mask offset by the past), then the empty-past path again.
      const first = await d.forward(IDS.slice(0, 4), d.emptyPast());
      const rest = await d.forward(IDS.slice(4), first.past);
      assert.ok(maxAbsDiff(rest.logits, bundled.full.subarray(4 * 51200)) < 1e-4);
    });
  });
}

test('tiny: batch of 2, left padding, shifted positions and a non-empty past: every output equals the bundled file\'s', async () => {
  const dir = scratch();
  const model = writeReferenceModel(dir, shapeOf(TINY), tinyWeights());
  const B = 2;
  const P = 3;
  const S = 5;
  const { nHead: H, headDim: D, nLayer: L } = TINY;
  let state = 12345;
  const rand = (): number => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from([50256, 50256, ...IDS.slice(0, 3), ...IDS.slice(3, 8)], BigInt), [B, S]),
    // Row 0: the first cached position and the first new one are padding; row 1 sees everything.
    attention_mask: new ort.Tensor('int64', BigInt64Array.from([0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], BigInt), [B, P + S]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from([2, 2, 3, 4, 5, 3, 4, 5, 6, 7], BigInt), [B, S]),
  };
  for (let i = 0; i < L; i++) {
    for (const kind of ['key', 'value']) feeds[`past_key_values.${i}.${kind}`] = new ort.Tensor('float32', Float32Array.from({ length: B * H * P * D }, rand), [B, H, P, D]);
  }
  const run = async (file: string): Promise<ort.InferenceSession.OnnxValueMapType> => {
    const session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'], graphOptimizationLevel: 'all' });
    try {
      return await session.run(feeds);
    } finally {
      await session.release();
    }
  };
  const expected = await run(BUNDLED_FILE);
  const actual = await run(model.onnxFile);
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort());
  for (const name of Object.keys(expected)) {
    assert.deepEqual(actual[name].dims, expected[name].dims, name);
    const diff = maxAbsDiff(actual[name].data as Float32Array, expected[name].data as Float32Array);
    assert.ok(diff < 1e-4, `${name}: ${diff}`);
  }
  assert.deepEqual(expected.logits.dims, [B, S, 51200]);
  assert.deepEqual(expected['present.0.key'].dims, [B, H, P + S, D]);
});

test('tiny: standard operators only, named as torch names them; the compiler\'s weight finder reads the weights back', () => {
  const dir = scratch();
  const model = writeReferenceModel(dir, shapeOf(TINY), tinyWeights());
  const graph = readOnnxModel(model.onnxFile);
  const standard = new Set(['Gather', 'Shape', 'Add', 'Range', 'Unsqueeze', 'LessOrEqual', 'Greater', 'And', 'Cast', 'Mul', 'Cos', 'Sin', 'Constant', 'ReduceMean', 'Sub', 'Pow', 'Sqrt', 'Div', 'MatMul', 'Reshape', 'Split', 'Concat', 'Transpose', 'Where', 'Softmax', 'Tanh', 'Identity', 'LayerNormalization']);
  for (const node of graph.nodes) {
    assert.equal(node.domain, '', node.name);
    assert.ok(standard.has(node.opType), node.opType);
  }
  const names = new Set(graph.nodes.map((n) => n.name));
  for (let i = 0; i < TINY.nLayer; i++) {
    for (const kind of LINEAR_KINDS) {
      const node = graph.nodes.find((n) => n.name === `/model/h.${i}/${kind.replace('.', '/')}/MatMul`);
      assert.ok(node, `${kind} MatMul of layer ${i}`);
      assert.match(node.inputs[1], /^onnx::MatMul_\d+$/);
    }
    for (const n of ['ln_1/ReduceMean', 'ln_1/Mul', 'ln_1/Add_1', 'mlp/fc_in/Add', 'mlp/fc_out/Add']) assert.ok(names.has(`/model/h.${i}/${n}`), n);
    assert.ok(graph.initializers.has(`transformer.h.${i}.ln_1.weight`) && graph.initializers.has(`transformer.h.${i}.mlp.fc_out.bias`));
  }
  assert.ok(names.has('/model/lm_head/MatMul') && names.has('/model/ln_f/Mul') && names.has('/model/ln_f/Add_1'));
  assert.ok(graph.initializers.has('transformer.wte.weight') && graph.initializers.has('lm_head.bias'));
  assert.deepEqual([...graph.initializers.keys()].filter((n) => n.startsWith('onnx::MatMul_')).length, 4 * TINY.nLayer + 1);
  assert.deepEqual(graph.initializers.get(graph.nodes.find((n) => n.name === '/model/lm_head/MatMul')!.inputs[1])?.dims, [16, 51200]);
  sameParameters(new OnnxExportWeights(model.onnxFile, model.config), tinyWeights(), TINY);
});

// ------------------------------------------------------------------------------------------- codegen-350M shape

test('codegen-350M shape, 2 layers, random weights: quick to write, loads, cached = uncached = float64 reference', async () => {
  const shape: ReferenceShape = { ...CODEGEN_350M_SHAPE, nLayer: 2 };
  const dir = scratch();
  const started = Date.now();
  const model = writeReferenceModel(dir, shape, { seed: 350 });
  const writeMs = Date.now() - started;
  const config = model.config;
  assert.deepEqual([config.nEmbd, config.nHead, config.headDim, config.rotaryDim, config.nInner, config.vocabSize, config.nPositions], [1024, 16, 64, 32, 4096, 51200, 2048]);
  const dataBytes = fs.statSync(`${model.onnxFile}_data`).size;
  assert.ok(dataBytes >= 4 * parameterCount(config) && dataBytes < 4 * parameterCount(config) + 64 * 60, `external data ${dataBytes} bytes`);
  assert.ok(fs.statSync(model.onnxFile).size < 1e6, 'the weights are in model.onnx_data');
  assert.ok(writeMs < 20000, `written in ${writeMs} ms`);

  const ids = IDS.slice(0, 10);
  const V = config.vocabSize;
  const { full, cached } = await withDecoder(model.onnxFile, config, async (d) => ({ full: (await d.forward(ids, d.emptyPast())).logits, cached: await cachedLogits(d, ids, 4) }));
  let spread = 0;
  const argmax = new Set<number>();
  for (let t = 0; t < ids.length; t++) {
    const row = full.subarray(t * V, (t + 1) * V);
    let mean = 0;
    for (const x of row) mean += x / V;
    let variance = 0;
    for (const x of row) variance += (x - mean) ** 2 / V;
    spread += Math.sqrt(variance) / ids.length;
    argmax.add(row.indexOf(Math.max(...row)));
  }
  assert.ok(spread > 1, `logits std ${spread}`);
  assert.ok(argmax.size >= ids.length / 2, `argmax at ${ids.length} positions: ${[...argmax]}`);
  assert.ok(maxAbsDiff(cached, full) < 1e-3, `cached vs uncached: ${maxAbsDiff(cached, full)}`);

  const weights = randomWeights(shape, 350);
  const reference = referenceLogits(weights, config, ids);
  assert.ok(maxAbsDiff(full, reference) < 1e-3, `ONNX vs float64 reference: ${maxAbsDiff(full, reference)}`);
  // The mistakes the tiny shape cannot reveal change the logits by several units here (on the first 5 tokens: causal).
  for (const mistake of ['head-order', 'rotate-half', 'qkv-order'] as const) {
    const wrong = maxAbsDiff(referenceLogits(weights, config, ids.slice(0, 5), { mistake }), reference.subarray(0, 5 * V));
    assert.ok(wrong > 1, `${mistake} moves the logits by only ${wrong}`);
  }

  // What the compiler would read: every parameter, bit for bit.
  sameParameters(new OnnxExportWeights(model.onnxFile, config), weights, config);
});

// ------------------------------------------------------------------------------------------------------ dedupe

test('dedupe: equal parameters stored once, the copies Identity aliases; same logits, same weights read back', async () => {
  const shape: ReferenceShape = { nLayer: 6, nEmbd: 128, nHead: 8, rotaryDim: 8 };
  const spec = { seed: 7, zeroBiases: true, unitNorms: true };
  const plain = writeReferenceModel(scratch(), shape, spec);
  const deduped = writeReferenceModel(scratch(), shape, spec, { dedupe: true });
  const graph = readOnnxModel(deduped.onnxFile);
  const identities = graph.nodes.filter((n) => n.opType === 'Identity');
  const aliasOf = new Map(identities.map((n) => [n.outputs[0], n.inputs[0]]));
  // Zero biases: one [E] zero vector (the first, ln_1.bias of layer 0), one [I] (fc_in.bias of layer 0), lm_head.bias
  // alone; unit norms: one [E] ones vector.
  assert.equal(aliasOf.get('model.transformer.h.5.mlp.fc_out.bias'), 'transformer.h.0.ln_1.bias');
  assert.equal(aliasOf.get('model.transformer.h.0.mlp.fc_out.bias'), 'transformer.h.0.ln_1.bias');
  assert.equal(aliasOf.get('model.transformer.ln_f.bias'), 'transformer.h.0.ln_1.bias');
  assert.equal(aliasOf.get('model.transformer.h.3.mlp.fc_in.bias'), 'transformer.h.0.mlp.fc_in.bias');
  assert.equal(aliasOf.get('model.transformer.h.1.ln_1.weight'), 'transformer.h.0.ln_1.weight');
  assert.equal(aliasOf.get('model.transformer.ln_f.weight'), 'transformer.h.0.ln_1.weight');
  // Aliased: 7 ones [E] (ln_1 and ln_f weights), 13 zeros [E] (ln_1, fc_out and ln_f biases), 6 zeros [I], each less
  // the one kept; lm_head.bias [V] has no equal.
  assert.equal(identities.length, 7 - 1 + (13 - 1) + (6 - 1));
  const stored = readOnnxModel(plain.onnxFile);
  assert.ok(!stored.nodes.some((n) => n.opType === 'Identity'));
  assert.ok(!graph.nodes.some((n) => n.opType === 'MatMul' && n.inputs.some((i) => i.startsWith('model.'))), 'random Linear weights are all distinct');
  for (const consumer of ['/model/h.5/mlp/fc_out/Add', '/model/h.1/ln_1/Mul', '/model/ln_f/Add_1']) {
    assert.ok(graph.nodes.find((n) => n.name === consumer)!.inputs.some((i) => i.startsWith('model.transformer.')), `${consumer} reads an alias`);
  }

  const ids = IDS;
  const logits = async (m: { onnxFile: string; config: CodeGenConfig }): Promise<Float32Array> => withDecoder(m.onnxFile, m.config, async (d) => cachedLogits(d, ids, 6));
  const a = await logits(plain);
  const b = await logits(deduped);
  assert.ok(maxAbsDiff(a, b) < 1e-6, `dedupe changed the logits by ${maxAbsDiff(a, b)}`);
  const reference = referenceLogits(randomWeights(shape, spec), plain.config, ids);
  assert.ok(maxAbsDiff(a, reference) < 1e-3, `vs float64 reference: ${maxAbsDiff(a, reference)}`);
  sameParameters(new OnnxExportWeights(deduped.onnxFile, deduped.config), randomWeights(shape, spec), deduped.config);
});
