// Downloads of Salesforce-style repositories (config.json and a checkpoint, no onnx/) from the local hub: the
// tiny fixture checkpoints (test/fixtures/checkpoints/) arrive in one format (the preferred one the repository
// has; a sharded one index first), are validated, converted and generate the reference's tokens; a missing
// shard, a variant that is not a precision, and a checkpoint that is not the config's each get one clear error.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { DownloadError } from '../../src/download/downloadError';
import type { HubSettings } from '../../src/download/hubApi';
import { downloadModel, listDownloadedModels } from '../../src/download/modelDownloader';
import { ensureCompiled } from '../../src/engine/compiler/compile';
import { PRECISIONS } from '../../src/engine/compiler/graphBuilder';
import { LocalEngine } from '../../src/engine/localEngine';
import { FakeHub } from './fakeHub';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'checkpoints');
const reference = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'reference.json'), 'utf8')) as {
  prompt_text: string;
  checkpoints: Record<string, { greedy_new_tokens: number[] }>;
};
const BIN = 'test-sf/codegen-tiny-bin';
const SHARDED = 'test-sf/codegen-tiny-sharded';
const SHARDED_BIN = 'test-sf/codegen-tiny-sharded-bin';
const BOTH = 'test-sf/codegen-tiny-both';
const MISSING_SHARD = 'test-sf/codegen-tiny-missing-shard';
const WRONG_CONFIG = 'test-sf/codegen-tiny-wrong-config';
let hub: FakeHub;
let settings: HubSettings;
let work: string;

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-dl-ckpt-'));
  const repo = (name: string, from: string, edit?: (dir: string) => void): string => {
    const dir = path.join(work, 'repos', name);
    fs.cpSync(path.join(FIXTURES, from), dir, { recursive: true });
    edit?.(dir);
    return dir;
  };
  const both = repo('both', 'tiny-safetensors-fp32', (dir) => fs.copyFileSync(path.join(FIXTURES, 'tiny-bin-fp16', 'pytorch_model.bin'), path.join(dir, 'pytorch_model.bin')));
  const missing = repo('missing', 'tiny-sharded-bin', (dir) => fs.rmSync(path.join(dir, 'pytorch_model-00002-of-00002.bin')));
  const wrong = repo('wrong', 'tiny-bin-fp16', (dir) => {
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, n_layer: 3 }));
  });
  hub = await new FakeHub({
    repos: {
      [BIN]: path.join(FIXTURES, 'tiny-bin-fp16'),
      [SHARDED]: path.join(FIXTURES, 'tiny-sharded-safetensors'),
      [SHARDED_BIN]: path.join(FIXTURES, 'tiny-sharded-bin'),
      [BOTH]: both,
      [MISSING_SHARD]: missing,
      [WRONG_CONFIG]: wrong,
    },
  }).start();
  settings = { endpoint: hub.hubUrl, proxy: {} };
});

after(async () => {
  await hub.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

beforeEach(() => {
  hub.faults = {};
  hub.requests.length = 0;
});

const fetchedFiles = (): string[] => hub.requests.filter((r) => r.server === 'hub' && r.url.includes('/resolve/')).map((r) => decodeURIComponent(r.url.split('/').pop()!));

async function greedy(modelDir: string, variant: string, cache: string, steps: number): Promise<readonly number[]> {
  const engine = new LocalEngine();
  try {
    await engine.load({ modelDir, variant, compiledCache: cache });
    const r = await engine.generate({ context: { header: '', turns: [], prompt: reference.prompt_text }, maxNewTokens: steps, temperature: 0, stop: 'none' });
    return r.ids;
  } finally {
    await engine.dispose();
  }
}

async function rejectsWith(promise: Promise<unknown>, code: DownloadError['code'], pattern: RegExp): Promise<DownloadError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof DownloadError, `expected a DownloadError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    assert.doesNotMatch(err.message, /\n/, 'one line');
    return err;
  }
  assert.fail('expected the download to fail');
}

test('a pytorch_model.bin repository downloads (from the CDN, verified), validates, converts and generates the reference tokens', async () => {
  const dir = path.join(work, 'models', 'bin');
  const cache = path.join(work, 'cache-bin');
  const result = await downloadModel({ repo: BIN, dir, hub: settings });
  assert.equal(result.format, 'checkpoint');
  assert.equal(result.variant, 'int8', 'a tiny model converts to int8 by default');
  assert.equal(result.precision, 'int8');
  assert.deepEqual([...result.downloaded].sort(), ['config.json', 'pytorch_model.bin']);
  assert.equal(result.bytes, fs.statSync(path.join(FIXTURES, 'tiny-bin-fp16', 'pytorch_model.bin')).size + fs.statSync(path.join(FIXTURES, 'tiny-bin-fp16', 'config.json')).size);
  assert.ok(hub.requests.some((r) => r.server === 'cdn'), 'the checkpoint is an LFS file, fetched from the CDN');
  assert.ok(fs.readFileSync(path.join(dir, 'pytorch_model.bin')).equals(fs.readFileSync(path.join(FIXTURES, 'tiny-bin-fp16', 'pytorch_model.bin'))));

  // fp32 asked for: nothing fetched again, then converted (as the CLI does) and the reference's greedy tokens.
  hub.requests.length = 0;
  const fp32 = await downloadModel({ repo: BIN, dir, hub: settings, variant: 'fp32' });
  assert.deepEqual([fp32.variant, fp32.downloaded.length, fp32.reused.length], ['fp32', 0, 2]);
  const converted = await ensureCompiled(dir, 'fp32', cache);
  assert.equal(converted.compiledNow, true);
  const expected = reference.checkpoints['tiny-bin-fp16'].greedy_new_tokens.slice(0, 8);
  assert.deepEqual(await greedy(dir, 'fp32', cache, 8), expected);
  assert.equal((await greedy(dir, 'int8', cache, 4)).length, 4, 'the default precision loads too');

  const listed = listDownloadedModels([path.join(work, 'models')]).find((m) => m.modelDir === dir);
  assert.deepEqual(listed && [listed.name, listed.variants], [BIN, [...PRECISIONS]]);
});

for (const [repo, fixture, index, shards] of [
  [SHARDED, 'tiny-sharded-safetensors', 'model.safetensors.index.json', ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']],
  [SHARDED_BIN, 'tiny-sharded-bin', 'pytorch_model.bin.index.json', ['pytorch_model-00001-of-00002.bin', 'pytorch_model-00002-of-00002.bin']],
] as const) {
  test(`a sharded checkpoint (${fixture}): the index first, then the shards it names; it converts and generates`, async () => {
    const dir = path.join(work, 'models', fixture);
    const cache = path.join(work, `cache-${fixture}`);
    const result = await downloadModel({ repo, dir, hub: settings, variant: 'fp32' });
    assert.equal(result.format, 'checkpoint');
    const fetched = fetchedFiles().filter((f) => f !== 'config.json');
    assert.deepEqual(fetched, [index, ...shards], 'the index, then its shards');
    assert.deepEqual(await greedy(dir, 'fp32', cache, 8), reference.checkpoints[fixture].greedy_new_tokens.slice(0, 8));
  });
}

test('a repository with several formats: only the preferred one (safetensors) is downloaded', async () => {
  const dir = path.join(work, 'models', 'both');
  const result = await downloadModel({ repo: BOTH, dir, hub: settings, variant: 'fp32' });
  assert.deepEqual([...result.downloaded].sort(), ['config.json', 'model.safetensors']);
  assert.ok(!fs.existsSync(path.join(dir, 'pytorch_model.bin')));
  assert.deepEqual(await greedy(dir, 'fp32', path.join(work, 'cache-both'), 8), reference.checkpoints['tiny-safetensors-fp32'].greedy_new_tokens.slice(0, 8));
});

test('a shard the index names but the repository lacks: one not-found error, and no shard is downloaded', async () => {
  const dir = path.join(work, 'models', 'missing');
  const err = await rejectsWith(
    downloadModel({ repo: MISSING_SHARD, dir, hub: settings }),
    'not-found',
    /^pytorch_model\.bin\.index\.json of test-sf\/codegen-tiny-missing-shard names the shard "pytorch_model-00002-of-00002\.bin", which the repository does not have .*try another revision or repository/,
  );
  assert.equal(err.manualSteps, undefined);
  assert.deepEqual(fetchedFiles(), ['config.json', 'pytorch_model.bin.index.json'], 'nothing large was fetched');
  assert.ok(!fs.readdirSync(dir).some((f) => f.endsWith('.bin') || f.endsWith('.incomplete')));
});

test('a variant that is not a precision is refused before anything is fetched, naming the choices', async () => {
  await rejectsWith(
    downloadModel({ repo: BIN, dir: path.join(work, 'models', 'bad-variant'), hub: settings, variant: 'model_int8' }),
    'invalid-request',
    /test-sf\/codegen-tiny-bin is a PyTorch\/safetensors checkpoint, converted on this machine to a precision: --variant must be one of fp32, fp16, int8, int4 .*not "model_int8"/,
  );
  assert.deepEqual(fetchedFiles(), []);
});

test('a checkpoint that is not the one config.json describes arrives but is refused with the converter\'s reason', async () => {
  await rejectsWith(
    downloadModel({ repo: WRONG_CONFIG, dir: path.join(work, 'models', 'wrong'), hub: settings }),
    'invalid-model',
    /^The files of test-sf\/codegen-tiny-wrong-config arrived but the engine does not accept the folder: .*transformer\.h\.2\./,
  );
});
