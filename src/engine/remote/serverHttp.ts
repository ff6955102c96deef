// HTTP to a completions server: JSON requests with a timeout, retries with backoff for 429 and 503 only (the
// two statuses that mean "later", honouring Retry-After), server-sent events for streams, and cancellation that
// closes the connection. Every failure is one EngineError whose message names the server and what to do.
import { EngineError } from '../../protocol/errors';
import type { ErrorResponse } from '../../protocol/completions';

export interface ServerOptions {
  /** The API's base URL, e.g. http://gpu-box:8000/v1 (vLLM, codegen-mt serve) or http://host:8080/v1 (TGI). */
  readonly url: string;
  /** Sent as `Authorization: Bearer KEY` when set. */
  readonly apiKey?: string;
  /** How long to wait for the answer's headers, and then between two pieces of a stream (default 60 s). */
  readonly timeoutMs?: number;
  /** Retries after a 429 or 503 (default 3); other errors are not retried. */
  readonly retries?: number;
  /** The first retry's delay when the server sends no Retry-After; doubled each time (default 500 ms). */
  readonly backoffMs?: number;
}

const RETRY_STATUSES: ReadonlySet<number> = new Set([429, 503]);
/** A Retry-After longer than this is not waited for (the error is reported instead). */
const MAX_RETRY_AFTER_MS = 30_000;

export class ServerHttp {
  readonly base: string;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;

  constructor(private readonly options: ServerOptions) {
    this.base = normalizeBase(options.url);
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.retries = options.retries ?? 3;
    this.backoffMs = options.backoffMs ?? 500;
  }

  /** The server's root (the base without its /v1), where TGI's native routes live. */
  get root(): string {
    return this.base.replace(/\/v1$/, '');
  }

  async getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
    const response = await this.send(url, { method: 'GET' }, signal);
    return (await this.readJson(response, url)) as T;
  }

  async postJson<T>(url: string, body: unknown, signal?: AbortSignal): Promise<T> {
    const response = await this.send(url, { method: 'POST', body: JSON.stringify(body) }, signal);
    return (await this.readJson(response, url)) as T;
  }

  /** POSTs and calls `onData` with each server-sent event's data until `[DONE]` or the end of the stream. */
  async postStream(url: string, body: unknown, onData: (data: string) => void, signal?: AbortSignal): Promise<void> {
    const controller = linkedController(signal);
    let streaming = false;
    try {
      const response = await this.send(url, { method: 'POST', body: JSON.stringify(body) }, controller.signal);
      if (!response.body) throw new EngineError('server-error', `${this.base} sent no body for a stream.`);
      streaming = true;
      await readEvents(response.body, onData, this.timeoutMs, controller, () => this.timeoutError('piece of the stream'));
    } catch (err) {
      if (streaming && !signal?.aborted && !(err instanceof EngineError)) throw this.lostMidStream(err);
      throw this.failure(err, signal);
    } finally {
      controller.abort(); // closes the connection if the stream was left early
    }
  }

  /** One request with its retries; resolves with an OK response (its body unread). */
  private async send(url: string, init: { method: string; body?: string }, signal?: AbortSignal): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const response = await this.fetchOnce(url, init, signal);
      if (response.ok) return response;
      const retryIn = RETRY_STATUSES.has(response.status) && attempt < this.retries ? this.retryDelay(response, attempt) : undefined;
      if (retryIn === undefined) throw await this.statusError(response, url);
      await response.body?.cancel().catch(() => undefined);
      await sleep(retryIn, signal);
    }
  }

  private async fetchOnce(url: string, init: { method: string; body?: string }, signal?: AbortSignal): Promise<Response> {
    const controller = linkedController(signal);
    const timer = setTimeout(() => controller.abort(this.timeoutError('answer')), this.timeoutMs);
    try {
      return await fetch(url, {
        method: init.method,
        body: init.body,
        headers: this.headers(init.body !== undefined),
        signal: controller.signal,
      });
    } catch (err) {
      throw this.failure(controller.signal.reason instanceof EngineError ? controller.signal.reason : err, signal);
    } finally {
      clearTimeout(timer);
    }
  }

  private headers(json: boolean): Record<string, string> {
    const headers: Record<string, string> = { Accept: 'application/json, text/event-stream' };
    if (json) headers['Content-Type'] = 'application/json';
    if (this.options.apiKey) headers.Authorization = `Bearer ${this.options.apiKey}`;
    return headers;
  }

  private retryDelay(response: Response, attempt: number): number | undefined {
    const header = response.headers.get('retry-after');
    const seconds = header !== null ? Number(header) : NaN;
    const delay = Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : this.backoffMs * 2 ** attempt;
    return delay <= MAX_RETRY_AFTER_MS ? delay : undefined;
  }

  private async readJson(response: Response, url: string): Promise<unknown> {
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch {
      throw new EngineError('server-error', `${url} answered with something that is not JSON: ${printable(text)}`);
    }
  }

  /** An error status as one line: the status, the server's own message, and what to do about it. */
  private async statusError(response: Response, url: string): Promise<EngineError> {
    const text = await response.text().catch(() => '');
    const message = serverMessage(text) ?? (printable(text) || response.statusText);
    const path = url.startsWith(this.base) ? url.slice(this.base.length) : url.startsWith(this.root) ? url.slice(this.root.length) : url;
    const where = `The server ${this.base} answered ${response.status} to ${path || url}`;
    if (response.status === 401 || response.status === 403) {
      return new EngineError('server-error', `${where}: ${message}. Check the server's API key.`);
    }
    if (RETRY_STATUSES.has(response.status)) {
      return new EngineError('server-unreachable', `${where} (busy) after ${this.retries} retries: ${message}. Try again later.`);
    }
    return new EngineError('server-error', `${where}: ${message}`);
  }

  private timeoutError(what: string): EngineError {
    return new EngineError('server-unreachable', `The server ${this.base} sent no ${what} within ${this.timeoutMs < 1000 ? `${this.timeoutMs} ms` : `${Math.round(this.timeoutMs / 1000)} s`}. Check that it is running, or raise the timeout.`);
  }

  /** The server was reached and answered, then the connection broke (it stopped, crashed, or a proxy cut it). */
  private lostMidStream(err: unknown): EngineError {
    const reason = networkReason(err);
    return new EngineError('server-unreachable', `The server ${this.base} closed the connection in the middle of a completion (${reason}). Check that it is still running; Retry runs the turn again.`);
  }

  /** Any failure as an EngineError: a cancel by the caller, a timeout, a refused connection. */
  private failure(err: unknown, signal: AbortSignal | undefined): EngineError {
    if (signal?.aborted) return new EngineError('cancelled', 'Cancelled.');
    if (err instanceof EngineError) return err;
    const reason = networkReason(err);
    return new EngineError('server-unreachable', `Cannot reach the server ${this.base} (${reason}). Check its URL and that it is running.`);
  }
}

/** What fetch's error says went wrong: its cause's code (ECONNREFUSED, UND_ERR_SOCKET), else a message. */
function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err);
}

/** The base URL without a trailing slash; a bare host gets /v1 (where OpenAI-compatible servers put the API). */
export function normalizeBase(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    throw new EngineError('invalid-request', `The server URL "${url}" is not a URL: give one like http://localhost:8000/v1.`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new EngineError('invalid-request', `The server URL "${url}" must start with http:// or https://.`);
  }
  const path = parsed.pathname.replace(/\/+$/, '');
  return `${parsed.origin}${path === '' ? '/v1' : path}`;
}

/** The message of an error body in OpenAI's shape ({error: {message}}) or TGI's ({error: "..."}). */
function serverMessage(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as Partial<ErrorResponse> & { error?: unknown; message?: unknown; detail?: unknown };
    if (body.error && typeof body.error === 'object' && typeof (body.error as { message?: unknown }).message === 'string') {
      return (body.error as { message: string }).message;
    }
    if (typeof body.error === 'string') return body.error;
    if (typeof body.message === 'string') return body.message;
    if (typeof body.detail === 'string') return body.detail;
  } catch {
    // not JSON: the caller shows the text itself
  }
  return undefined;
}

function printable(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > 200 ? `${oneLine.slice(0, 199)}…` : oneLine;
}

/** A controller that aborts when `signal` does (and can be aborted on its own). */
function linkedController(signal: AbortSignal | undefined): AbortController {
  const controller = new AbortController();
  if (signal?.aborted) controller.abort(signal.reason);
  else signal?.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
  return controller;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new EngineError('cancelled', 'Cancelled.'));
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new EngineError('cancelled', 'Cancelled.'));
    }, { once: true });
  });
}

/**
 * Reads server-sent events (https://html.spec.whatwg.org/multipage/server-sent-events.html): lines `data: ...`,
 * an event ending at a blank line, comments (`:`) ignored. Stops at `[DONE]`. A gap longer than `timeoutMs`
 * between two reads aborts the stream with `timeout()`.
 */
async function readEvents(
  body: ReadableStream<Uint8Array>,
  onData: (data: string) => void,
  timeoutMs: number,
  controller: AbortController,
  timeout: () => EngineError,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let data: string[] = [];
  for (;;) {
    const timer = setTimeout(() => controller.abort(timeout()), timeoutMs);
    let chunk: Awaited<ReturnType<typeof reader.read>>;
    try {
      chunk = await reader.read();
    } catch (err) {
      throw controller.signal.reason instanceof EngineError ? controller.signal.reason : err;
    } finally {
      clearTimeout(timer);
    }
    if (chunk.done) break;
    buffer += decoder.decode(chunk.value, { stream: true });
    let newline: number;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
      if (line === '') {
        if (data.length > 0 && dispatch(data.join('\n'), onData)) return;
        data = [];
      } else if (line.startsWith('data:')) {
        data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
      }
    }
  }
  if (data.length > 0) dispatch(data.join('\n'), onData);
}

/** Hands one event's data on; true at `[DONE]`. */
function dispatch(data: string, onData: (data: string) => void): boolean {
  if (data.trim() === '[DONE]') return true;
  onData(data);
  return false;
}
