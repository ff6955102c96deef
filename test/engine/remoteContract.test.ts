// The remote engine against recorded bodies in the documented shapes of vLLM and TGI (test/fixtures/servers/,
// whose README.md names the source of each): what load() finds, which way of scoring a prompt the probe picks,
// the perplexity from each shape, and generate() streaming through the turn rules with the request it sends.
// Every recorded body answers the same text: RECORDED's context, 53 CodeGen tokens.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { truncateCompletion } from '../../src/engine/generation/turnStop';
import { RemoteEngine, TURN_STOP_SEQUENCES } from '../../src/engine/remote/remoteEngine';
import { CodeGenTokenizer } from '../../src/engine/tokenizer';
import type { PerplexityResult } from '../../src/protocol/engine';
import { EngineError } from '../../src/protocol/errors';
import { FakeCompletionsServer, fixtureJson, sendReply, type Handler, type Route } from '../helpers/fakeCompletionsServer';

const MODEL = 'Salesforce/codegen-350M-mono';
const CONTEXT = {
  header: '# Import libraries.\n\nimport math\n\n',
  turns: ['# Compute the area of a circle of radius r.\ndef area(r):\n    return math.pi * r * r\n\n'],
  prompt: '# Compute the circumference of a circle of radius r.\n',
};
const TEXT = CONTEXT.header + CONTEXT.turns.join('') + CONTEXT.prompt;
const PROMPT_START = TEXT.length - CONTEXT.prompt.length;
/** The prompt's tokens, the last 13 of the 53: '#', ' Comp', 'ute', ' the', ' circumference', ... ' r', '.', '\n'. */
const PROMPT_TOKENS = 13;
const TURN = 'def circumference(r):\n    return 2 * math.pi * r\n\n';

const servers: FakeCompletionsServer[] = [];
const engines: RemoteEngine[] = [];
after(async () => {
  for (const e of engines) await e.dispose();
  for (const s of servers) await s.close();
});

async function serve(routes: Record<string, Route>, notFound?: string): Promise<FakeCompletionsServer> {
  const server = await FakeCompletionsServer.start(routes, notFound ? { notFound: { status: 404, fixture: notFound } } : {});
  servers.push(server);
  return server;
}

async function connect(server: FakeCompletionsServer, options: { timeoutMs?: number } = {}): Promise<RemoteEngine> {
  const engine = new RemoteEngine({ url: server.url, ...options });
  engines.push(engine);
  await engine.load();
  return engine;
}

/** vLLM's /v1/completions: echo, prompt_logprobs, a plain completion, or the given recorded stream. */
function vllmCompletions(stream = 'vllm-stream.txt'): Handler {
  return (req, res) =>
    sendReply(res, {
      fixture: req.body?.stream ? stream : req.body?.echo ? 'vllm-echo-logprobs.json' : req.body?.prompt_logprobs !== undefined ? 'vllm-prompt-logprobs.json' : 'vllm-completion.json',
    });
}

const vllm = (stream?: string): Promise<FakeCompletionsServer> =>
  serve({ 'GET /v1/models': { fixture: 'vllm-models.json' }, 'POST /v1/completions': vllmCompletions(stream) }, 'vllm-error-route-404.json');

/** TGI 3.3: /info, /v1/models (from 2.3 on) without a context length, /v1/completions (echo, logprobs and prompt_logprobs ignored), /generate. */
function tgi({ withModelsRoute = true, info = fixtureJson<object>('tgi-info.json'), stream = 'tgi-stream.txt' } = {}): Promise<FakeCompletionsServer> {
  return serve({
    'GET /info': { json: info },
    ...(withModelsRoute ? { 'GET /v1/models': { fixture: 'tgi-models.json' } } : {}),
    'POST /v1/completions': (req, res) => sendReply(res, { fixture: req.body?.stream ? stream : 'tgi-completion.json' }),
    'POST /generate': { fixture: 'tgi-generate-details.json' },
  });
}

const perplexityOf = (logprobs: readonly number[]): number => Math.exp(logprobs.reduce((a, lp) => a - lp, 0) / logprobs.length);

function echoExpected(): number {
  const lp = fixtureJson('vllm-echo-logprobs.json').choices[0].logprobs;
  const inPrompt = (lp.token_logprobs as number[]).filter((_, i) => lp.text_offset[i] >= PROMPT_START && lp.text_offset[i] < TEXT.length);
  assert.equal(inPrompt.length, PROMPT_TOKENS);
  return perplexityOf(inPrompt);
}

function assertScore(result: PerplexityResult, expected: number): void {
  assert.ok(Math.abs(result.perplexity - expected) < 1e-9, `${result.perplexity} vs ${expected}`);
  assert.equal(result.tokens.length, PROMPT_TOKENS);
  assert.equal(result.tokens.map((t) => t.text).join(''), CONTEXT.prompt);
  assert.deepEqual([result.tokens[0].start, result.tokens.at(-1)?.end], [0, CONTEXT.prompt.length]);
  assert.equal(result.promptTokens, 53);
  assert.equal(result.droppedTurns, 0);
}

test('vLLM: load() finds the model and its max_model_len, and the probe picks echo first', async () => {
  const server = await vllm();
  const engine = await connect(server);
  const info = engine.modelInfo;
  assert.deepEqual([info?.variant, info?.nPositions, info?.layout], [MODEL, 1536, 'server']);
  assert.deepEqual(info?.server, { url: `${server.url}/v1`, model: MODEL, promptLogprobs: 'echo' });
  assert.deepEqual(server.requests.map((r) => `${r.method} ${r.path}`), ['GET /v1/models', 'POST /v1/completions']);
  const probe = server.requests[1].body;
  assert.deepEqual({ ...probe, prompt: undefined }, { model: MODEL, prompt: undefined, max_tokens: 1, temperature: 0, echo: true, logprobs: 1 });
});

test('TGI 2.3+: /v1/models gives no context length, so load() reads max_total_tokens from /info; the probe ends at /generate', async () => {
  const server = await tgi();
  const info = (await connect(server)).modelInfo;
  assert.deepEqual([info?.variant, info?.nPositions, info?.server?.promptLogprobs], [MODEL, 1024, 'tgi']);
  // TGI took the echo and prompt_logprobs probes as plain completions (it ignores fields it does not know).
  assert.deepEqual(server.requests.map((r) => `${r.method} ${r.path}`), ['GET /v1/models', 'GET /info', 'POST /v1/completions', 'POST /v1/completions', 'POST /generate']);
  const generate = server.requestsTo('POST /generate')[0].body;
  assert.deepEqual(generate.parameters, { max_new_tokens: 1, details: true, decoder_input_details: true });
  assert.equal(typeof generate.inputs, 'string');
});

test('TGI before 2.3 (no /v1/models: a bare 404): load() takes the model id and max_total_tokens from /info', async () => {
  const server = await tgi({ withModelsRoute: false });
  const info = (await connect(server)).modelInfo;
  assert.deepEqual([info?.variant, info?.nPositions, info?.server?.promptLogprobs], [MODEL, 1024, 'tgi']);
  assert.deepEqual(server.requests.slice(0, 2).map((r) => `${r.method} ${r.path}`), ['GET /v1/models', 'GET /info']);
});

test('perplexity() from vLLM echo + logprobs: the tokens whose offsets fall in the prompt', async () => {
  const server = await vllm();
  const engine = await connect(server);
  const result = await engine.perplexity({ context: CONTEXT });
  assertScore(result, echoExpected());
  assert.ok(Math.abs(result.perplexity - 1.3255) < 1e-3, 'exp(mean(0.45, 0.38, 0.0006, 0.0089, 2.74, ...)) by hand');
  const scoring = server.requestsTo('POST /v1/completions').at(-1)?.body;
  assert.deepEqual(scoring, { model: MODEL, prompt: TEXT, max_tokens: 1, temperature: 0, echo: true, logprobs: 1 });
});

test('a server that answers only prompt_logprobs is probed as prompt_logprobs and scored from it', async () => {
  const refuseEcho: Handler = (req, res) =>
    req.body?.echo
      ? sendReply(res, { status: 400, json: { error: { message: 'echo is not supported', type: 'BadRequestError', param: 'echo', code: 400 } } })
      : vllmCompletions()(req, res);
  const server = await serve({ 'GET /v1/models': { fixture: 'vllm-models.json' }, 'POST /v1/completions': refuseEcho });
  const engine = await connect(server);
  assert.equal(engine.modelInfo?.server?.promptLogprobs, 'prompt_logprobs');
  const result = await engine.perplexity({ context: CONTEXT });
  const entries = fixtureJson('vllm-prompt-logprobs.json').choices[0].prompt_logprobs.slice(-PROMPT_TOKENS);
  assertScore(result, perplexityOf(entries.map((e: Record<string, { logprob: number }>) => Object.values(e)[0].logprob)));
  assert.deepEqual(server.requestsTo('POST /v1/completions').at(-1)?.body, { model: MODEL, prompt: TEXT, max_tokens: 1, temperature: 0, prompt_logprobs: 0 });
});

test("perplexity() from TGI's /generate details: the prefill tokens laid over the text", async () => {
  const server = await tgi();
  const engine = await connect(server);
  const result = await engine.perplexity({ context: CONTEXT });
  const prefill = fixtureJson('tgi-generate-details.json').details.prefill as { logprob: number | null }[];
  assert.equal(prefill[0].logprob, null);
  assertScore(result, perplexityOf(prefill.slice(-PROMPT_TOKENS).map((t) => t.logprob as number)));
  assert.ok(Math.abs(result.perplexity - 1.3255) < 1e-3);
  assert.deepEqual(server.requestsTo('POST /generate').at(-1)?.body, { inputs: TEXT, parameters: { max_new_tokens: 1, details: true, decoder_input_details: true } });
});

test('perplexity() leaves room for the one token a scoring request generates (TGI: inputs + max_new_tokens <= max_total_tokens)', async () => {
  const tokenizer = new CodeGenTokenizer();
  const maxTotal = tokenizer.encode(TEXT).length; // the whole context fits exactly, with no room for the token
  const strictGenerate: Handler = (req, res) => {
    const tokens = tokenizer.encodeWithSpans(req.body.inputs);
    if (tokens.length + req.body.parameters.max_new_tokens > maxTotal) return sendReply(res, { status: 422, fixture: 'tgi-error-422.json' });
    const prefill = tokens.map((t, i) => ({ id: t.id, text: req.body.inputs.slice(t.start, t.end), logprob: i === 0 ? null : -0.5 }));
    return sendReply(res, { json: { generated_text: 'def', details: { finish_reason: 'length', generated_tokens: 1, seed: null, prefill, tokens: [] } } });
  };
  const server = await tgi({ info: { ...fixtureJson<object>('tgi-info.json'), max_total_tokens: maxTotal, max_input_tokens: maxTotal - 1 } });
  server.route('POST /generate', strictGenerate);
  const engine = await connect(server);
  const result = await engine.perplexity({ context: CONTEXT });
  assert.equal(result.droppedTurns, 1);
  assert.ok(Math.abs(result.perplexity - Math.exp(0.5)) < 1e-9);
});

test('a server with neither way of scoring a prompt: none; perplexity() is unsupported, generate() still streams', async () => {
  const plain: Handler = (req, res) => sendReply(res, { fixture: req.body?.stream ? 'vllm-stream-eos.txt' : 'vllm-completion.json' });
  const server = await serve({ 'GET /v1/models': { fixture: 'vllm-models.json' }, 'POST /v1/completions': plain });
  const engine = await connect(server);
  assert.equal(engine.modelInfo?.server?.promptLogprobs, 'none');
  await assert.rejects(engine.perplexity({ context: CONTEXT }), (e: EngineError) => e instanceof EngineError && e.code === 'unsupported');
  const result = await engine.generate({ context: CONTEXT, seed: 1 });
  assert.equal(result.stopReason, 'eos');
  assert.ok(Number.isNaN(result.prompt.perplexity));
  assert.deepEqual(result.prompt.tokens, []);
});

test('generate() on vLLM: the recorded chunks reach onDelta, a second top-level def ends the turn, the request is as sent', async () => {
  const server = await vllm();
  const engine = await connect(server);
  const deltas: string[] = [];
  const result = await engine.generate({ context: CONTEXT, seed: 7 }, { onDelta: (d) => deltas.push(d) });
  assert.equal(result.stopReason, 'turn-end');
  assert.equal(result.text, TURN);
  assert.equal(deltas.join(''), TURN);
  assert.ok(deltas.length > 1, 'streamed in pieces');
  assert.ok(result.rawText.startsWith(`${TURN}def`), 'the text cut is the second def');
  assert.equal(result.seed, 7);
  assert.equal(result.promptTokens, 53);
  assert.ok(Math.abs(result.prompt.perplexity - echoExpected()) < 1e-9, 'the prompt scored in parallel');
  const sent = server.requestsTo('POST /v1/completions').find((r) => r.body.stream)?.body;
  assert.deepEqual(sent, { model: MODEL, prompt: TEXT, max_tokens: 128, temperature: 0.2, top_p: 0.95, seed: 7, stream: true, stop: [...TURN_STOP_SEQUENCES] });
});

test("generate() with stop 'none': no stop sequences sent, the whole stream kept, finish_reason length is max-new-tokens", async () => {
  const server = await vllm();
  const engine = await connect(server);
  const deltas: string[] = [];
  const result = await engine.generate({ context: CONTEXT, seed: 3, stop: 'none', maxNewTokens: 29, topP: 1 }, { onDelta: (d) => deltas.push(d) });
  const full = `${TURN}def diameter(r):\n    return 2 * r\n`;
  assert.deepEqual([result.stopReason, result.text, result.rawText, deltas.join('')], ['max-new-tokens', full, full, full]);
  assert.equal(result.ids.length, 29);
  const sent = server.requestsTo('POST /v1/completions').find((r) => r.body.stream)?.body;
  // top_p 1 is no nucleus: not sent (TGI refuses it).
  assert.deepEqual(sent, { model: MODEL, prompt: TEXT, max_tokens: 29, temperature: 0.2, seed: 3, stream: true });
});

test("vLLM's stop_reason '\\n#': the text ends as the local rules end it, the newline before the # line kept", async () => {
  const engine = await connect(await vllm('vllm-stream-stop.txt'));
  const deltas: string[] = [];
  const result = await engine.generate({ context: CONTEXT, seed: 1 }, { onDelta: (d) => deltas.push(d) });
  assert.equal(result.text, truncateCompletion(`${TURN}# Compute the diameter`));
  assert.equal(result.text, TURN);
  assert.equal(deltas.join(''), TURN);
  assert.equal(result.stopReason, 'turn-end');
});

test("vLLM's finish_reason stop with no stop_reason (the end-of-text token) is eos", async () => {
  const engine = await connect(await vllm('vllm-stream-eos.txt'));
  const result = await engine.generate({ context: CONTEXT, seed: 1 });
  assert.deepEqual([result.stopReason, result.text], ['eos', 'def circumference(r):\n    return 2 * math.pi * r']);
});

test("generate() on TGI: `data:` events, the stop sequence TGI keeps in the text ends the turn; greedy sends no top_p", async () => {
  const server = await tgi();
  const engine = await connect(server);
  const deltas: string[] = [];
  const result = await engine.generate({ context: CONTEXT, seed: 5, temperature: 0 }, { onDelta: (d) => deltas.push(d) });
  assert.deepEqual([result.stopReason, result.text, deltas.join(''), result.rawText], ['turn-end', TURN, TURN, `${TURN}#`]);
  assert.ok(Math.abs(result.prompt.perplexity - 1.3255) < 1e-3, 'the prompt scored through /generate');
  const sent = server.requestsTo('POST /v1/completions').find((r) => r.body.stream)?.body;
  assert.deepEqual(sent, { model: MODEL, prompt: TEXT, max_tokens: 128, temperature: 0, seed: 5, stream: true, stop: [...TURN_STOP_SEQUENCES] });
});

test("TGI's validation error inside a 200 stream becomes one server-error line with TGI's message", async () => {
  const engine = await connect(await tgi({ stream: 'tgi-stream-error.txt' }));
  await assert.rejects(engine.generate({ context: CONTEXT, seed: 1 }), (e: EngineError) => {
    assert.equal(e.code, 'server-error');
    assert.match(e.message, /Input validation error: `inputs` tokens \+ `max_new_tokens` must be <= 1024/);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
});
