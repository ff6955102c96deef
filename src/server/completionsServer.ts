// `codegen-mt serve`: the project's engine behind the OpenAI-compatible completions API, on node:http, answering
// as OpenAI's legacy Completions API and vLLM do (the wire types are src/protocol/completions.ts):
//
//   GET  /v1/models       a ModelList with the one model served, its context length as vLLM's max_model_len.
//   POST /v1/completions  {model, prompt, max_tokens (16), temperature (1), top_p (1), seed, stop, stream, logprobs,
//                         echo, n (1 only)}: the defaults are OpenAI's, not the engine's. The engine continues the
//                         prompt raw (stop 'none'); the stop sequences (at most 4) are applied here: the text ends
//                         before the first one, the generation is aborted and finish_reason is 'stop' with vLLM's
//                         stop_reason naming the sequence. An end of text is 'stop' too; the token budget or the
//                         model's positions running out is 'length'. max_tokens 0 generates nothing ('length').
//                         echo: the text is the prompt + the completion. logprobs (0..5): the returned text's tokens
//                         with their log-probabilities, the first token of an echoed text null; top_logprobs null
//                         (not computed). Streamed (text/event-stream): one event per piece of text, never past a
//                         stop sequence (a tail that could be the start of one is held back), finish_reason null
//                         until the last event, which carries the logprobs of the whole text, the usage and the
//                         system_fingerprint; then [DONE]. system_fingerprint is `seed-<seed>`: the seed the sampler
//                         used, so a sampled completion can be repeated.
//   Errors                OpenAI's ErrorResponse, application/json: 400 (a field, with `param`; a body that is not
//                         JSON; what the engine refuses: out-of-range sampling, a context too long), 401 (apiKey set
//                         and no matching `Authorization: Bearer`), 404 (another path; another model:
//                         model_not_found), 405 (another method), 413 (a body over maxBodyBytes: not read further),
//                         503 server_busy with Retry-After (the queue is full), 500 (the engine failed: logged).
//
// Requests run one at a time (the engine has one KV cache), in their order of arrival; at most maxQueue wait. A
// client that goes away stops its generation at once (the next request then runs), and one that goes away while
// waiting is dropped without running. The engine should be an EngineClient: onnxruntime's run() blocks the event
// loop of the process it runs in, and this server must stay responsive to notice disconnects and queue requests.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CompletionResponse, ErrorResponse, ModelList } from '../protocol/completions';
import type { Engine } from '../protocol/engine';
import { EngineError } from '../protocol/errors';
import { runCompletion, type CompletionOutcome } from './completionRun';
import { HttpError, invalidRequest, parseCompletionRequest, parseJsonObject, readBody, type CompletionJob } from './requestParse';
import { CompletionEventStream, type CompletionIdentity, type StreamEnd } from './sse';

export interface CompletionsServerOptions {
  readonly engine: Engine;
  /** The model id served (what requests must name, what /v1/models lists). */
  readonly model: string;
  /** The model's context length, listed as max_model_len. */
  readonly nPositions: number;
  /** Default 127.0.0.1: reachable from this machine only. */
  readonly host?: string;
  /** 0: any free port (the returned url says which). */
  readonly port: number;
  /** Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Requests that may wait while one runs; default 16. */
  readonly maxQueue?: number;
  /** When set, every request needs `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string;
  /** One line per request: method, path, status, tokens, milliseconds (and what went wrong, if anything). */
  readonly log?: (line: string) => void;
}

export interface CompletionsServer {
  /** http://host:port/v1 */
  readonly url: string;
  /** Stops listening, ends open connections (which stops their generations) and waits for the engine to be idle. */
  close(): Promise<void>;
}

const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
const DEFAULT_MAX_QUEUE = 16;
/** Seconds a client told the server is busy should wait: about one short completion. */
const RETRY_AFTER_SECONDS = 2;

/** One request and what its log line will say. */
interface Exchange {
  readonly req: http.IncomingMessage;
  readonly res: http.ServerResponse;
  /** Aborted when the client goes away before its answer has been sent in full. */
  readonly gone: AbortController;
  tokens?: string;
  note?: string;
}

export async function startCompletionsServer(options: CompletionsServerOptions): Promise<CompletionsServer> {
  const host = options.host ?? DEFAULT_HOST;
  const queue = new OneAtATimeQueue(options.maxQueue ?? DEFAULT_MAX_QUEUE);
  const routes = new CompletionRoutes(options, queue);
  // handle() answers every failure itself; this is for a throwing `log`: never crash the server on a request.
  const server = http.createServer((req, res) => void routes.handle(req, res).catch(() => res.destroy()));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`cannot listen on ${host}:${options.port}: ${err.message}`)));
    server.listen(options.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/v1`,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections(); // their responses' 'close' aborts what they run or wait for
      await closed;
      await queue.idle();
    },
  };
}

class CompletionRoutes {
  private readonly log: (line: string) => void;
  private readonly apiKeyDigest: Buffer | undefined;

  constructor(
    private readonly options: CompletionsServerOptions,
    private readonly queue: OneAtATimeQueue,
  ) {
    this.log = options.log ?? (() => undefined);
    this.apiKeyDigest = options.apiKey === undefined ? undefined : sha256(options.apiKey);
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = performance.now();
    const exchange: Exchange = { req, res, gone: new AbortController() };
    res.on('error', () => undefined); // a client that went away mid-write: 'close' says so
    const closed = new Promise<void>((resolve) =>
      res.on('close', () => {
        if (!res.writableFinished) exchange.gone.abort();
        resolve();
      }),
    );
    try {
      await this.route(exchange, new URL(req.url ?? '/', 'http://server').pathname);
    } catch (err) {
      this.fail(exchange, err);
    }
    // Logged once the answer is out and the work done (a client that left may have left first).
    await closed;
    this.log(logLine(exchange, performance.now() - started));
  }

  private async route(exchange: Exchange, path: string): Promise<void> {
    if (this.apiKeyDigest && !this.authorized(exchange.req.headers.authorization)) {
      throw invalidRequest('A valid API key is required: send it as "Authorization: Bearer <key>".', null, 401, 'invalid_api_key');
    }
    if (path === '/v1/models') {
      requireMethod(exchange.req, 'GET');
      const list: ModelList = {
        object: 'list',
        data: [{ id: this.options.model, object: 'model', owned_by: 'codegen-mt', max_model_len: this.options.nPositions }],
      };
      return sendJson(exchange.res, 200, list);
    }
    if (path === '/v1/completions') {
      requireMethod(exchange.req, 'POST');
      return this.enqueueCompletion(exchange);
    }
    throw invalidRequest(`There is no ${path} here: this server answers GET /v1/models and POST /v1/completions.`, null, 404, 'not_found');
  }

  private async enqueueCompletion(exchange: Exchange): Promise<void> {
    const body = parseJsonObject(await readBody(exchange.req, this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES));
    const job = parseCompletionRequest(body, this.options.model);
    const identity: CompletionIdentity = { id: `cmpl-${randomBytes(12).toString('hex')}`, created: Math.floor(Date.now() / 1000), model: this.options.model };
    const done = this.queue.submit(() => this.answerCompletion(exchange, job, identity), exchange.gone.signal);
    if (done && this.queue.waitingCount > 0) this.options.log?.(`POST /v1/completions waits for the model: ${this.queue.waitingCount} in line`);
    if (!done) {
      const message = `The server is busy: ${this.queue.maxWaiting} requests are already waiting for the model. Retry later.`;
      throw new HttpError(503, { error: { message, type: 'server_error', param: null, code: 'server_busy' } }, { 'Retry-After': String(RETRY_AFTER_SECONDS) });
    }
    if ((await done) === 'dropped') exchange.note = 'the client went away while it waited: not run';
  }

  /** Runs when the request's turn comes; answers it (or nothing, when its client has gone). */
  private async answerCompletion(exchange: Exchange, job: CompletionJob, identity: CompletionIdentity): Promise<void> {
    if (exchange.gone.signal.aborted) return; // gone while it waited (the queue drops most such before this)
    const stream = job.stream ? new CompletionEventStream(exchange.res, identity, job.echo ? job.prompt : '') : undefined;
    try {
      const outcome = await runCompletion(this.options.engine, job, { signal: exchange.gone.signal, onText: stream && ((piece) => stream.text(piece)) });
      exchange.tokens = `${outcome.promptTokens}+${outcome.completionTokens}`;
      exchange.note = outcome.stopSequence !== null ? `stop sequence ${JSON.stringify(outcome.stopSequence)}` : outcome.finishReason;
      const end = streamEnd(outcome);
      if (stream) stream.finish(end);
      else sendJson(exchange.res, 200, completionResponse(identity, end));
    } catch (err) {
      if (exchange.gone.signal.aborted) {
        exchange.note = err instanceof EngineError && err.code === 'cancelled' ? err.message : 'the client went away';
        return; // nobody to answer
      }
      if (!stream?.started) return this.fail(exchange, err);
      const error = httpErrorOf(err);
      exchange.note = `failed mid-stream: ${error.message}`;
      stream.fail(error.body);
    }
  }

  /** Answers a refused or failed request in OpenAI's error shape; never throws. */
  private fail(exchange: Exchange, err: unknown): void {
    const error = httpErrorOf(err);
    if (error.status >= 500 || error.status === 413) exchange.note = error.message;
    if (exchange.res.headersSent || exchange.res.destroyed) {
      exchange.res.destroy();
      return;
    }
    // A body over the limit is not read further: the connection closes after the answer.
    const headers = error.status === 413 ? { ...error.headers, Connection: 'close' } : error.headers;
    sendJson(exchange.res, error.status, error.body, headers);
  }

  private authorized(header: string | undefined): boolean {
    const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
    // Digests of equal length, compared in constant time: the key's length and prefix are not given away.
    return match !== null && timingSafeEqual(sha256(match[1].trim()), this.apiKeyDigest as Buffer);
  }
}

/** The stream's last event, and the whole answer when not streamed. */
function streamEnd(outcome: CompletionOutcome): StreamEnd {
  const usage = { prompt_tokens: outcome.promptTokens, completion_tokens: outcome.completionTokens, total_tokens: outcome.promptTokens + outcome.completionTokens };
  return {
    text: outcome.text,
    choice: { logprobs: outcome.logprobs, finish_reason: outcome.finishReason, stop_reason: outcome.stopSequence },
    rest: { usage, system_fingerprint: outcome.seed === undefined ? null : `seed-${outcome.seed}` },
  };
}

function completionResponse(identity: CompletionIdentity, end: StreamEnd): CompletionResponse {
  return { ...identity, object: 'text_completion', choices: [{ index: 0, text: end.text, ...end.choice }], ...end.rest };
}

/** What a failure is answered with: the client's mistakes as 4xx, the rest as 500. */
function httpErrorOf(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof EngineError && (err.code === 'invalid-request' || err.code === 'context-too-long')) return invalidRequest(err.message);
  const message = err instanceof EngineError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
  return new HttpError(500, { error: { message: `The model failed: ${message}`, type: 'server_error', param: null, code: null } });
}

function requireMethod(req: http.IncomingMessage, method: string): void {
  if (req.method !== method) {
    throw new HttpError(405, { error: { message: `${req.method} is not allowed here: use ${method}.`, type: 'invalid_request_error', param: null, code: 'method_not_allowed' } }, { Allow: method });
  }
}

function sendJson(res: http.ServerResponse, status: number, body: CompletionResponse | ModelList | ErrorResponse, headers: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function logLine(exchange: Exchange, ms: number): string {
  const { req, res } = exchange;
  const gone = exchange.gone.signal.aborted && !exchange.note ? 'the client went away' : exchange.note;
  const status = res.headersSent ? String(res.statusCode) : '---';
  return `${req.method} ${req.url} ${status} ${exchange.tokens ?? '-'} tokens ${ms.toFixed(0)} ms${gone ? ` (${gone})` : ''}`;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * Runs tasks one at a time in order of arrival, with at most `maxWaiting` waiting. A waiting task whose signal
 * aborts (its client went away) leaves the line at once, and is never started.
 */
export class OneAtATimeQueue {
  private running: Promise<void> | undefined;
  private readonly waiting: { readonly start: () => void; readonly signal: AbortSignal }[] = [];

  constructor(readonly maxWaiting: number) {}

  /** When the task has run or was dropped; undefined (and the task is not taken) when the line is full. */
  submit(task: () => Promise<void>, signal: AbortSignal): Promise<'ran' | 'dropped'> | undefined {
    if (!this.running) return this.start(task);
    if (this.waiting.length >= this.maxWaiting) return undefined;
    return new Promise((resolve) => {
      const entry = { start: () => void this.start(task).then(resolve), signal };
      this.waiting.push(entry);
      signal.addEventListener('abort', () => {
        const at = this.waiting.indexOf(entry);
        if (at < 0) return;
        this.waiting.splice(at, 1);
        resolve('dropped');
      }, { once: true });
    });
  }

  /** How many tasks wait for the one running. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Resolves when nothing runs or waits. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private start(task: () => Promise<void>): Promise<'ran'> {
    const run = task()
      .catch(() => undefined) // each task answers its own failures
      .finally(() => {
        this.running = undefined;
        this.waiting.shift()?.start();
      });
    this.running = run;
    return run.then(() => 'ran');
  }
}
