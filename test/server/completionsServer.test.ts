// codegen-mt serve's completions server over real HTTP on 127.0.0.1, on the bundled model in an engine process
// (EngineClient, as in production): the engine's own greedy text, streamed or not, stop sequences, echo and
// logprobs, the refusals in OpenAI's shape, API keys, clients that go away, the queue, and the project's own
// RemoteEngine as a client.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RemoteEngine } from '../../src/engine/remote/remoteEngine';
import type { CompletionResponse, ErrorResponse, ModelList } from '../../src/protocol/completions';
import type { Engine, GenerateRequest, GenerateResult } from '../../src/protocol/engine';
import { EngineError } from '../../src/protocol/errors';
import { toCompletionLogprobs } from '../../src/server/completionRun';
import { startCompletionsServer, type CompletionsServer } from '../../src/server/completionsServer';
import { StopSequenceScanner } from '../../src/server/stopSequences';
import { EngineClient } from '../../src/worker/engineClient';
import { MODEL_DIR } from '../helpers/model';

const MODEL = 'tiny-random';
const PROMPT = 'def add(a, b):\n';

/** The engine process, with a record of every generation the server ran (its prompt and how it ended). */
const client = new EngineClient();
const generations: { prompt: string; maxNewTokens?: number; stopReason: GenerateResult['stopReason']; tokens: number }[] = [];
const engine: Engine = {
  load: (options, callbacks) => client.load(options, callbacks),
  tokenize: (text) => client.tokenize(text),
  async generate(request, callbacks) {
    const result = await client.generate(request, callbacks);
    generations.push({ prompt: request.context.prompt, maxNewTokens: request.maxNewTokens, stopReason: result.stopReason, tokens: result.ids.length });
    return result;
  },
  perplexity: (request, signal) => client.perplexity(request, signal),
  dispose: () => client.dispose(),
};

const logs: string[] = [];
let server: CompletionsServer;
let nPositions = 0;
const servers: CompletionsServer[] = [];

before(async () => {
  nPositions = (await client.load({ modelDir: MODEL_DIR })).nPositions;
  server = await serve({});
});

after(async () => {
  for (const s of servers) await s.close();
  await client.dispose();
});

async function serve(options: { maxQueue?: number; apiKey?: string }): Promise<CompletionsServer> {
  const started = await startCompletionsServer({ engine, model: MODEL, nPositions, port: 0, log: (line) => logs.push(line), ...options });
  servers.push(started);
  return started;
}

/** The engine's own raw continuation, with the server's stop mode. */
function greedy(prompt: string, maxNewTokens: number): Promise<GenerateResult> {
  const request: GenerateRequest = { context: { header: '', turns: [], prompt }, maxNewTokens, temperature: 0, stop: 'none' };
  return client.generate(request);
}

interface Answer<T> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

async function call<T>(path: string, init: { method?: string; body?: unknown; headers?: Record<string, string>; base?: string; signal?: AbortSignal } = {}): Promise<Answer<T>> {
  const body = init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
  const response = await fetch(`${init.base ?? server.url}${path}`, {
    method: init.method ?? (body === undefined ? 'GET' : 'POST'),
    headers: { 'Content-Type': 'application/json', ...init.headers },
    body,
    signal: init.signal,
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as T };
}

function complete(body: Record<string, unknown>, base?: string): Promise<Answer<CompletionResponse>> {
  return call<CompletionResponse>('/completions', { body: { model: MODEL, ...body }, base });
}

/** A streamed completion's events (parsed), in order; `done`: whether [DONE] ended them. */
async function completeStreamed(body: Record<string, unknown>): Promise<{ contentType: string | null; events: CompletionResponse[]; done: boolean }> {
  const response = await fetch(`${server.url}/completions`, { method: 'POST', body: JSON.stringify({ model: MODEL, stream: true, ...body }) });
  const text = await response.text();
  const datas = text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice('data: '.length));
  const done = datas.at(-1) === '[DONE]';
  return { contentType: response.headers.get('content-type'), events: datas.filter((d) => d !== '[DONE]').map((d) => JSON.parse(d) as CompletionResponse), done };
}

/** Opens a stream and resolves once its first event has arrived; `abort` then drops the connection. */
async function openStream(body: Record<string, unknown>, base = server.url): Promise<{ abort: () => void; firstEvent: string }> {
  const controller = new AbortController();
  const response = await fetch(`${base}/completions`, { method: 'POST', body: JSON.stringify({ model: MODEL, stream: true, ...body }), signal: controller.signal });
  assert.equal(response.status, 200);
  const reader = response.body!.getReader();
  const { value } = await reader.read();
  return { abort: () => controller.abort(), firstEvent: new TextDecoder().decode(value) };
}

async function until(condition: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('GET /v1/models lists the one model served with its context length; the default host is 127.0.0.1', async () => {
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
  const r = await call<ModelList>('/models');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'application/json');
  assert.deepEqual(r.body, { object: 'list', data: [{ id: MODEL, object: 'model', owned_by: 'codegen-mt', max_model_len: nPositions }] });
});

test('a greedy completion is the engine\'s greedy continuation; its stream adds up to it and ends with [DONE]', async () => {
  const reference = await greedy(PROMPT, 24);
  const r = await complete({ prompt: PROMPT, max_tokens: 24, temperature: 0 });
  assert.equal(r.status, 200);
  const answer = r.body;
  assert.match(answer.id, /^cmpl-/);
  assert.equal(answer.object, 'text_completion');
  assert.equal(answer.model, MODEL);
  assert.ok(Math.abs(answer.created - Date.now() / 1000) < 120);
  assert.equal(answer.choices.length, 1);
  assert.equal(answer.choices[0].text, reference.text);
  assert.equal(answer.choices[0].finish_reason, reference.stopReason === 'eos' ? 'stop' : 'length');
  assert.equal(answer.choices[0].logprobs, null);
  assert.deepEqual(answer.usage, { prompt_tokens: reference.promptTokens, completion_tokens: reference.ids.length, total_tokens: reference.promptTokens + reference.ids.length });
  assert.match(answer.system_fingerprint ?? '', /^seed-\d+$/);

  const streamed = await completeStreamed({ prompt: PROMPT, max_tokens: 24, temperature: 0 });
  assert.equal(streamed.contentType, 'text/event-stream');
  assert.ok(streamed.done, 'the stream ends with [DONE]');
  assert.ok(streamed.events.length > 2, `${streamed.events.length} events`);
  assert.equal(streamed.events.map((e) => e.choices[0].text).join(''), reference.text);
  assert.ok(streamed.events.slice(0, -1).every((e) => e.choices[0].finish_reason === null));
  const last = streamed.events.at(-1)!;
  assert.equal(last.choices[0].finish_reason, answer.choices[0].finish_reason);
  assert.deepEqual(last.usage, answer.usage);
  assert.ok(streamed.events.every((e) => e.id === streamed.events[0].id && e.object === 'text_completion'));
});

test('a stop sequence ends the text just before its first occurrence and stops the generation, streamed or not', async () => {
  const reference = (await greedy(PROMPT, 200)).text;
  const stop = reference.slice(Math.floor(reference.length / 4), Math.floor(reference.length / 4) + 5);
  const expected = reference.slice(0, reference.indexOf(stop));
  const body = { prompt: PROMPT, max_tokens: 200, temperature: 0, stop: ['never in this text \u0001', stop] };
  const r = await complete(body);
  assert.equal(r.status, 200);
  assert.equal(r.body.choices[0].text, expected);
  assert.equal(r.body.choices[0].finish_reason, 'stop');
  assert.equal(r.body.choices[0].stop_reason, stop);
  const ran = generations.at(-1)!;
  assert.equal(ran.stopReason, 'cancelled');
  assert.ok(ran.tokens < 200, `${ran.tokens} tokens generated`);

  const streamed = await completeStreamed(body);
  const pieces = streamed.events.map((e) => e.choices[0].text);
  assert.equal(pieces.join(''), expected);
  assert.ok(pieces.every((p) => !p.includes(stop)));
  assert.equal(streamed.events.at(-1)!.choices[0].finish_reason, 'stop');
  assert.equal(streamed.events.at(-1)!.choices[0].stop_reason, stop);
  // A single string is taken as one stop sequence.
  assert.equal((await complete({ ...body, stop })).body.choices[0].text, expected);
});

test('echo + logprobs: the prompt then the completion, its tokens laid over the text with the engine\'s log-probabilities', async () => {
  const completion = (await greedy(PROMPT, 10)).text;
  const r = await complete({ prompt: PROMPT, max_tokens: 10, temperature: 0, echo: true, logprobs: 1 });
  assert.equal(r.status, 200);
  const { text, logprobs } = r.body.choices[0];
  assert.equal(text, PROMPT + completion);
  assert.ok(logprobs);
  assert.equal(logprobs.tokens.join(''), text);
  logprobs.tokens.forEach((token, i) => assert.equal(text.slice(logprobs.text_offset[i], logprobs.text_offset[i] + token.length), token));
  assert.equal(logprobs.token_logprobs[0], null);
  assert.equal(logprobs.top_logprobs, null);
  const scored = await client.perplexity({ context: { header: '', turns: [], prompt: text } });
  assert.equal(logprobs.token_logprobs.length, scored.tokens.length + 1);
  scored.tokens.forEach((t, i) => assert.ok(Math.abs((logprobs.token_logprobs[i + 1] as number) + t.surprisal) < 1e-4, `token ${i + 1}`));

  // Without echo: the completion's tokens, each conditioned on the prompt (so none is null).
  const plain = await complete({ prompt: PROMPT, max_tokens: 10, temperature: 0, logprobs: 0 });
  const lp = plain.body.choices[0].logprobs!;
  assert.equal(plain.body.choices[0].text, completion);
  assert.equal(lp.tokens.join(''), completion);
  assert.equal(lp.text_offset[0], 0);
  const inContext = await client.perplexity({ context: { header: PROMPT, turns: [], prompt: completion } });
  assert.deepEqual(lp.token_logprobs.map((v) => (v as number).toFixed(4)), inContext.tokens.map((t) => (-t.surprisal).toFixed(4)));

  // Streamed: the prompt goes out first; the events carry no logprobs but the last, which has the whole text's.
  const streamed = await completeStreamed({ prompt: PROMPT, max_tokens: 10, temperature: 0, echo: true, logprobs: 1 });
  assert.ok(streamed.events[0].choices[0].text.startsWith(PROMPT));
  assert.equal(streamed.events.map((e) => e.choices[0].text).join(''), text);
  assert.ok(streamed.events.slice(0, -1).every((e) => e.choices[0].logprobs === null));
  assert.deepEqual(streamed.events.at(-1)!.choices[0].logprobs!.tokens, logprobs.tokens);
});

test('max_tokens 0 with echo and logprobs gives the prompt\'s log-probabilities only, without generating', async () => {
  const before = generations.length;
  const r = await complete({ prompt: PROMPT, max_tokens: 0, echo: true, logprobs: 0 });
  assert.equal(r.status, 200);
  const choice = r.body.choices[0];
  assert.equal(choice.text, PROMPT);
  assert.equal(choice.finish_reason, 'length');
  assert.equal(generations.length, before, 'no generation ran');
  const scored = await client.perplexity({ context: { header: '', turns: [], prompt: PROMPT } });
  assert.equal(choice.logprobs!.tokens.join(''), PROMPT);
  assert.equal(choice.logprobs!.token_logprobs[0], null);
  assert.equal(choice.logprobs!.token_logprobs.length, scored.tokens.length + 1);
  const promptTokens = (await client.tokenize(PROMPT)).length;
  assert.deepEqual(r.body.usage, { prompt_tokens: promptTokens, completion_tokens: 0, total_tokens: promptTokens });
});

test('refused requests answer in OpenAI\'s error shape, naming the field', async () => {
  const engineMessage = await client.generate({ context: { header: '', turns: [], prompt: 'x' }, temperature: -1 }).then(() => 'accepted', (e: EngineError) => e.message);
  const cases: { name: string; send: () => Promise<Answer<ErrorResponse>>; status: number; param?: string; code?: string; message?: RegExp | string }[] = [
    { name: 'not JSON', send: () => call('/completions', { body: '{"model": ' }), status: 400, message: /not valid JSON/ },
    { name: 'another model', send: () => call('/completions', { body: { model: 'gpt-4', prompt: 'x' } }), status: 404, code: 'model_not_found', message: `The model \`gpt-4\` does not exist; this server serves \`${MODEL}\`.` },
    { name: 'a prompt array', send: () => call('/completions', { body: { model: MODEL, prompt: ['a', 'b'] } }), status: 400, param: 'prompt' },
    { name: 'no prompt', send: () => call('/completions', { body: { model: MODEL } }), status: 400, param: 'prompt' },
    { name: 'an empty prompt to continue', send: () => call('/completions', { body: { model: MODEL, prompt: '' } }), status: 400, param: 'prompt' },
    { name: 'n = 2', send: () => call('/completions', { body: { model: MODEL, prompt: 'x', n: 2 } }), status: 400, param: 'n' },
    { name: 'temperature -1', send: () => call('/completions', { body: { model: MODEL, prompt: 'x', temperature: -1 } }), status: 400, param: 'temperature', message: engineMessage },
    { name: 'max_tokens a string', send: () => call('/completions', { body: { model: MODEL, prompt: 'x', max_tokens: '5' } }), status: 400, param: 'max_tokens' },
    { name: 'five stop sequences', send: () => call('/completions', { body: { model: MODEL, prompt: 'x', stop: ['a', 'b', 'c', 'd', 'e'] } }), status: 400, param: 'stop' },
    { name: 'logprobs 6', send: () => call('/completions', { body: { model: MODEL, prompt: 'x', logprobs: 6 } }), status: 400, param: 'logprobs' },
    { name: 'stream not a boolean', send: () => call('/completions', { body: { model: MODEL, prompt: 'x', stream: 'yes' } }), status: 400, param: 'stream' },
    // The engine's own refusal after the request waited its turn: still a plain 400, even when streaming was asked for.
    { name: 'max_tokens past the positions', send: () => call('/completions', { body: { model: MODEL, prompt: 'x', max_tokens: nPositions, stream: true } }), status: 400, message: /positions/ },
    { name: 'a body over the limit', send: () => call('/completions', { body: JSON.stringify({ model: MODEL, prompt: 'x'.repeat(1024 * 1024) }) }), status: 413 },
    { name: 'an unknown path', send: () => call('/chat/completions'), status: 404 },
    { name: 'GET on completions', send: () => call('/completions'), status: 405 },
  ];
  for (const c of cases) {
    const r = await c.send();
    assert.equal(r.status, c.status, `${c.name}: ${JSON.stringify(r.body)}`);
    assert.equal(r.headers.get('content-type'), 'application/json', c.name);
    assert.equal(typeof r.body.error.message, 'string', c.name);
    assert.equal(r.body.error.type, c.status >= 500 ? 'server_error' : 'invalid_request_error', c.name);
    if (c.param) assert.equal(r.body.error.param, c.param, c.name);
    if (c.code) assert.equal(r.body.error.code, c.code, c.name);
    if (typeof c.message === 'string') assert.equal(r.body.error.message, c.message, c.name);
    else if (c.message) assert.match(r.body.error.message, c.message, c.name);
  }
  // Unknown fields are ignored, and nothing above hurt the server.
  assert.equal((await complete({ prompt: 'x', max_tokens: 2, best_of: 1, user: 'me' })).status, 200);
});

test('with an API key set, a request needs it as a Bearer token', async () => {
  const locked = await serve({ apiKey: 'sekrit' });
  const none = await call<ErrorResponse>('/models', { base: locked.url });
  assert.equal(none.status, 401);
  assert.equal(none.body.error.code, 'invalid_api_key');
  const wrong = await call<ErrorResponse>('/models', { base: locked.url, headers: { Authorization: 'Bearer sekrit2' } });
  assert.equal(wrong.status, 401);
  assert.equal((await call('/models', { base: locked.url, headers: { Authorization: 'Bearer sekrit' } })).status, 200);
});

test('a client that goes away mid-stream stops its generation at once; the next request then runs', async () => {
  // Sampled, the random model runs its whole budget without an end of text (see test/helpers/flowHarness.ts).
  const stream = await openStream({ prompt: 'disconnecting client', max_tokens: 1500, temperature: 0.8, seed: 5 });
  assert.match(stream.firstEvent, /^data: /);
  stream.abort();
  await until(() => generations.some((g) => g.prompt === 'disconnecting client'), 'the generation to end');
  const ran = generations.find((g) => g.prompt === 'disconnecting client')!;
  assert.equal(ran.stopReason, 'cancelled');
  assert.ok(ran.tokens < 1000, `${ran.tokens} of 1500 tokens generated`);
  assert.equal((await complete({ prompt: 'afterwards', max_tokens: 3 })).status, 200);
  await until(() => logs.some((l) => /^POST \/v1\/completions 200 - tokens \d+ ms \(the client went away after \d+ generated tokens\)$/.test(l)), 'the log line');
});

test('two concurrent requests both get their own greedy completion', async () => {
  const [first, second] = [await greedy('import os\n', 12), await greedy('class A:\n', 12)];
  const [a, b] = await Promise.all([complete({ prompt: 'import os\n', max_tokens: 12, temperature: 0 }), complete({ prompt: 'class A:\n', max_tokens: 12, temperature: 0 })]);
  assert.equal(a.body.choices[0].text, first.text);
  assert.equal(b.body.choices[0].text, second.text);
});

test('a full queue answers 503 with Retry-After; a request whose client left while it waited never runs', async () => {
  const small = await serve({ maxQueue: 1 });
  const mark = logs.length; // this test's log lines are the ones after it
  const since = (): string[] => logs.slice(mark);
  const running = await openStream({ prompt: 'long running', max_tokens: 1500, temperature: 0.8, seed: 9 }, small.url);
  const leaving = new AbortController();
  const waiting = call('/completions', { base: small.url, body: { model: MODEL, prompt: 'left while queued', max_tokens: 3 }, signal: leaving.signal }).catch(() => 'aborted');
  await until(() => since().some((l) => l.includes('waits for the model: 1 in line')), 'the second request to wait in line'); // the model runs elsewhere: the server's loop is free
  const refused = await complete({ prompt: 'one too many', max_tokens: 3 }, small.url);
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get('retry-after'), '2');
  const error = (refused.body as unknown as ErrorResponse).error;
  assert.equal(error.code, 'server_busy');
  assert.equal(error.type, 'server_error');
  leaving.abort();
  assert.equal(await waiting, 'aborted');
  await until(() => since().some((l) => l.includes('the client went away while it waited')), 'the server to see that client go'); // its place is free again
  const next = complete({ prompt: 'next in line', max_tokens: 3 }, small.url);
  await until(() => since().filter((l) => l.includes('waits for the model: 1 in line')).length >= 2, 'the next request to wait in line');
  running.abort();
  assert.equal((await next).status, 200);
  assert.equal(generations.find((g) => g.prompt === 'long running')?.stopReason, 'cancelled');
  assert.ok(!generations.some((g) => g.prompt === 'left while queued'), 'the request whose client left never ran');
  assert.ok(logs.some((l) => l.includes('the client went away while it waited: not run')));
  assert.ok(logs.some((l) => /^POST \/v1\/completions 503 /.test(l)));
});

test('the RemoteEngine on a busy server: its 503 is retried after Retry-After, and the turn then runs', async () => {
  const small = await serve({ maxQueue: 0 }); // busy whenever one request runs
  const remote = new RemoteEngine({ url: small.url });
  await remote.load();
  const mark = logs.length;
  const running = await openStream({ prompt: 'keeps the model busy', max_tokens: 1500, temperature: 0.8, seed: 3 }, small.url);
  const turn = remote.generate({ context: { header: '', turns: [], prompt: PROMPT }, maxNewTokens: 8, temperature: 0, stop: 'none' });
  await until(() => logs.slice(mark).some((l) => /^POST \/v1\/completions 503 /.test(l)), 'the server to refuse the turn (busy)');
  running.abort(); // the model is free again: the client's retry, after the server's Retry-After, gets it
  const result = await turn;
  assert.equal(result.text, (await greedy(PROMPT, 8)).text);
  await remote.dispose();
});

test('the project\'s RemoteEngine on this server gives the local engine\'s prompt perplexity and greedy turn', async () => {
  const remote = new RemoteEngine({ url: server.url });
  const info = await remote.load();
  assert.equal(info.server?.model, MODEL);
  assert.equal(info.server?.promptLogprobs, 'echo');
  assert.equal(info.nPositions, nPositions);
  const context = { header: '# Import libraries.\nimport numpy as np\n', turns: [], prompt: '# Add two numbers.\n' };
  const [local, viaServer] = [await client.perplexity({ context }), await remote.perplexity({ context })];
  assert.ok(Math.abs(local.perplexity - viaServer.perplexity) / local.perplexity < 1e-4, `${local.perplexity} vs ${viaServer.perplexity}`);
  const request: GenerateRequest = { context, maxNewTokens: 16, temperature: 0, stop: 'turn' };
  assert.equal((await remote.generate(request)).text, (await client.generate(request)).text);
  await remote.dispose();
});

test('an engine failure answers 500 in OpenAI\'s shape with one log line, mid-stream an error event; the server carries on', async () => {
  const failing: Engine = {
    ...engine,
    async generate(_request, callbacks) {
      callbacks?.onDelta?.('partial');
      throw new EngineError('engine-crashed', 'The engine process stopped unexpectedly (boom).');
    },
  };
  const broken = await startCompletionsServer({ engine: failing, model: MODEL, nPositions, port: 0, log: (line) => logs.push(line) });
  servers.push(broken);
  const r = await complete({ prompt: 'x' }, broken.url);
  assert.equal(r.status, 500);
  const error = (r.body as unknown as ErrorResponse).error;
  assert.equal(error.type, 'server_error');
  assert.match(error.message, /boom/);
  await until(() => logs.some((l) => /^POST \/v1\/completions 500 .*boom/.test(l)), 'the log line');
  const streamed = await fetch(`${broken.url}/completions`, { method: 'POST', body: JSON.stringify({ model: MODEL, prompt: 'x', stream: true }) });
  assert.equal(streamed.status, 200);
  const events = (await streamed.text()).split('\n\n').filter((e) => e !== '');
  assert.equal(events.length, 2);
  assert.equal((JSON.parse(events[0].slice('data: '.length)) as CompletionResponse).choices[0].text, 'partial');
  assert.match((JSON.parse(events[1].slice('data: '.length)) as ErrorResponse).error.message, /boom/);
  assert.equal((await call('/models', { base: broken.url })).status, 200);
});

test('the stop scanner holds back only a tail that could start a stop sequence, and never releases past one', () => {
  const scanner = new StopSequenceScanner(['XY', 'aab']);
  assert.deepEqual(['ab', 'c', 'X', 'Z', 'a', 'a'].map((d) => scanner.push(d)), ['ab', 'c', '', 'XZ', '', '']);
  assert.equal(scanner.push('ab'), 'a'); // 'aaab': the stop 'aab' starts at the second a
  assert.equal(scanner.stoppedBy, 'aab');
  assert.equal(scanner.text, 'abcXZa');
  assert.equal(scanner.push('more'), '');
  assert.equal(scanner.finish(), '');
  // Split over deltas, and at the very start; with no stop, finish releases the held tail.
  const split = new StopSequenceScanner(['\n\n\n']);
  assert.deepEqual(['x\n', '\n', '\ny'].map((d) => split.push(d)), ['x', '', '']);
  assert.equal(split.text, 'x');
  const open = new StopSequenceScanner(['END']);
  assert.deepEqual([open.push('the EN'), open.finish()], ['the ', 'EN']);
});

test('logprobs lay the scored tokens end to end over the text, the unscored first token null', () => {
  const lp = toCompletionLogprobs('héllo', [
    { text: 'é', surprisal: 1, start: 1, end: 2 },
    { text: 'é', surprisal: 2, start: 1, end: 2 }, // the second half of the same character
    { text: 'llo', surprisal: 3, start: 2, end: 5 },
  ]);
  assert.deepEqual(lp, { tokens: ['h', 'é', '', 'llo'], token_logprobs: [null, -1, -2, -3], top_logprobs: null, text_offset: [0, 1, 2, 2] });
  assert.deepEqual(toCompletionLogprobs('x', []).tokens, ['x']);
  assert.deepEqual(toCompletionLogprobs('', []).tokens, []);
});
