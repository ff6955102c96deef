// The remote engine's HTTP behaviour on a fake server: error bodies in vLLM's and TGI's recorded shapes become
// one-line EngineErrors carrying the server's message; 429 and 503 are retried (Retry-After honoured), nothing
// else is; a silent server times out; a cancel closes the connection; a stream cut short is an error; the API key
// goes as a bearer token; and normalizeBase. Recorded bodies: test/fixtures/servers/ (README.md there).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { RemoteEngine } from '../../src/engine/remote/remoteEngine';
import { normalizeBase } from '../../src/engine/remote/serverHttp';
import type { EngineErrorCode } from '../../src/protocol/errors';
import { EngineError } from '../../src/protocol/errors';
import { closed, FakeCompletionsServer, fixtureText, sendReply, sseEvents, streamEvents, type Handler, type Reply, type Route } from '../helpers/fakeCompletionsServer';

const CONTEXT = {
  header: '# Import libraries.\n\nimport math\n\n',
  turns: ['# Compute the area of a circle of radius r.\ndef area(r):\n    return math.pi * r * r\n\n'],
  prompt: '# Compute the circumference of a circle of radius r.\n',
};
const MODELS: Reply = { fixture: 'vllm-models.json' };
const SCORE: Handler = (req, res) => sendReply(res, { fixture: req.body?.echo ? 'vllm-echo-logprobs.json' : 'vllm-completion.json' });

const servers: FakeCompletionsServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

async function serve(routes: Record<string, Route>): Promise<FakeCompletionsServer> {
  const server = await FakeCompletionsServer.start(routes, { notFound: { status: 404, fixture: 'vllm-error-route-404.json' } });
  servers.push(server);
  return server;
}

/** Checks one EngineError: its code, that it is one line, and that it says what it must. */
function failsWith(code: EngineErrorCode, ...says: (string | RegExp)[]): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof EngineError, String(e));
    assert.equal(e.code, code, e.message);
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
    for (const s of says) assert.match(e.message, typeof s === 'string' ? new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : s);
    return true;
  };
}

/** A vLLM whose streamed completions answer with `stream` (scoring requests get the recorded echo). */
function vllmStreaming(stream: Handler): Promise<FakeCompletionsServer> {
  return serve({ 'GET /v1/models': MODELS, 'POST /v1/completions': (req, res) => (req.body?.stream ? stream(req, res) : SCORE(req, res)) });
}

test("vLLM's 404 for a model it does not serve, in the newer ({error: {...}}) and older (top level) shapes", async () => {
  for (const fixture of ['vllm-error-404.json', 'vllm-error-404-legacy.json']) {
    const server = await vllmStreaming((_req, res) => sendReply(res, { status: 404, fixture }));
    const engine = new RemoteEngine({ url: server.url });
    await engine.load();
    await assert.rejects(engine.generate({ context: CONTEXT, seed: 1 }), failsWith('server-error', '404', 'The model `codegen-2B-mono` does not exist.'));
  }
});

test("TGI's 422 validation error from /generate carries TGI's message", async () => {
  const server = await serve({
    'GET /info': { fixture: 'tgi-info.json' },
    'POST /v1/completions': { fixture: 'tgi-completion.json' },
    'POST /generate': [{ fixture: 'tgi-generate-details.json' }, { status: 422, fixture: 'tgi-error-422.json' }],
  });
  const engine = new RemoteEngine({ url: server.url });
  assert.equal((await engine.load()).server?.promptLogprobs, 'tgi');
  await assert.rejects(engine.perplexity({ context: CONTEXT }), failsWith('server-error', 'answered 422 to /generate', 'Input validation error: `inputs` tokens + `max_new_tokens` must be <= 1024.'));
});

test("401 (vLLM started with --api-key) names the server's message and the API key", async () => {
  const server = await serve({ 'GET /v1/models': { status: 401, fixture: 'vllm-error-401.json' } });
  await assert.rejects(new RemoteEngine({ url: server.url }).load(), failsWith('server-error', '401', 'Unauthorized', /API key/));
  // /models failed with an HTTP error, so TGI's /info was tried (vLLM has none); the 401 is what is reported.
  assert.deepEqual(server.requests.map((r) => r.path), ['/v1/models', '/info']);
});

test('the API key goes as Authorization: Bearer on every request', async () => {
  const server = await vllmStreaming((_req, res) => sendReply(res, { fixture: 'vllm-stream-eos.txt' }));
  const engine = new RemoteEngine({ url: server.url, apiKey: 'sk-test-123' });
  await engine.load();
  await engine.generate({ context: CONTEXT, seed: 1 });
  await engine.perplexity({ context: CONTEXT });
  assert.ok(server.requests.length >= 5);
  for (const r of server.requests) assert.equal(r.headers.authorization, 'Bearer sk-test-123', `${r.method} ${r.path}`);
  const open = await vllmStreaming(SCORE);
  await new RemoteEngine({ url: open.url }).load();
  assert.ok(open.requests.every((r) => r.headers.authorization === undefined), 'no key, no header');
});

test('429 with Retry-After: 0 is retried, and the retry succeeds', async () => {
  const server = await serve({
    'GET /v1/models': [{ status: 429, headers: { 'Retry-After': '0' }, fixture: 'tgi-error-429.json' }, MODELS],
    'POST /v1/completions': SCORE,
  });
  const info = await new RemoteEngine({ url: server.url }).load();
  assert.equal(info.nPositions, 1536);
  assert.equal(server.requestsTo('GET /v1/models').length, 2);
});

test('503 on every try: the retries run out and the server is reported unreachable (busy)', async () => {
  const server = await serve({ 'GET /v1/models': { status: 503, headers: { 'Retry-After': '0' }, fixture: 'tgi-error-429.json' } });
  await assert.rejects(new RemoteEngine({ url: server.url, retries: 3 }).load(), failsWith('server-unreachable', '503', 'busy', 'Model is overloaded'));
  assert.equal(server.requestsTo('GET /v1/models').length, 4, 'the first try and 3 retries');
});

test('500 is not retried', async () => {
  const server = await vllmStreaming((_req, res) => sendReply(res, { status: 500, fixture: 'vllm-error-500.json' }));
  const engine = new RemoteEngine({ url: server.url });
  await engine.load();
  await assert.rejects(engine.generate({ context: CONTEXT, seed: 1 }), failsWith('server-error', '500', 'Internal server error'));
  assert.equal(server.requestsTo('POST /v1/completions').filter((r) => r.body.stream).length, 1);
});

test('a server that never answers hits the timeout: server-unreachable', async () => {
  const server = await serve({ 'GET /v1/models': () => undefined });
  await assert.rejects(new RemoteEngine({ url: server.url, timeoutMs: 300 }).load(), failsWith('server-unreachable', 'sent no answer within 300 ms'));
});

test('a stream that goes silent mid-way hits the timeout too', async () => {
  const events = sseEvents(fixtureText('vllm-stream.txt')).slice(0, 4);
  const server = await vllmStreaming((_req, res) => streamEvents(res, events, { holdOpen: true }));
  const engine = new RemoteEngine({ url: server.url, timeoutMs: 300 });
  await engine.load();
  await assert.rejects(engine.generate({ context: CONTEXT, seed: 1 }), failsWith('server-unreachable', 'sent no piece of the stream within 300 ms'));
});

test('cancel mid-stream: the connection closes, and the result has the text so far with stopReason cancelled', async () => {
  const events = sseEvents(fixtureText('vllm-stream.txt')).slice(0, 12); // up to "    return 2 * math" and still going
  let hungUp: Promise<void> | undefined;
  const server = await vllmStreaming(async (_req, res) => {
    hungUp = closed(res);
    await streamEvents(res, events, { holdOpen: true });
  });
  const engine = new RemoteEngine({ url: server.url });
  await engine.load();
  const controller = new AbortController();
  const deltas: string[] = [];
  const result = await engine.generate({ context: CONTEXT, seed: 1 }, {
    signal: controller.signal,
    onDelta: (d) => {
      deltas.push(d);
      controller.abort();
    },
  });
  assert.equal(result.stopReason, 'cancelled');
  assert.ok(result.text.length > 0);
  assert.equal(deltas.join(''), result.text);
  assert.ok('def circumference(r):\n    return 2 * math.pi * r\n'.startsWith(result.text), JSON.stringify(result.text));
  assert.ok(hungUp, 'the stream was requested');
  await hungUp; // the fake server saw its socket close while it held the stream open
});

test('a server that goes away mid-stream: one error saying the connection broke mid-completion, not that it cannot be reached', async () => {
  const events = sseEvents(fixtureText('vllm-stream.txt')).slice(0, 6);
  const server = await vllmStreaming(async (_req, res) => {
    await streamEvents(res, events, { holdOpen: true });
    res.socket?.destroy(); // the server process died
  });
  const engine = new RemoteEngine({ url: server.url });
  await engine.load();
  await assert.rejects(engine.generate({ context: CONTEXT, seed: 1 }), failsWith('server-unreachable', 'closed the connection in the middle of a completion'));
});

test('a stream that ends without [DONE] and without a finish_reason is a server-error', async () => {
  const events = sseEvents(fixtureText('vllm-stream.txt')).slice(0, 10);
  const server = await vllmStreaming((_req, res) => streamEvents(res, events));
  const engine = new RemoteEngine({ url: server.url });
  await engine.load();
  await assert.rejects(engine.generate({ context: CONTEXT, seed: 1 }), failsWith('server-error', 'ended the stream before the completion finished'));
});

test('normalizeBase adds /v1 to a bare host, keeps a given path, and refuses what is not an http(s) URL', () => {
  assert.equal(normalizeBase('http://gpu-box:8000'), 'http://gpu-box:8000/v1');
  assert.equal(normalizeBase(' http://gpu-box:8000/ '), 'http://gpu-box:8000/v1');
  assert.equal(normalizeBase('https://host/v1/'), 'https://host/v1');
  assert.equal(normalizeBase('http://host:8080/proxy/v1'), 'http://host:8080/proxy/v1');
  for (const bad of ['ftp://host/v1', 'file:///tmp/socket', 'gpu-box:8000', 'not a url']) {
    assert.throws(() => normalizeBase(bad), failsWith('invalid-request'), bad);
  }
  assert.equal(new RemoteEngine({ url: 'http://127.0.0.1:9' }).url, 'http://127.0.0.1:9/v1');
});
