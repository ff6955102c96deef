// How the downloader reaches the hub: HF_ENDPOINT, HF_TOKEN (sent to the hub, never to the CDN it redirects to),
// and proxies: a CONNECT tunnel for https:// through a local proxy, the absolute-form request for http://, proxy
// credentials, NO_PROXY. The hub is local (fakeHub.ts), over TLS with a test certificate where it matters.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { bundledModelDir } from '../../src/engine/bundledModel';
import { resolveModelFolder } from '../../src/engine/modelFolder';
import { DownloadError } from '../../src/download/downloadError';
import { DEFAULT_ENDPOINT, fetchRepoSnapshot, hubSettingsFromEnv } from '../../src/download/hubApi';
import { downloadModel } from '../../src/download/modelDownloader';
import { bypassesProxy, explicitProxy, proxyForUrl, proxyFromEnv } from '../../src/download/proxy';
import { FakeHub, TestProxy } from './fakeHub';
import { TEST_CERT } from './testCert';

const REPO = 'test-owner/codegen-tiny';
const GATED = 'gated-org/codegen-tiny';
let work: string;
let plain: FakeHub;
let secure: FakeHub;
let proxy: TestProxy;

before(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-hub-'));
  const repos = { [REPO]: bundledModelDir(), [GATED]: bundledModelDir() };
  plain = await new FakeHub({ repos, gated: { [GATED]: 'hf_test_token' } }).start();
  secure = await new FakeHub({ repos, tls: true }).start();
  proxy = await new TestProxy().start();
});

after(async () => {
  await Promise.all([plain.stop(), secure.stop(), proxy.stop()]);
  fs.rmSync(work, { recursive: true, force: true });
});

test('hub settings come from the environment as the Hugging Face tools read them', () => {
  assert.equal(hubSettingsFromEnv({}).endpoint, DEFAULT_ENDPOINT);
  assert.equal(hubSettingsFromEnv({}).token, undefined);
  const s = hubSettingsFromEnv({ HF_ENDPOINT: 'https://hf-mirror.example/', HF_TOKEN: ' hf_abc ', HF_HUB_OFFLINE: '1', https_proxy: 'http://p:3128', NO_PROXY: 'internal' });
  assert.equal(s.endpoint, 'https://hf-mirror.example');
  assert.equal(s.token, 'hf_abc');
  assert.equal(s.offline, true);
  assert.deepEqual(s.proxy, { httpsProxy: 'http://p:3128', httpProxy: undefined, noProxy: 'internal' });
  assert.equal(hubSettingsFromEnv({ HUGGING_FACE_HUB_TOKEN: 'hf_old' }).token, 'hf_old');
});

test('HF_ENDPOINT and HF_TOKEN: a gated repository downloads with the token, which never reaches the CDN', async () => {
  const hub = hubSettingsFromEnv({ HF_ENDPOINT: `${plain.hubUrl}/`, HF_TOKEN: 'hf_test_token' });
  plain.requests.length = 0;
  const dir = path.join(work, 'gated');
  await downloadModel({ repo: GATED, variant: 'model', dir, hub });
  assert.equal(resolveModelFolder(dir).variant, 'model');
  const hubRequests = plain.requests.filter((r) => r.server === 'hub');
  assert.ok(hubRequests.length >= 3 && hubRequests.every((r) => r.authorization === 'Bearer hf_test_token'), 'the API and resolve URLs get the token');
  const cdn = plain.requests.filter((r) => r.server === 'cdn');
  assert.ok(cdn.length > 0 && cdn.every((r) => r.authorization === undefined), 'the redirect to another origin drops Authorization');
});

test('a gated repository without a token, or with a wrong one, says what to do', async () => {
  const none = hubSettingsFromEnv({ HF_ENDPOINT: plain.hubUrl });
  await assert.rejects(fetchRepoSnapshot(GATED, 'main', none), (e: DownloadError) => e.code === 'unauthorized' && /HTTP 401.*restricted.*set HF_TOKEN/.test(e.message));
  const wrong = hubSettingsFromEnv({ HF_ENDPOINT: plain.hubUrl, HF_TOKEN: 'hf_wrong' });
  await assert.rejects(fetchRepoSnapshot(GATED, 'main', wrong), (e: DownloadError) => e.code === 'unauthorized' && /token was refused/.test(e.message));
});

test('https through a proxy: a CONNECT tunnel to the hub and to the CDN, with proxy credentials', async () => {
  const authed = proxy.url.replace('http://', 'http://user:pa%20ss@');
  const hub = { endpoint: secure.hubUrl, proxy: proxyFromEnv({ HTTPS_PROXY: authed }), ca: TEST_CERT };
  proxy.connects.length = 0;
  proxy.auth.length = 0;
  const dir = path.join(work, 'via-connect');
  await downloadModel({ repo: REPO, variant: 'merged', dir, hub });
  assert.equal(resolveModelFolder(dir).variant, 'decoder_model_merged');
  const hubHost = new URL(secure.hubUrl).host;
  const cdnHost = new URL(secure.cdnUrl).host;
  assert.ok(proxy.connects.includes(hubHost), `tunnels: ${proxy.connects.join(' ')}`);
  assert.ok(proxy.connects.includes(cdnHost));
  assert.ok(proxy.auth.every((a) => a === `Basic ${Buffer.from('user:pa ss').toString('base64')}`));
  assert.ok(fs.readFileSync(path.join(dir, 'onnx', 'decoder_model_merged.onnx')).equals(fs.readFileSync(path.join(bundledModelDir(), 'onnx', 'decoder_model_merged.onnx'))));
});

test('http through a proxy: absolute-form requests; NO_PROXY hosts go direct', async () => {
  const hub = { endpoint: plain.hubUrl, proxy: proxyFromEnv({ HTTP_PROXY: proxy.url }) };
  proxy.forwarded.length = 0;
  await fetchRepoSnapshot(REPO, 'main', hub);
  assert.deepEqual(proxy.forwarded, [`${plain.hubUrl}/api/models/${REPO}/revision/main?blobs=true`]);

  proxy.connects.length = 0;
  proxy.forwarded.length = 0;
  const bypass = { endpoint: secure.hubUrl, proxy: proxyFromEnv({ HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1, .localhost, localhost' }), ca: TEST_CERT };
  await downloadModel({ repo: REPO, variant: 'model', dir: path.join(work, 'no-proxy'), hub: bypass });
  assert.deepEqual([...proxy.connects, ...proxy.forwarded], []);
});

test('an unreachable proxy and an untrusted certificate are network errors with the manual steps', async () => {
  const deadProxy = { endpoint: secure.hubUrl, proxy: proxyFromEnv({ HTTPS_PROXY: 'http://127.0.0.1:1' }), ca: TEST_CERT };
  await assert.rejects(downloadModel({ repo: REPO, dir: path.join(work, 'dead'), hub: deadProxy }), (e: DownloadError) => e.code === 'network' && /the proxy 127\.0\.0\.1:1.*ECONNREFUSED/.test(e.message) && /config\.json/.test(e.manualSteps ?? ''));
  const untrusted = { endpoint: secure.hubUrl, proxy: {} };
  await assert.rejects(fetchRepoSnapshot(REPO, 'main', untrusted), (e: DownloadError) => e.code === 'network' && /certificate/i.test(e.message));
});

test('NO_PROXY and proxy URL rules', () => {
  const u = (s: string): URL => new URL(s);
  assert.equal(bypassesProxy(u('https://huggingface.co/x'), undefined), false);
  assert.equal(bypassesProxy(u('https://huggingface.co/x'), '*'), true);
  assert.equal(bypassesProxy(u('https://huggingface.co/x'), 'huggingface.co'), true);
  assert.equal(bypassesProxy(u('https://cdn-lfs.huggingface.co/x'), '.huggingface.co'), true);
  assert.equal(bypassesProxy(u('https://cdn-lfs.huggingface.co/x'), 'huggingface.co'), true);
  assert.equal(bypassesProxy(u('https://nothuggingface.co/x'), 'huggingface.co'), false);
  assert.equal(bypassesProxy(u('https://huggingface.co/x'), 'example.com huggingface.co:443'), true);
  assert.equal(bypassesProxy(u('https://huggingface.co/x'), 'huggingface.co:8443'), false);
  assert.equal(bypassesProxy(u('http://[::1]:8080/x'), '::1'), true);
  assert.equal(proxyForUrl(u('https://h/x'), { httpsProxy: 'proxy:3128' })?.href, 'http://proxy:3128/');
  assert.equal(proxyForUrl(u('http://h/x'), { httpsProxy: 'http://proxy:3128' }), undefined, 'http:// uses HTTP_PROXY only');
  const vscodeProxy = explicitProxy('http://corp:8080', ['intranet.example'], {});
  assert.equal(proxyForUrl(u('http://h/x'), vscodeProxy)?.host, 'corp:8080');
  assert.equal(proxyForUrl(u('https://a.intranet.example/x'), vscodeProxy), undefined);
});
