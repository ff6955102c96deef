// Loading model folders: variant choice, and one clear message for each way a folder can be wrong.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { LocalEngine } from '../../src/engine/localEngine';
import { EngineError } from '../../src/protocol/errors';
import { MODEL_DIR, scratchModelCopy } from '../helpers/model';

async function loadError(modelDir: string, variant?: string): Promise<EngineError> {
  const engine = new LocalEngine();
  try {
    await engine.load({ modelDir, variant });
  } catch (err) {
    assert.ok(err instanceof EngineError, String(err));
    return err;
  } finally {
    await engine.dispose();
  }
  assert.fail(`${modelDir} loaded`);
}

test('the default is the fp32 graph compiled from onnx/model.onnx; published files by stem or alias', async () => {
  const engine = new LocalEngine();
  const info = await engine.load({ modelDir: MODEL_DIR });
  assert.equal(info.variant, 'fp32');
  assert.equal(info.layout, 'compiled');
  assert.equal(info.compiled?.source, path.join(MODEL_DIR, 'onnx', 'model.onnx'));
  assert.deepEqual(info.availableVariants, ['fp32', 'fp16', 'int8', 'int4', 'model', 'decoder_model_merged']);
  const merged = await engine.load({ modelDir: MODEL_DIR, variant: 'merged' });
  assert.equal(merged.variant, 'decoder_model_merged');
  assert.equal(merged.layout, 'merged');
  assert.equal((await engine.load({ modelDir: MODEL_DIR, variant: 'model' })).layout, 'newer');
  // Without compiling, precisions name the published files.
  const published = await engine.load({ modelDir: MODEL_DIR, variant: 'fp32', compile: false });
  assert.equal(published.variant, 'model');
  assert.equal(published.layout, 'newer');
  assert.equal((await engine.load({ modelDir: MODEL_DIR, compile: false })).variant, 'model');
  await engine.dispose();
});

test('a folder with only the older layout is compiled from it, or used as it is', async () => {
  const dir = scratchModelCopy();
  fs.rmSync(path.join(dir, 'onnx', 'model.onnx'));
  const engine = new LocalEngine();
  const info = await engine.load({ modelDir: dir });
  assert.equal(info.layout, 'compiled');
  assert.equal(info.compiled?.source, path.join(dir, 'onnx', 'decoder_model_merged.onnx'));
  const asIs = await engine.load({ modelDir: dir, compile: false });
  assert.equal(asIs.variant, 'decoder_model_merged');
  assert.equal(asIs.layout, 'merged');
  await engine.dispose();
  // A variant file named like a quantized one is picked by its name.
  fs.copyFileSync(path.join(dir, 'onnx', 'decoder_model_merged.onnx'), path.join(dir, 'onnx', 'model_int8.onnx'));
  const e2 = new LocalEngine();
  assert.equal((await e2.load({ modelDir: dir, compile: false })).variant, 'model_int8');
  assert.equal((await e2.load({ modelDir: dir, variant: 'int8', compile: false })).onnxFile, path.join(dir, 'onnx', 'model_int8.onnx'));
  assert.equal((await e2.load({ modelDir: dir, variant: 'model_int8' })).layout, 'merged');
  await e2.dispose();
});

test('an unknown variant lists the ones there are', async () => {
  const e = await loadError(MODEL_DIR, 'q4');
  assert.match(e.message, /model_q4\.onnx/);
  assert.match(e.message, /available: model, decoder_model_merged/);
});

test('a missing folder', async () => {
  const e = await loadError('/nonexistent/model');
  assert.equal(e.code, 'model-not-found');
  assert.match(e.message, /\/nonexistent\/model does not exist: check the path, or download a model first/);
});

test('a file given instead of the folder names the folder (and variant) that was meant', async () => {
  const onnx = await loadError(path.join(MODEL_DIR, 'onnx', 'decoder_model_merged.onnx'));
  assert.equal(onnx.code, 'invalid-model');
  assert.match(onnx.message, new RegExp(`is a file, not a model folder: give the folder above onnx/, ${MODEL_DIR}, and the variant decoder_model_merged \\(--variant decoder_model_merged\\)`));
  const config = await loadError(path.join(MODEL_DIR, 'config.json'));
  assert.match(config.message, new RegExp(`is a file, not a model folder: give the folder that holds it, ${MODEL_DIR}\\.`));
  const other = await loadError(path.join(MODEL_DIR, '..', '..', 'package.json'));
  assert.match(other.message, /is a file, not a model folder: give a folder that holds config\.json and onnx\/model\.onnx/);
});

test('no config.json', async () => {
  const dir = scratchModelCopy();
  fs.rmSync(path.join(dir, 'config.json'));
  const e = await loadError(dir);
  assert.equal(e.code, 'invalid-model');
  assert.match(e.message, /config\.json is missing/);
});

test('malformed config.json', async () => {
  const dir = scratchModelCopy();
  fs.writeFileSync(path.join(dir, 'config.json'), '{"model_type": "codegen",');
  assert.match((await loadError(dir)).message, /config\.json is not valid JSON \(.*\): fix it, or download the model again\.$/);
});

test('another model type', async () => {
  const dir = scratchModelCopy();
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, model_type: 'gpt2' }));
  assert.match((await loadError(dir)).message, /model_type "gpt2"; only CodeGen/);
});

test('a missing hyper-parameter', async () => {
  const dir = scratchModelCopy();
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  delete config.n_head;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  assert.match((await loadError(dir)).message, /"n_head" must be a positive integer/);
});

test('no ONNX file', async () => {
  const dir = scratchModelCopy();
  fs.rmSync(path.join(dir, 'onnx'), { recursive: true });
  assert.match((await loadError(dir)).message, /onnx has no \.onnx file/);
});

test('a truncated ONNX file', async () => {
  const dir = scratchModelCopy();
  const file = path.join(dir, 'onnx', 'model.onnx');
  fs.truncateSync(file, Math.floor(fs.statSync(file).size / 3));
  const e = await loadError(dir);
  assert.equal(e.code, 'invalid-model');
  assert.ok(e.message.startsWith(`${file} could not be loaded`), e.message);
  assert.match(e.message, /truncated or corrupt/);
});

test('a corrupt (garbage) ONNX file', async () => {
  const dir = scratchModelCopy();
  fs.writeFileSync(path.join(dir, 'onnx', 'model.onnx'), Buffer.from('this is not a protobuf at all'));
  assert.match((await loadError(dir)).message, /model\.onnx could not be loaded/);
});

test('an ONNX file that does not fit config.json', async () => {
  const dir = scratchModelCopy();
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, n_layer: 3 }));
  const e = await loadError(dir);
  assert.match(e.message, /model\.onnx does not fit config\.json/);
  assert.match(e.message, /2 layers of past_key_values inputs, but config\.json has n_layer 3/);
  assert.match(e.message, /Use the config\.json published with this ONNX file/);
});

test('a config.json whose vocab_size disagrees with the graph\'s logits is refused at load, in both layouts', async () => {
  const dir = scratchModelCopy();
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  assert.equal(config.vocab_size, 51200);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, vocab_size: 50400 }));
  for (const variant of ['model', 'merged']) {
    const e = await loadError(dir, variant);
    assert.equal(e.code, 'invalid-model');
    assert.match(e.message, /its logits are 51200 wide, but config\.json has vocab_size 50400/);
  }
});

test('an ONNX file that is not a CodeGen decoder with a KV cache', async () => {
  const dir = scratchModelCopy();
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, n_head: 2 }));
  assert.match((await loadError(dir)).message, /has 4 heads, config\.json has n_head 2/);
});

test('a failed load keeps the model that was loaded before', async () => {
  const engine = new LocalEngine();
  await engine.load({ modelDir: MODEL_DIR });
  await assert.rejects(engine.load({ modelDir: '/nonexistent' }));
  const r = await engine.generate({ context: { header: '', turns: [], prompt: 'x = ' }, temperature: 0, maxNewTokens: 2 });
  assert.equal(r.ids.length, 2);
  await engine.dispose();
});
