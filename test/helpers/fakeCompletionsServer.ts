// A fake completions server on node:http (127.0.0.1, a free port) for contract tests of the remote engine: each
// route answers with a recorded body from test/fixtures/servers/ (see its README.md for where each shape comes
// from) or with a handler function, and every request is recorded (method, path, headers, body).
//
//   const server = await FakeCompletionsServer.start({
//     'GET /v1/models': { fixture: 'vllm-models.json' },
//     'POST /v1/completions': (req, res) => (req.body.stream ? streamFixture(res, 'vllm-stream.txt') : sendReply(res, { fixture: 'vllm-echo-logprobs.json' })),
//   });
//   ... new RemoteEngine({ url: server.url }) ...
//   await server.close();
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

export const SERVER_FIXTURES = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'servers');

export function fixtureText(name: string): string {
  return fs.readFileSync(path.join(SERVER_FIXTURES, name), 'utf8');
}

export function fixtureJson<T = any>(name: string): T {
  return JSON.parse(fixtureText(name)) as T;
}

export interface RecordedRequest {
  readonly method: string;
  /** The path without the query. */
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly text: string;
  /** The body as JSON; undefined when empty or not JSON. */
  readonly body: any;
}

/** A canned answer. A `.txt` fixture is sent as text/event-stream (one write per event), anything else as JSON. */
export interface Reply {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly fixture?: string;
  readonly json?: unknown;
  readonly text?: string;
}

export type Handler = (request: RecordedRequest, res: http.ServerResponse) => void | Promise<void>;
/** What a route answers: one reply, a handler, or a list answered in turn (the last one repeats). */
export type Route = Reply | Handler | readonly (Reply | Handler)[];

export interface FakeServerOptions {
  /** The answer to a route that is not in the table (default: 404 with an empty body, as TGI's router does). */
  readonly notFound?: Reply;
}

export class FakeCompletionsServer {
  readonly requests: RecordedRequest[] = [];
  private readonly served = new Map<string, number>();
  private readonly routes: Map<string, Route>;

  private constructor(
    private readonly server: http.Server,
    routes: Readonly<Record<string, Route>>,
    private readonly options: FakeServerOptions,
  ) {
    this.routes = new Map(Object.entries(routes));
  }

  /** Starts on 127.0.0.1 with routes keyed `METHOD /path` ('GET /v1/models', 'POST /generate', ...). */
  static async start(routes: Readonly<Record<string, Route>>, options: FakeServerOptions = {}): Promise<FakeCompletionsServer> {
    const server = http.createServer();
    const fake = new FakeCompletionsServer(server, routes, options);
    server.on('request', (req, res) => void fake.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  /** The server's root, http://127.0.0.1:PORT (RemoteEngine adds /v1). */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Replaces (or adds) a route. */
  route(key: string, route: Route): void {
    this.routes.set(key, route);
    this.served.delete(key);
  }

  /** The requests to one route, in order. */
  requestsTo(key: string): RecordedRequest[] {
    return this.requests.filter((r) => `${r.method} ${r.path}` === key);
  }

  /** Stops listening and drops every connection still open (a handler that never answered included). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = undefined;
    }
    const recorded: RecordedRequest = { method: req.method ?? '', path: (req.url ?? '').split('?')[0], headers: req.headers, text, body };
    this.requests.push(recorded);
    const key = `${recorded.method} ${recorded.path}`;
    const route = this.routes.get(key);
    const answer = route === undefined ? (this.options.notFound ?? { status: 404 }) : this.next(key, route);
    try {
      if (typeof answer === 'function') await answer(recorded, res);
      else await sendReply(res, answer);
    } catch {
      res.destroy(); // the client went away mid-answer
    }
  }

  private next(key: string, route: Route): Reply | Handler {
    if (!Array.isArray(route)) return route as Reply | Handler;
    const list = route as readonly (Reply | Handler)[];
    const n = this.served.get(key) ?? 0;
    this.served.set(key, n + 1);
    return list[Math.min(n, list.length - 1)];
  }
}

/** Sends a canned answer; an SSE fixture goes out one event per write, as servers flush them. */
export async function sendReply(res: http.ServerResponse, reply: Reply): Promise<void> {
  const status = reply.status ?? 200;
  if (reply.fixture?.endsWith('.txt')) {
    await streamEvents(res, sseEvents(fixtureText(reply.fixture)), { status, headers: reply.headers });
    return;
  }
  const body = reply.fixture !== undefined ? fixtureText(reply.fixture) : reply.json !== undefined ? JSON.stringify(reply.json) : (reply.text ?? '');
  const type = reply.fixture !== undefined || reply.json !== undefined ? { 'Content-Type': 'application/json' } : {};
  res.writeHead(status, { ...type, ...reply.headers });
  res.end(body);
}

/** The events of a recorded SSE body, each with its terminating blank line. */
export function sseEvents(text: string): string[] {
  return text.split(/(?<=\n\n)/).filter((e) => e.length > 0);
}

export interface StreamOptions {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Leave the response open after the events (a server still generating) instead of ending it. */
  readonly holdOpen?: boolean;
}

/** Writes SSE events one at a time (yielding between them); resolves when written, or when the client left. */
export async function streamEvents(res: http.ServerResponse, events: readonly string[], options: StreamOptions = {}): Promise<void> {
  res.writeHead(options.status ?? 200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', ...options.headers });
  for (const event of events) {
    if (res.destroyed) return;
    res.write(event);
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (!options.holdOpen) res.end();
}

/** Resolves when the response's connection closes (the client hung up, or the response ended). */
export function closed(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => (res.destroyed || res.closed ? resolve() : res.once('close', () => resolve())));
}
