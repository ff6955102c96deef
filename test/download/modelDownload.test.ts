// The downloader against a local hub (test/download/fakeHub.ts) serving the bundled model with the hub's URL
// scheme and API: a full download that loads and generates, resume after a dropped connection, a bad checksum,
// 404s, cancellation, a repository missing files, and the variant list. No test reaches the internet.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { bundledModelDir } from '../../src/engine/bundledModel';
import { LocalEngine } from '../../src/engine/localEngine';
import { resolveModelFolder } from '../../src/engine/modelFolder';
import { DownloadError } from '../../src/download/downloadError';
import { fetchRepoSnapshot, type HubSettings } from '../../src/download/hubApi';
import { downloadModel, listDownloadedModels, MANIFEST_FILE, pickVariant, remoteVariants, type DownloadProgress } from '../../src/download/modelDownloader';
import { EngineError } from '../../src/protocol/errors';
import { COMMIT, FakeHub } from './fakeHub';

const REPO = 'test-owner/codegen-tiny';
const NO_CONFIG = 'test-owner/onnx-only';
let hub: FakeHub;
let settings: HubSettings;
let work: string;
let noConfigDir: string;

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-dl-'));
  noConfigDir = path.join(work, 'repo-no-config');
  fs.mkdirSync(path.join(noConfigDir, 'onnx'), { recursive: true });
  fs.copyFileSync(path.join(bundledModelDir(), 'onnx', 'model.onnx'), path.join(noConfigDir, 'onnx', 'model.onnx'));
  hub = await new FakeHub({ repos: { [REPO]: bundledModelDir(), [NO_CONFIG]: noConfigDir } }).start();
  settings = { endpoint: hub.hubUrl, proxy: {} };
});

after(async () => {
  await hub.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

beforeEach(() => {
  hub.faults = {};
  hub.requests.length = 0;
  hub.bytesSent.clear();
});

function freshDir(name: string): string {
  return path.join(work, name);
}

function size(file: string): number {
  return fs.statSync(path.join(bundledModelDir(), file)).size;
}

async function rejectsWith(promise: Promise<unknown>, code: DownloadError['code'], pattern: RegExp): Promise<DownloadError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof DownloadError, `expected a DownloadError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return err;
  }
  assert.fail('expected the download to fail');
}

test('the variant list is what the repository has, in the engine order, with sizes and checksums', async () => {
  const snapshot = await fetchRepoSnapshot(REPO, 'main', settings);
  assert.equal(snapshot.commit, COMMIT);
  const variants = remoteVariants(snapshot);
  assert.deepEqual(
    variants.map((v) => [v.variant, v.bytes]),
    [
      ['model', size('onnx/model.onnx')],
      ['decoder_model_merged', size('onnx/decoder_model_merged.onnx')],
    ],
  );
  assert.match(variants[0].files[0].sha256 ?? '', /^[0-9a-f]{64}$/);
  assert.equal(pickVariant(snapshot, 'merged').variant, 'decoder_model_merged', 'the engine aliases apply');
  assert.throws(() => pickVariant(snapshot, 'int8'), (e: DownloadError) => e.code === 'not-found' && /model_int8.*has: model, decoder_model_merged/.test(e.message));
});

test('without sizes in the revision answer, the paginated tree API gives the same files', async () => {
  const full = await fetchRepoSnapshot(REPO, 'main', settings);
  hub.faults.noSizesInRevision = true;
  const fromTree = await fetchRepoSnapshot(REPO, 'main', settings);
  assert.deepEqual([...fromTree.files].sort((a, b) => a.path.localeCompare(b.path)), [...full.files].sort((a, b) => a.path.localeCompare(b.path)));
  assert.ok(hub.requests.filter((r) => r.url.includes('/tree/')).length > 1, 'followed the Link: rel="next" pages');
});

test('a full download lands in a folder the engine loads and generates with, same as the original', async () => {
  const dir = freshDir('full');
  const progress: DownloadProgress[] = [];
  const result = await downloadModel({ repo: REPO, variant: 'fp32', dir, hub: settings, onProgress: (p) => progress.push(p), progressIntervalMs: 0 });
  assert.equal(result.variant, 'model');
  assert.equal(result.commit, COMMIT);
  assert.deepEqual([...result.downloaded].sort(), ['config.json', 'generation_config.json', 'onnx/model.onnx']);
  assert.equal(resolveModelFolder(dir).variant, 'model');
  assert.ok(!fs.existsSync(path.join(dir, 'onnx', 'decoder_model_merged.onnx')), 'only the chosen variant');
  assert.ok(fs.existsSync(path.join(dir, MANIFEST_FILE)));
  for (const f of ['config.json', 'onnx/model.onnx']) assert.ok(fs.readFileSync(path.join(dir, f)).equals(fs.readFileSync(path.join(bundledModelDir(), f))));
  // The .onnx went through the redirect to the other origin ("CDN"), at the pinned commit.
  assert.ok(hub.requests.some((r) => r.server === 'hub' && r.url === `/${REPO}/resolve/${COMMIT}/onnx/model.onnx`));
  assert.ok(hub.requests.some((r) => r.server === 'cdn'));
  // Progress: bytes rise to the total; each file ends with a verify and a done.
  const last = progress[progress.length - 1];
  assert.equal(last.bytes, last.totalBytes);
  assert.equal(last.phase, 'done');
  assert.ok(progress.some((p) => p.phase === 'verify' && p.file === 'onnx/model.onnx'));
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i].bytes >= progress[i - 1].bytes, 'bytes never go back');

  const generate = async (modelDir: string): Promise<readonly number[]> => {
    const engine = new LocalEngine();
    try {
      await engine.load({ modelDir });
      const r = await engine.generate({ context: { header: '', turns: [], prompt: 'def add(a, b):' }, maxNewTokens: 6, temperature: 0, stop: 'none' });
      return r.ids;
    } finally {
      await engine.dispose();
    }
  };
  const ids = await generate(dir);
  assert.equal(ids.length, 6);
  assert.deepEqual(ids, await generate(bundledModelDir()));

  // A second run finds every file in place (the manifest spares re-hashing) and fetches nothing.
  hub.requests.length = 0;
  const again = await downloadModel({ repo: REPO, variant: 'model', dir, hub: settings });
  assert.deepEqual(again.downloaded, []);
  assert.equal(again.reused.length, 3);
  assert.ok(!hub.requests.some((r) => r.url.includes('/resolve/')));
  assert.deepEqual(listDownloadedModels([work]).find((m) => m.modelDir === dir)?.name, REPO);
});

test('a dropped connection resumes with a Range request and the bytes before it are not fetched again', async () => {
  const dir = freshDir('resume');
  const file = 'onnx/decoder_model_merged.onnx';
  hub.faults.dropOnce = { file, after: 1_000_000 };
  const result = await downloadModel({ repo: REPO, variant: 'merged', dir, hub: settings, retryDelayMs: 0 });
  assert.equal(result.variant, 'decoder_model_merged');
  const cdn = hub.requests.filter((r) => r.server === 'cdn');
  assert.equal(cdn.length, 2, 'one drop, one resume');
  assert.equal(cdn[0].range, undefined);
  const start = Number(/^bytes=(\d+)-$/.exec(cdn[1].range ?? '')?.[1]);
  assert.ok(start > 0 && start <= 1_000_000, `resumed from ${cdn[1].range}`);
  // Per request (the server's own count as it writes): the dropped transfer, then only the missing bytes.
  assert.equal(cdn[0].bytes, 1_000_000);
  assert.equal(cdn[1].bytes, size(file) - start, 'only the missing bytes were sent again');
  assert.ok(fs.readFileSync(path.join(dir, file)).equals(fs.readFileSync(path.join(bundledModelDir(), file))));
  assert.ok(!fs.existsSync(path.join(dir, `${file}.incomplete`)));
});

test('a partial file left by an earlier run is continued, not restarted', async () => {
  const dir = freshDir('partial');
  const file = 'onnx/model.onnx';
  fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  fs.writeFileSync(path.join(dir, `${file}.incomplete`), fs.readFileSync(path.join(bundledModelDir(), file)).subarray(0, 12345));
  await downloadModel({ repo: REPO, variant: 'model', dir, hub: settings });
  assert.deepEqual(hub.requests.filter((r) => r.server === 'cdn').map((r) => r.range), ['bytes=12345-']);
  assert.equal(hub.bytesSent.get(file), size(file) - 12345);
  assert.ok(fs.readFileSync(path.join(dir, file)).equals(fs.readFileSync(path.join(bundledModelDir(), file))));
});

test('a file whose checksum is wrong is deleted and the error names it', async () => {
  const dir = freshDir('corrupt');
  hub.faults.corrupt = 'onnx/model.onnx';
  await rejectsWith(downloadModel({ repo: REPO, variant: 'model', dir, hub: settings }), 'verification', /onnx\/model\.onnx .*failed verification \(its sha256 is [0-9a-f]{64}, the hub says [0-9a-f]{64}\); the file was deleted/);
  assert.ok(!fs.existsSync(path.join(dir, 'onnx', 'model.onnx')));
  assert.ok(!fs.existsSync(path.join(dir, 'onnx', 'model.onnx.incomplete')));
  assert.throws(() => resolveModelFolder(dir), EngineError, 'the engine never sees a half model');
});

test('a small file is checked against its git blob id', async () => {
  const dir = freshDir('corrupt-config');
  hub.faults.corrupt = 'config.json';
  await rejectsWith(downloadModel({ repo: REPO, dir, hub: settings }), 'verification', /config\.json .*git blob id/);
  assert.ok(!fs.existsSync(path.join(dir, 'config.json')));
});

test('an unknown repository, revision or variant is a not-found error that says so', async () => {
  const dir = freshDir('missing');
  await rejectsWith(downloadModel({ repo: 'nobody/nothing', dir, hub: settings }), 'not-found', /nobody\/nothing was not found .*HTTP 404.*Repository nobody\/nothing not found/);
  await rejectsWith(downloadModel({ repo: REPO, revision: 'v9', dir, hub: settings }), 'not-found', /test-owner\/codegen-tiny@v9 was not found/);
  await rejectsWith(downloadModel({ repo: REPO, variant: 'q4', dir, hub: settings }), 'not-found', /no variant "q4" \(onnx\/model_q4\.onnx\)/);
  await rejectsWith(downloadModel({ repo: 'not a repo', dir, hub: settings }), 'invalid-request', /owner\/name/);
  assert.ok(!fs.existsSync(path.join(dir, 'onnx')), 'nothing was written');
});

test('a slow transfer is cancelled by the AbortSignal; the partial file is kept and resumed later', async () => {
  const dir = freshDir('cancel');
  const file = 'onnx/model.onnx';
  hub.faults.stall = file;
  const controller = new AbortController();
  const pending = downloadModel({
    repo: REPO,
    variant: 'model',
    dir,
    hub: settings,
    signal: controller.signal,
    progressIntervalMs: 0,
    onProgress: (p) => {
      // Cancel once some bytes are on disk (whenever that is: no timing decides anything here).
      const part = path.join(dir, `${file}.incomplete`);
      if (p.file === file && fs.existsSync(part) && fs.statSync(part).size > 0) controller.abort();
    },
  });
  await rejectsWith(pending, 'cancelled', /cancelled/);
  const part = path.join(dir, `${file}.incomplete`);
  assert.ok(fs.existsSync(part) && fs.statSync(part).size > 0, 'the partial file stays for the next run');
  assert.ok(!fs.existsSync(path.join(dir, file)));
  hub.faults = {};
  hub.requests.length = 0;
  const kept = fs.statSync(part).size;
  await downloadModel({ repo: REPO, variant: 'model', dir, hub: settings });
  assert.deepEqual(hub.requests.filter((r) => r.server === 'cdn').map((r) => r.range), [`bytes=${kept}-`]);
  assert.equal(resolveModelFolder(dir).variant, 'model');
});

test('a repository without config.json is refused before anything large is fetched', async () => {
  await rejectsWith(downloadModel({ repo: NO_CONFIG, dir: freshDir('no-config'), hub: settings }), 'invalid-model', /has no config\.json/);
  assert.ok(!hub.requests.some((r) => r.url.includes('/resolve/')));
});

test('a folder missing files is refused by the engine rules and not listed as a downloaded model', () => {
  const dir = path.join(work, 'models-root', 'half');
  fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  fs.copyFileSync(path.join(bundledModelDir(), 'config.json'), path.join(dir, 'config.json'));
  fs.writeFileSync(path.join(dir, 'onnx', 'model.onnx.incomplete'), 'partial');
  assert.throws(() => resolveModelFolder(dir), (e: EngineError) => e.code === 'invalid-model' && /has no \.onnx file/.test(e.message));
  assert.deepEqual(listDownloadedModels([path.join(work, 'models-root')]), []);
  const noConfig = path.join(work, 'models-root', 'no-config');
  fs.mkdirSync(path.join(noConfig, 'onnx'), { recursive: true });
  fs.writeFileSync(path.join(noConfig, 'onnx', 'model.onnx'), 'x');
  assert.throws(() => resolveModelFolder(noConfig), (e: EngineError) => e.code === 'invalid-model' && /config\.json is missing/.test(e.message));
  assert.deepEqual(listDownloadedModels([path.join(work, 'models-root')]), []);
});

test('an unreachable hub gives the manual steps: which files to put where', async () => {
  const dir = freshDir('offline');
  const closed = { endpoint: 'http://127.0.0.1:1', proxy: {} };
  const err = await rejectsWith(downloadModel({ repo: REPO, variant: 'int8', dir, hub: closed }), 'network', /Cannot reach 127\.0\.0\.1:1: ECONNREFUSED/);
  assert.match(err.manualSteps ?? '', /http:\/\/127\.0\.0\.1:1\/test-owner\/codegen-tiny\/resolve\/main\/config\.json\n\s+-> .*offline\/config\.json/);
  assert.match(err.manualSteps ?? '', /resolve\/main\/onnx\/model_int8\.onnx\n\s+-> .*offline\/onnx\/model_int8\.onnx/);
  await rejectsWith(downloadModel({ repo: REPO, dir, hub: { ...settings, offline: true } }), 'network', /HF_HUB_OFFLINE/);
});
