// The model compiler: its fp32 graph is exact against the published files (both layouts), its KV buffer behaves
// like the cache it replaces, its quantized graphs stay within stated tolerances, and the compile cache is reused,
// invalidated and cleaned up as it should be.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { cacheEntryDir, compileModel, ensureCompiled, type CompileProgress } from '../../src/engine/compiler/compile';
import type { Precision } from '../../src/engine/compiler/graphBuilder';
import { DataType, GraphWriter, writeOnnxModel } from '../../src/engine/compiler/onnxFormat';
import { fields, fieldString, ProtoWriter } from '../../src/engine/compiler/protobuf';
import { quantizeBlockwise, quantizeRowsSymmetric } from '../../src/engine/compiler/quantize';
import { CompiledDecoder } from '../../src/engine/compiledDecoder';
import { surprisalOf } from '../../src/engine/decoder';
import { readCodeGenConfig } from '../../src/engine/modelFolder';
import { OnnxDecoder } from '../../src/engine/onnx';
import { TOKENIZER_VOCAB_SIZE } from '../../src/engine/tokenizer';
import { MODEL_DIR, scratchModelCopy } from '../helpers/model';
import { CODEGEN_350M_SHAPE, writeReferenceModel } from '../helpers/referenceExport';

const reference = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'tiny-codegen-reference.json'), 'utf8')) as {
  input_ids: number[];
  greedy_new_tokens: number[];
};
const config = readCodeGenConfig(MODEL_DIR);
const V = TOKENIZER_VOCAB_SIZE;

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-compiled-'));
}

async function compiled(precision: Precision, modelDir = MODEL_DIR): Promise<CompiledDecoder> {
  const file = await compileModel(modelDir, precision, tempDir());
  return CompiledDecoder.open(file, config);
}

const argmax = (row: Float32Array): number => {
  let best = 0;
  for (let i = 1; i < V; i++) if (row[i] > row[best]) best = i;
  return best;
};

/** Every row of logits of the published file for `ids` (no cache), cut to the tokenizer's vocabulary. */
async function publishedRows(stem: string, ids: readonly number[]): Promise<Float32Array[]> {
  const decoder = await OnnxDecoder.open(path.join(MODEL_DIR, 'onnx', `${stem}.onnx`), config);
  const { logits } = await decoder.forward(ids, decoder.emptyPast());
  await decoder.dispose();
  const W = logits.length / ids.length;
  return ids.map((_, t) => logits.slice(t * W, t * W + V));
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < V; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** The logits' standard deviation: what a logit error is measured against. */
function spread(logits: Float32Array): number {
  const mean = logits.reduce((a, b) => a + b, 0) / V;
  let sum = 0;
  for (let i = 0; i < V; i++) sum += (logits[i] - mean) ** 2;
  return Math.sqrt(sum / V);
}

for (const stem of ['model', 'decoder_model_merged']) {
  test(`the compiled fp32 graph gives the published ${stem}.onnx's logits, surprisals and greedy tokens`, async () => {
    const dir = scratchModelCopy();
    if (stem !== 'model') fs.rmSync(path.join(dir, 'onnx', 'model.onnx'));
    const decoder = await compiled('fp32', dir);
    const ids = reference.input_ids;
    const rows = await publishedRows(stem, ids);
    // One prefill of all but the last token, then the last token as a decode step.
    const prefill = await decoder.feed(ids.slice(0, -1), true);
    assert.ok(maxAbsDiff(prefill.logits, rows[ids.length - 2]) < 1e-4, 'prefill logits');
    assert.equal(prefill.innerSurprisals.length, ids.length - 2);
    for (let j = 0; j < ids.length - 2; j++) {
      assert.ok(Math.abs(prefill.innerSurprisals[j] - surprisalOf(rows[j], ids[j + 1])) < 1e-4, `surprisal of token ${j + 1}`);
    }
    const step = await decoder.feed(ids.slice(-1), false);
    assert.equal(step.logits.length, V, 'the lm_head is cut to the tokenizer');
    assert.equal(step.innerSurprisals.length, 0, 'a decode step computes no surprisal');
    assert.ok(maxAbsDiff(step.logits, rows[ids.length - 1]) < 1e-4, 'decode-step logits');
    const greedy: number[] = [];
    let logits = step.logits;
    for (let i = 0; i < reference.greedy_new_tokens.length; i++) {
      greedy.push(argmax(logits));
      logits = (await decoder.feed([greedy[i]], false)).logits;
    }
    assert.deepEqual(greedy, reference.greedy_new_tokens);
    await decoder.dispose();
  });
}

test('the KV buffer: chunked prefill, decode steps, truncation and growth past its capacity agree', async () => {
  const ids = Array.from({ length: 600 }, (_, i) => (i * 7919 + 13) % 50000);
  const whole = await compiled('fp32');
  const expected = (await whole.feed(ids, false)).logits;
  // Chunks and steps crossing several capacity steps (64 tokens each).
  const chunked = await compiled('fp32');
  await chunked.feed(ids.slice(0, 200), false);
  await chunked.feed(ids.slice(200, 300), false);
  for (let i = 300; i < 520; i++) await chunked.feed([ids[i]], false);
  const last = await chunked.feed(ids.slice(520), false);
  assert.ok(maxAbsDiff(last.logits, expected) < 1e-4, 'chunked and stepped');
  // Forget a tail and feed it again: the stale keys and values beyond the new length must not matter.
  chunked.truncate(150);
  assert.equal(chunked.length, 150);
  await chunked.feed([1, 2, 3], false);
  chunked.truncate(150);
  const again = await chunked.feed(ids.slice(150), false);
  assert.ok(maxAbsDiff(again.logits, expected) < 1e-4, 'after truncation');
  assert.equal(chunked.length, 600);
  await whole.dispose();
  await chunked.dispose();
});

test('quantized graphs stay within their tolerances of fp32 (bundled model)', async () => {
  const ids = reference.input_ids;
  const fp32 = await compiled('fp32');
  const expected = (await fp32.feed(ids, true)).logits;
  await fp32.dispose();
  // Largest logit error as a share of the logits' standard deviation. The bundled model's random weights are
  // drawn wide on purpose (its greedy choices must be fragile), which 4 bits resolve badly; quality on a trained
  // model is measured by bench/quality.ts (README: precisions). Measured here: fp16 0.003, int8 0.083, int4 0.73.
  const tolerance: Record<string, number> = { fp16: 0.01, int8: 0.15, int4: 1.0 };
  for (const precision of ['fp16', 'int8', 'int4'] as const) {
    const decoder = await compiled(precision);
    const { logits } = await decoder.feed(ids, true);
    const relative = maxAbsDiff(logits, expected) / spread(expected);
    assert.ok(relative < tolerance[precision], `${precision}: largest logit error ${relative.toFixed(4)} of the spread`);
    assert.ok(relative > 0 || precision === 'fp16', `${precision} is really quantized`);
    await decoder.dispose();
  }
});

test('an int8 embedding: each row within half a step of its scale, and the graph within a small error of the fp16 embedding\'s', async () => {
  const rows = Float32Array.of(0.5, -1.27, 0.003, 0, 0, 0, 2e-6, -3e-6, 1e-6);
  const { codes, scales } = quantizeRowsSymmetric(rows, 3, 3);
  assert.deepEqual(Array.from(codes.slice(0, 3)), [50, -127, 0]);
  assert.deepEqual(Array.from(codes.slice(3, 6)), [0, 0, 0], 'an all-zero row');
  for (let i = 0; i < rows.length; i++) {
    const scale = scales[Math.floor(i / 3)];
    assert.ok(Math.abs(codes[i] * scale - rows[i]) <= scale / 2 + 1e-12, `value ${i}`);
  }

  const ids = reference.input_ids;
  const fp16File = await compileModel(MODEL_DIR, 'fp16', tempDir());
  const fp16Decoder = await CompiledDecoder.open(fp16File, config);
  const expected = (await fp16Decoder.feed(ids, true)).logits;
  await fp16Decoder.dispose();
  const int8File = await compileModel(MODEL_DIR, 'fp16', tempDir(), { embedding: 'int8' });
  const bytes = (file: string): number => fs.statSync(file).size + fs.statSync(`${file}.data`).size;
  // The table's rows at one byte each plus a 4-byte scale, instead of two bytes each.
  const saved = V * config.nEmbd * 2 - V * (config.nEmbd + 4);
  assert.ok(Math.abs(bytes(fp16File) - bytes(int8File) - saved) < 1000, `${bytes(fp16File)} -> ${bytes(int8File)}, ${saved} saved`);
  const marker = JSON.parse(fs.readFileSync(path.join(path.dirname(path.dirname(int8File)), 'config.json'), 'utf8')).codegen_mt_compiled;
  assert.equal(marker.embedding, 'int8');
  const decoder = await CompiledDecoder.open(int8File, config);
  const { logits } = await decoder.feed(ids, true);
  await decoder.dispose();
  const relative = maxAbsDiff(logits, expected) / spread(expected);
  // Only the embedding differs; measured 0.030 of the logits' spread on the bundled model's wide random weights.
  assert.ok(relative > 0 && relative < 0.06, `largest logit error ${relative.toFixed(4)} of the spread`);
  await assert.rejects(compileModel(MODEL_DIR, 'fp32', tempDir(), { embedding: 'int8' }), /only with fp16, int8 or int4/);
});

test('block quantization is laid out as onnxruntime\'s MatMulNBits reads it (4 and 8 bits, a partial last block)', async () => {
  const K = 48;
  const N = 5;
  const w = Float32Array.from({ length: K * N }, (_, i) => Math.sin(i * 1.7) * (1 + (i % 7)));
  const x = Float32Array.from({ length: K }, (_, i) => Math.cos(i * 0.3));
  for (const bits of [4, 8] as const) {
    const q = quantizeBlockwise(w, K, N, bits, 32);
    // Dequantize in JavaScript from the documented layout.
    const expected = new Float64Array(N);
    for (let n = 0; n < N; n++) {
      for (let k = 0; k < K; k++) {
        const b = Math.floor(k / 32);
        const i = k % 32;
        const byte = q.packed[(n * q.blocks + b) * ((32 * bits) / 8) + (bits === 4 ? i >> 1 : i)];
        const value = bits === 4 ? (byte >> ((i & 1) * 4)) & 15 : byte;
        const zpByte = q.zeroPoints[n * Math.ceil((q.blocks * bits) / 8) + (bits === 4 ? b >> 1 : b)];
        const zp = bits === 4 ? (zpByte >> ((b & 1) * 4)) & 15 : zpByte;
        const dequantized = (value - zp) * q.scales[n * q.blocks + b];
        assert.ok(Math.abs(dequantized - w[k * N + n]) <= q.scales[n * q.blocks + b] / 2 + 1e-6, 'within half a step');
        expected[n] += x[k] * dequantized;
      }
    }
    const g = new GraphWriter();
    g.inputs.push({ name: 'x', dataType: DataType.FLOAT, shape: [1, K] });
    const b = g.initializer({ name: 'b', dataType: DataType.UINT8, dims: [N, q.blocks, (32 * bits) / 8], data: q.packed });
    const z = g.initializer({ name: 'z', dataType: DataType.UINT8, dims: [q.zeroPoints.length], data: q.zeroPoints });
    g.node('MatMulNBits', ['x', b, g.floats('s', q.scales, [N * q.blocks]), z], {
      outputs: ['y'],
      domain: 'com.microsoft',
      attrs: { K: { int: K }, N: { int: N }, bits: { int: bits }, block_size: { int: 32 }, accuracy_level: { int: 0 } },
    });
    g.outputs.push({ name: 'y', dataType: DataType.FLOAT, shape: [1, N] });
    const file = path.join(tempDir(), 'nbits.onnx');
    writeOnnxModel(file, g, { opsets: { '': 17, 'com.microsoft': 1 }, producer: 'test' });
    const session = await ort.InferenceSession.create(file);
    const y = (await session.run({ x: new ort.Tensor('float32', x, [1, K]) })).y.data as Float32Array;
    await session.release();
    for (let n = 0; n < N; n++) assert.ok(Math.abs(y[n] - expected[n]) < 1e-3, `${bits} bits, column ${n}: ${y[n]} vs ${expected[n]}`);
  }
});

test('the protobuf writer and reader agree on every field kind the ONNX files use', () => {
  const inner = new ProtoWriter().string(1, 'päst').int(2, 300);
  const w = new ProtoWriter().int(1, 0).int(2, -1).int(3, 2 ** 40).string(4, 'x'.repeat(200)).message(5, inner).packedInts(6, [1, 128, 2 ** 33]);
  const buf = Buffer.concat(w.parts);
  assert.equal(buf.length, w.length);
  const got = [...fields(buf)];
  assert.deepEqual(got.map((f) => f.field), [1, 2, 3, 4, 5, 6]);
  assert.equal(got[0].value, 0);
  assert.equal(got[1].value, 2 ** 64 - 1); // int64 -1 is ten bytes of all ones, read back as an unsigned varint
  assert.equal(got[2].value, 2 ** 40);
  assert.equal(fieldString(buf, got[3]).length, 200);
  const sub = [...fields(buf, got[4].start, got[4].end)];
  assert.equal(fieldString(buf, sub[0]), 'päst');
  assert.equal(sub[1].value, 300);
});

test('the compile cache: compiled once, reused, rebuilt when the source changes, the stale entry removed', async () => {
  const dir = scratchModelCopy();
  const cacheRoot = tempDir();
  const progress: CompileProgress[] = [];
  const first = await ensureCompiled(dir, 'int8', cacheRoot, (p) => progress.push(p));
  assert.equal(first.compiledNow, true);
  assert.ok(fs.existsSync(first.file) && fs.existsSync(`${first.file}.data`));
  assert.ok(progress.length > config.nLayer, 'progress per layer');
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i].fraction >= progress[i - 1].fraction, 'progress only goes forward');
  assert.equal(progress[progress.length - 1].fraction, 1);
  assert.deepEqual(fs.readdirSync(first.dir).filter((n) => n.startsWith('.')), [], 'no temporary files left');

  const second = await ensureCompiled(dir, 'int8', cacheRoot);
  assert.equal(second.compiledNow, false);
  assert.equal(second.file, first.file);

  // The published file changes (a new download): a new entry, and the old one is gone.
  const source = path.join(dir, 'onnx', 'model.onnx');
  const later = new Date(Date.now() + 60_000);
  fs.utimesSync(source, later, later);
  assert.notEqual(cacheEntryDir(cacheRoot, dir, { kind: 'onnx', file: source, files: [source] }), first.dir);
  const third = await ensureCompiled(dir, 'int8', cacheRoot);
  assert.equal(third.compiledNow, true);
  assert.notEqual(third.dir, first.dir);
  assert.equal(fs.existsSync(first.dir), false, 'the stale entry is removed');
  const config2 = JSON.parse(fs.readFileSync(path.join(third.dir, 'config.json'), 'utf8'));
  assert.equal(config2.model_type, 'codegen');
  assert.equal(config2.codegen_mt_compiled.source.file, source);
});

test('on codegen-350M-shaped layers (16 heads of 64, rotary 32; 2 layers), the compiled graph gives the published layout\'s logits and greedy tokens, also when the exporter deduplicated equal parameters', async () => {
  for (const options of [{}, { dedupe: true }]) {
    const dir = tempDir();
    const shape = { ...CODEGEN_350M_SHAPE, nLayer: 2 };
    const model = writeReferenceModel(dir, shape, { seed: 350, ...(options.dedupe ? { zeroBiases: true, unitNorms: true } : {}) }, options);
    const ids = Array.from({ length: 40 }, (_, i) => (i * 2654435761) % 50000);
    const published = await OnnxDecoder.open(model.onnxFile, model.config);
    const { logits } = await published.forward(ids, published.emptyPast());
    await published.dispose();
    const W = model.config.vocabSize;
    const row = (t: number): Float32Array => logits.slice(t * W, t * W + V);
    const decoder = await CompiledDecoder.open(await compileModel(dir, 'fp32', tempDir()), model.config);
    const prefill = await decoder.feed(ids.slice(0, 30), true);
    assert.ok(maxAbsDiff(prefill.logits, row(29)) < 1e-3, `prefill logits (${JSON.stringify(options)})`);
    for (let j = 0; j < 29; j++) assert.ok(Math.abs(prefill.innerSurprisals[j] - surprisalOf(row(j), ids[j + 1])) < 1e-3, `surprisal ${j + 1}`);
    for (let t = 30; t < 40; t++) {
      const step = await decoder.feed([ids[t]], false);
      assert.ok(maxAbsDiff(step.logits, row(t)) < 1e-3, `decode step ${t}`);
      assert.equal(argmax(step.logits), argmax(row(t)), `greedy choice at ${t}`);
    }
    await decoder.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
