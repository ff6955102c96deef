// Salesforce's checkpoints converted on this machine: the tiny fixtures in each format (made by
// models/make_tiny_codegen.py --checkpoints from the bundled model's weights) give the NumPy reference's greedy
// tokens after conversion to fp32; a 350M-wide layer read from safetensors matches the float64 forward; a folder
// with a checkpoint loads through the same path as any model; broken or hostile folders get one actionable error
// and leave nothing in the cache; a conversion can be cancelled; the random-weight mode is deterministic.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { checkCheckpoint, defaultCheckpointPrecision, findCheckpoint } from '../../src/engine/checkpoint/checkpointFolder';
import { compiledInfo, compileModel, compileRandomModel, ensureCompiled } from '../../src/engine/compiler/compile';
import { PRECISIONS } from '../../src/engine/compiler/graphBuilder';
import { halfToFloat, toHalf } from '../../src/engine/compiler/quantize';
import type { CodeGenWeights } from '../../src/engine/compiler/weights';
import { CompiledDecoder } from '../../src/engine/compiledDecoder';
import { LocalEngine } from '../../src/engine/localEngine';
import { readCodeGenConfig } from '../../src/engine/modelFolder';
import { openModel } from '../../src/engine/modelLoader';
import { EngineError } from '../../src/protocol/errors';
import { TOKENIZER_VOCAB_SIZE } from '../../src/engine/tokenizer';
import { PICKLE, PickleWriter, writeZip } from '../helpers/checkpointWriters';
import { CODEGEN_350M_SHAPE, parameterNames, randomWeights, referenceConfig, referenceLogits, writeConfigJson } from '../helpers/referenceExport';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'checkpoints');
const reference = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'reference.json'), 'utf8')) as {
  prompt_ids: number[];
  checkpoints: Record<string, { dtype: string; greedy_new_tokens: number[] }>;
};
const V = TOKENIZER_VOCAB_SIZE;

const tempDir = (prefix = 'codegen-checkpoint-'): string => fs.mkdtempSync(path.join(os.tmpdir(), prefix));
const argmax = (row: Float32Array | Float64Array, from = 0): number => {
  let best = 0;
  for (let i = 1; i < V; i++) if (row[from + i] > row[from + best]) best = i;
  return best;
};

/** A scratch copy of a fixture folder that a test may damage. */
function fixtureCopy(name: string): string {
  const dir = tempDir();
  fs.cpSync(path.join(FIXTURES, name), dir, { recursive: true });
  return dir;
}

async function greedy(decoder: CompiledDecoder, prompt: readonly number[], steps: number): Promise<number[]> {
  let { logits } = await decoder.feed(prompt, false);
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    out.push(argmax(logits));
    logits = (await decoder.feed([out[i]], false)).logits;
  }
  return out;
}

/** Loading `dir` must fail with one line matching `pattern`, and leave the cache as empty as it was. */
async function assertLoadFails(dir: string, pattern: RegExp): Promise<void> {
  const cache = tempDir('codegen-cache-');
  await assert.rejects(
    openModel({ modelDir: dir, compiledCache: cache }),
    (err: unknown) => {
      assert.ok(err instanceof EngineError, `an EngineError, got ${String(err)}`);
      assert.match(err.message, pattern);
      assert.doesNotMatch(err.message, /\n/, 'one line');
      return true;
    },
  );
  assert.deepEqual(fs.readdirSync(cache), [], 'nothing half-written is left in the cache');
}

for (const [name, expected] of Object.entries(reference.checkpoints)) {
  test(`${name} (${expected.dtype}) converted to fp32 gives the reference's greedy tokens`, async () => {
    const dir = path.join(FIXTURES, name);
    const file = await compileModel(dir, 'fp32', tempDir());
    const decoder = await CompiledDecoder.open(file, readCodeGenConfig(dir));
    assert.deepEqual(await greedy(decoder, reference.prompt_ids, expected.greedy_new_tokens.length), expected.greedy_new_tokens);
    await decoder.dispose();
  });
}

test('a checkpoint folder loads through the one model path: converted once to its default precision, cached, then reused', async () => {
  const dir = fixtureCopy('tiny-bin-fp16');
  const cache = tempDir('codegen-cache-');
  const config = readCodeGenConfig(dir);
  assert.equal(defaultCheckpointPrecision(config), 'int8', 'a small model converts to int8 by default');
  const progress: string[] = [];
  const first = await openModel({ modelDir: dir, compiledCache: cache }, { onProgress: (p) => progress.push(p.message) });
  assert.equal(first.variant, 'int8');
  assert.deepEqual(first.availableVariants, [...PRECISIONS]);
  assert.equal(first.compiled?.compiledNow, true);
  assert.equal(first.compiled?.source, path.join(dir, 'pytorch_model.bin'));
  assert.ok(progress.some((m) => /Converting .* for this machine \(once\): converting int8: 1 of 3 layers/.test(m)), progress.join('\n'));
  await first.decoder.dispose();
  const again = await openModel({ modelDir: dir, compiledCache: cache, variant: 'int8' });
  assert.equal(again.compiled?.compiledNow, false, 'the second load reads the cache');
  await again.decoder.dispose();

  // Through the engine, as the CLI and the extension use it: fp32 reproduces the reference through generate().
  const engine = new LocalEngine();
  const info = await engine.load({ modelDir: dir, variant: 'fp32', compiledCache: cache });
  assert.equal(info.layout, 'compiled');
  const prompt = 'def add(a, b):\n    return a + b';
  assert.deepEqual(await engine.tokenize(prompt), reference.prompt_ids);
  const r = await engine.generate({ context: { header: '', turns: [], prompt }, temperature: 0, stop: 'none', maxNewTokens: 8 });
  assert.deepEqual(r.ids, reference.checkpoints['tiny-bin-fp16'].greedy_new_tokens.slice(0, 8));
  await engine.dispose();

  await assert.rejects(openModel({ modelDir: dir, compiledCache: cache, variant: 'model_int8' }), /checkpoint, which runs only once converted: choose --variant fp32, fp16, int8, int4/);
  await assert.rejects(openModel({ modelDir: dir, compiledCache: cache, compile: false }), /runs only once converted/);
});

test('a 350M-wide layer (16 heads of 64, rotary 32, CodeGen\'s q/v/k quarters) read from fp16 safetensors matches the float64 forward', async () => {
  const shape = { ...CODEGEN_350M_SHAPE, nLayer: 1 };
  const config = referenceConfig(shape);
  const source = randomWeights(shape, 350);
  // What the checkpoint stores: fp16, so the reference runs on the same rounded values.
  const rounded = (a: Float32Array): Float32Array => halfToFloat(toHalf(a));
  const stored: CodeGenWeights = { embedding: () => rounded(source.embedding()), linear: (m) => rounded(source.linear(m)), vector: (n) => rounded(source.vector(n)) };
  const dir = tempDir();
  writeConfigJson(dir, shape, config);
  writeSafetensorsCheckpoint(path.join(dir, 'model.safetensors'), stored, config);
  const file = await compileModel(dir, 'fp32', tempDir());
  const decoder = await CompiledDecoder.open(file, config);
  const ids = Array.from({ length: 12 }, (_, i) => (i * 2654435761) % 50000);
  const { logits } = await decoder.feed(ids, false);
  const expected = referenceLogits(stored, config, ids);
  const last = (ids.length - 1) * config.vocabSize;
  let maxDiff = 0;
  for (let i = 0; i < V; i++) maxDiff = Math.max(maxDiff, Math.abs(logits[i] - expected[last + i]));
  assert.ok(maxDiff < 2e-3, `logits within 2e-3 of float64 (max diff ${maxDiff})`);
  assert.equal(argmax(logits), argmax(expected, last));
  await decoder.dispose();
});

test('broken checkpoints each get one actionable error and leave nothing half-written', async () => {
  // A shard named by the index is missing.
  const sharded = fixtureCopy('tiny-sharded-bin');
  fs.rmSync(path.join(sharded, 'pytorch_model-00002-of-00002.bin'));
  await assertLoadFails(sharded, /names pytorch_model-00002-of-00002\.bin, which is not in .*: download the model again/);

  // A truncated pytorch_model.bin (a download cut short and renamed by hand).
  const truncated = fixtureCopy('tiny-bin-fp16');
  const bin = path.join(truncated, 'pytorch_model.bin');
  fs.truncateSync(bin, Math.floor(fs.statSync(bin).size / 2));
  await assertLoadFails(truncated, /pytorch_model\.bin is truncated or damaged .*download it again/);

  // A safetensors header that lies about a tensor's size.
  const lying = fixtureCopy('tiny-safetensors-fp32');
  const st = path.join(lying, 'model.safetensors');
  const bytes = fs.readFileSync(st);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = bytes.subarray(8, 8 + headerLength).toString('utf8').replace('"shape":[16]', '"shape":[17]');
  assert.equal(header.length, headerLength, 'the edit keeps the header length');
  fs.writeFileSync(st, Buffer.concat([bytes.subarray(0, 8), Buffer.from(header), bytes.subarray(8 + headerLength)]));
  await assertLoadFails(lying, /model\.safetensors is truncated or damaged \(the header gives the tensor transformer\.h\.0\.ln_1\.weight \(F32 \[17\], 68 bytes\) a range of 64 bytes\)/);

  // A tensor that is not a CodeGen parameter (another architecture's checkpoint under a CodeGen config).
  const foreign = tempDir();
  fs.copyFileSync(path.join(FIXTURES, 'tiny-safetensors-fp32', 'config.json'), path.join(foreign, 'config.json'));
  const config = readCodeGenConfig(foreign);
  writeSafetensorsCheckpoint(path.join(foreign, 'model.safetensors'), randomWeights({ nLayer: 2, nEmbd: 16, nHead: 4, rotaryDim: 2, nPositions: 256 }, 1), config, ['transformer.h.0.attn.rotary_emb.inv_freq']);
  await assertLoadFails(foreign, /holds transformer\.h\.0\.attn\.rotary_emb\.inv_freq, which is not a parameter of CodeGenForCausalLM/);

  // The hostile pickle: a state dict whose value would run os.system on load. The marker must never appear.
  const hostile = tempDir();
  const marker = path.join(hostile, 'pwned');
  fs.copyFileSync(path.join(FIXTURES, 'tiny-bin-fp16', 'config.json'), path.join(hostile, 'config.json'));
  const pickle = new PickleWriter().proto(2).op(PICKLE.EMPTY_DICT).string('transformer.wte.weight').global('os', 'system').string(`touch ${marker}`).op(PICKLE.TUPLE1, PICKLE.REDUCE, PICKLE.SETITEM, PICKLE.STOP).bytes();
  fs.writeFileSync(path.join(hostile, 'pytorch_model.bin'), writeZip([{ name: 'archive/data.pkl', data: pickle }, { name: 'archive/version', data: Buffer.from('3\n') }]));
  await assertLoadFails(hostile, /asks for the Python global os\.system.*refusing to load it/);
  assert.equal(fs.existsSync(marker), false, 'nothing ran');
});

test('a conversion can be cancelled: it stops between layers with a cancelled error and leaves no cache entry', async () => {
  const cache = tempDir('codegen-cache-');
  const controller = new AbortController();
  await assert.rejects(
    ensureCompiled(path.join(FIXTURES, 'tiny-bin-fp16'), 'int4', cache, (p) => p.phase === 'building' && controller.abort(), controller.signal),
    (err: unknown) => err instanceof EngineError && err.code === 'cancelled' && /nothing was written/.test(err.message),
  );
  assert.deepEqual(fs.readdirSync(cache), []);
});

test('the headers are checked without reading the weights, and the sources are found by the preferred name', () => {
  const dir = path.join(FIXTURES, 'tiny-sharded-safetensors');
  const source = findCheckpoint(dir);
  assert.equal(source?.format, 'safetensors');
  assert.deepEqual(source?.files.map((f) => path.basename(f)), ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  const checked = checkCheckpoint(dir, readCodeGenConfig(dir));
  assert.equal(checked.tensors.size, parameterNames(readCodeGenConfig(dir)).length, 'every parameter, no buffers');
  assert.ok(!checked.tensors.has('transformer.h.0.attn.causal_mask'));
  const withBuffers = checkCheckpoint(path.join(FIXTURES, 'tiny-bin-fp16'), readCodeGenConfig(path.join(FIXTURES, 'tiny-bin-fp16')));
  assert.equal(withBuffers.tensors.size, checked.tensors.size, 'the published buffers (causal_mask, masked_bias) are ignored');
});

test('the random-weight mode builds the same graph from the same seed, and it loads and generates as a compiled folder', async () => {
  const shape = { name: 'tiny', nLayer: 2, nEmbd: 64, nHead: 4, rotaryDim: 16 };
  const a = await compileRandomModel(shape, 'int4', tempDir());
  const b = await compileRandomModel(shape, 'int4', tempDir());
  assert.ok(fs.readFileSync(`${a}.data`).equals(fs.readFileSync(`${b}.data`)), 'deterministic');
  const dir = path.dirname(path.dirname(a));
  assert.match(compiledInfo(dir)!.source.file, /^random:tiny:1$/);
  const engine = new LocalEngine();
  const info = await engine.load({ modelDir: dir });
  assert.equal(info.variant, 'int4');
  const r = await engine.generate({ context: { header: '', turns: [], prompt: 'x = 1\n' }, temperature: 0, stop: 'none', maxNewTokens: 4 });
  assert.equal(r.ids.length, 4);
  await engine.dispose();
});

/** A single-file safetensors checkpoint (fp16, PyTorch's [out, in] Linear layout) of `weights`, plus extra names. */
function writeSafetensorsCheckpoint(file: string, weights: CodeGenWeights, config: ReturnType<typeof referenceConfig>, extra: string[] = []): void {
  const header: Record<string, unknown> = {};
  const parts: Buffer[] = [];
  let offset = 0;
  const add = (name: string, values: Float32Array, shape: number[]): void => {
    const bytes = Buffer.from(toHalf(values).buffer);
    header[name] = { dtype: 'F16', shape, data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  };
  for (const name of parameterNames(config)) {
    if (name === 'transformer.wte.weight') add(name, weights.embedding(), [config.vocabSize, config.nEmbd]);
    else if (/(qkv_proj|out_proj|fc_in|fc_out)\.weight$|^lm_head\.weight$/.test(name)) {
      const module = name.slice(0, -'.weight'.length);
      const w = weights.linear(module); // [in, out]
      const rows = w.length / outFeatures(module, config);
      const cols = w.length / rows;
      const t = new Float32Array(w.length);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c];
      add(name, t, [cols, rows]);
    } else {
      const v = weights.vector(name);
      add(name, v, [v.length]);
    }
  }
  for (const name of extra) add(name, new Float32Array(8), [8]);
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([length, Buffer.from(json), ...parts]));
}

function outFeatures(module: string, config: ReturnType<typeof referenceConfig>): number {
  if (module === 'lm_head') return config.vocabSize;
  if (module.endsWith('qkv_proj')) return 3 * config.nEmbd;
  if (module.endsWith('fc_in')) return config.nInner;
  return config.nEmbd;
}
