// `codegen-mt download` as a user runs it (bin/codegen-mt.js over the bundle in dist/), against a local hub
// named by HF_ENDPOINT; and the progress figures it prints, with an injected clock.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { bundledModelDir } from '../../src/engine/bundledModel';
import { resolveModelFolder } from '../../src/engine/modelFolder';
import { describeProgress, formatBytes, formatDuration, ProgressMeter } from '../../src/download/progressMeter';
import { FakeHub } from './fakeHub';
import { cliArgv, ROOT } from '../helpers/cli';

const REPO = 'test-owner/codegen-tiny';
/** A Salesforce-style repository: config.json and an fp16 pytorch_model.bin (the tiny fixture checkpoint). */
const CHECKPOINT = 'test-sf/codegen-tiny-bin';
const CHECKPOINT_DIR = path.join(ROOT, 'test', 'fixtures', 'checkpoints', 'tiny-bin-fp16');
let hub: FakeHub;
let work: string;

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-dlcli-'));
  hub = await new FakeHub({ repos: { [REPO]: bundledModelDir(), [CHECKPOINT]: CHECKPOINT_DIR } }).start();
});

after(async () => {
  await hub.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const clean = { ...process.env };
    for (const k of ['HF_TOKEN', 'HF_HUB_OFFLINE', 'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy']) delete clean[k];
    const child = spawn(process.execPath, cliArgv(args), { cwd: ROOT, env: { ...clean, HF_ENDPOINT: hub.hubUrl, XDG_CACHE_HOME: path.join(work, 'cache'), ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('download --list prints the variants with their sizes; --json gives them as data', async () => {
  const text = await cli(['download', '--repo', REPO, '--list']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^ {2}model +6\.86 MB {3}\(default\)$/m);
  assert.match(text.stdout, /^ {2}decoder_model_merged +6\.98 MB$/m);
  assert.match(text.stdout, /plus config\.json, generation_config\.json/);
  const json = await cli(['download', '--repo', REPO, '--list', '--json']);
  const parsed = JSON.parse(json.stdout) as { variants: { variant: string; bytes: number }[] };
  assert.deepEqual(parsed.variants.map((v) => v.variant), ['model', 'decoder_model_merged']);
});

test('download fetches into the default folder under the cache, prints it, and a session runs on it', async () => {
  const run = await cli(['download', '--repo', REPO, '--variant', 'merged']);
  assert.equal(run.code, 0, run.stderr);
  const dir = path.join(work, 'cache', 'codegen-mt', 'models', 'test-owner--codegen-tiny');
  assert.equal(run.stdout.trim(), dir);
  assert.match(run.stderr, /onnx\/decoder_model_merged\.onnx: 6\.98 MB, verified/);
  assert.match(run.stderr, /is ready: fetched config\.json, generation_config\.json, onnx\/decoder_model_merged\.onnx; all verified/);
  assert.equal(resolveModelFolder(dir).variant, 'decoder_model_merged');
  const turns = path.join(work, 'turns.txt');
  fs.writeFileSync(turns, 'Print hello.\n');
  const session = await cli(['session', '--model', dir, '--turns-file', turns, '--max-new-tokens', '4', '--temperature', '0', '--json']);
  assert.equal(session.code, 0, session.stderr);
  assert.equal((JSON.parse(session.stdout) as { turns: unknown[] }).turns.length, 1);
});

test('download errors: usage (exit 2), not found and unreachable with the manual steps (exit 1)', async () => {
  const noRepo = await cli(['download', '--list']);
  assert.equal(noRepo.code, 2);
  assert.match(noRepo.stderr, /--repo is required/);
  const bad = await cli(['download', '--repo', 'no-slash']);
  assert.equal(bad.code, 2);
  const missing = await cli(['download', '--repo', 'nobody/nothing', '--dir', path.join(work, 'x')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^codegen-mt download: nobody\/nothing was not found on http:\/\/127\.0\.0\.1:\d+ \(HTTP 404\)/);
  const offline = await cli(['download', '--repo', REPO, '--variant', 'int8', '--dir', path.join(work, 'y')], { HF_ENDPOINT: 'http://127.0.0.1:1' });
  assert.equal(offline.code, 1);
  assert.match(offline.stderr, /Cannot reach 127\.0\.0\.1:1/);
  assert.match(offline.stderr, /resolve\/main\/onnx\/model_int8\.onnx\n\s+-> .*y\/onnx\/model_int8\.onnx/);
  assert.doesNotMatch(offline.stderr, /\n\s+at /, 'no stack trace');
});

test('a checkpoint repository: --list gives its format, size and each precision\'s needs; download converts it and a session runs on it', async () => {
  const list = await cli(['download', '--repo', CHECKPOINT, '--list']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^test-sf\/codegen-tiny-bin at main \(commit 0123456789ab\): a PyTorch checkpoint: pytorch_model\.bin, 3\.53 MB to download$/m);
  for (const p of ['fp32', 'fp16', 'int8', 'int4']) assert.match(list.stdout, new RegExp(`^ {2}${p} +[\\d.]+ MB disk +[\\d.]+ MB RAM  +[\\d.]+ ms/token${p === 'int8' ? ' {3}\\(default\\)' : ''}$`, 'm'));
  const json = JSON.parse((await cli(['download', '--repo', CHECKPOINT, '--list', '--json'])).stdout) as { format: string; checkpointFormat: string; defaultPrecision: string; precisions: { precision: string }[] };
  assert.deepEqual([json.format, json.checkpointFormat, json.defaultPrecision, json.precisions.length], ['checkpoint', 'pytorch', 'int8', 4]);

  const dir = path.join(work, 'checkpoint');
  const cache = path.join(work, 'compiled');
  const run = await cli(['download', '--repo', CHECKPOINT, '--variant', 'int4', '--dir', dir, '--cache', cache]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.trim(), dir);
  assert.match(run.stderr, /pytorch_model\.bin: 3\.53 MB, verified/);
  assert.match(run.stderr, /converting int4: 1 of 3 layers/);
  assert.match(run.stderr, /is ready: fetched config\.json, pytorch_model\.bin; all verified/);
  assert.match(run.stderr, new RegExp(`Use it with: codegen-mt session --model "${dir}" --variant int4 `));
  assert.equal(fs.readdirSync(cache).length, 1, 'converted into the cache');
  const turns = path.join(work, 'checkpoint-turns.txt');
  fs.writeFileSync(turns, 'Print hello.\n');
  const session = await cli(['session', '--model', dir, '--variant', 'int4', '--cache', cache, '--turns-file', turns, '--max-new-tokens', '4', '--temperature', '0', '--json']);
  assert.equal(session.code, 0, session.stderr);
  assert.doesNotMatch(session.stderr, /Converting/, 'the download converted it already');
  assert.equal((JSON.parse(session.stdout) as { turns: unknown[] }).turns.length, 1);

  const bad = await cli(['download', '--repo', CHECKPOINT, '--variant', 'model_int8', '--dir', path.join(work, 'bad')]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--variant must be one of fp32, fp16, int8, int4 .*not "model_int8"/);
});

test('download --catalog lists every model offered with each precision\'s disk, RAM and speed here', async () => {
  const text = await cli(['download', '--catalog']);
  assert.equal(text.code, 0, text.stderr);
  for (const size of ['350M', '2B', '6B', '16B']) for (const data of ['nl', 'multi', 'mono']) assert.match(text.stdout, new RegExp(`^Salesforce/codegen-${size}-${data}  [\\d.]+ [MG]B download`, 'm'));
  assert.match(text.stdout, /^Xenova\/codegen-350M-mono  360 MB download, HumanEval pass@1 12\.76% \(paper\)$/m);
  assert.match(text.stdout, /^ {2}int4 +1\.96 GB disk +4\.44 GB RAM[ *] +[\d.]+ ms\/token {3}\(default\)$/m);
  assert.match(text.stdout, /GB\/s read bandwidth/);
  const json = JSON.parse((await cli(['download', '--catalog', '--json'])).stdout) as { models: { repo: string; precisions: { fits: boolean }[] }[] };
  assert.equal(json.models.length, 13);
  assert.ok(json.models.every((m) => m.precisions.every((p) => typeof p.fits === 'boolean')));
});

test('progress: rate over a sliding window, ETA, and bytes found on disk do not count as speed', () => {
  let t = 0;
  const meter = new ProgressMeter(10_000_000, () => t, 5000);
  meter.update(2_000_000, false); // a partial file from an earlier run
  assert.equal(meter.snapshot().bytesPerSecond, undefined);
  t = 1000;
  meter.update(3_000_000);
  assert.equal(meter.snapshot().bytesPerSecond, 1_000_000);
  assert.equal(meter.snapshot().etaSeconds, 7);
  t = 2000;
  meter.update(5_000_000);
  assert.equal(meter.snapshot().bytesPerSecond, 1_500_000);
  for (t = 3000; t <= 10_000; t += 1000) meter.update(5_000_000 + (t - 2000) * 500);
  assert.equal(meter.snapshot().bytesPerSecond, 500_000, 'the old fast second left the window');
  assert.equal(describeProgress(meter.snapshot()), '9.00 MB of 10.0 MB, 500 kB/s, 2 s left');
  assert.equal(formatBytes(1_430_000_000), '1.43 GB');
  assert.equal(formatBytes(358_000_000), '358 MB');
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatDuration(3725), '1 h 2 min');
  assert.equal(formatDuration(65), '1 min 5 s');
});
