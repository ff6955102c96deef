// A local Hugging Face hub for the download tests: the real URL scheme and API answers, over node:http(s) on
// 127.0.0.1, serving model folders from disk. LFS files (*.onnx, checkpoints' *.bin and *.safetensors) redirect
// to a second server (another origin, like the hub's CDN) that honours Range. Faults are switched on per test;
// every request is recorded.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import * as path from 'node:path';
import { TEST_CERT, TEST_KEY } from './testCert';

export const COMMIT = '0123456789abcdef0123456789abcdef01234567';

export interface RecordedRequest {
  readonly server: 'hub' | 'cdn';
  readonly method: string;
  readonly url: string;
  readonly range?: string;
  readonly authorization?: string;
  /** File content bytes this request was sent (counted by the server as it writes them). */
  bytes: number;
}

interface HubFile {
  readonly path: string;
  readonly abs: string;
  readonly size: number;
  readonly lfs: boolean;
  readonly sha256: string;
  readonly gitOid: string;
}

export interface FakeHubOptions {
  /** repo id -> folder on disk. */
  readonly repos: Readonly<Record<string, string>>;
  /** Repos that answer 401 (GatedRepo) unless `Authorization: Bearer <token>` is sent. */
  readonly gated?: Readonly<Record<string, string>>;
  readonly tls?: boolean;
}

export interface Faults {
  /** The first transfer of this file stops after this many bytes (the connection is destroyed). */
  dropOnce?: { file: string; after: number };
  /** This file is served with one byte changed (same size). */
  corrupt?: string;
  /** This file's bytes come slowly: one chunk, then a byte every 10 ms until the client goes away. */
  stall?: string;
  /** The revision API answers without sizes (the client falls back to the tree API, 2 entries a page). */
  noSizesInRevision?: boolean;
}

function gitOid(data: Buffer): string {
  return createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
}

function listFolder(dir: string): HubFile[] {
  const files: HubFile[] = [];
  const walk = (rel: string): void => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(r);
      else {
        const abs = path.join(dir, r);
        const data = fs.readFileSync(abs);
        files.push({ path: r, abs, size: data.length, lfs: /\.(onnx|bin|safetensors)$/.test(r), sha256: createHash('sha256').update(data).digest('hex'), gitOid: gitOid(data) });
      }
    }
  };
  walk('');
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

export class FakeHub {
  readonly requests: RecordedRequest[] = [];
  /** Bytes of file content sent, per repository path. */
  readonly bytesSent = new Map<string, number>();
  faults: Faults = {};
  private readonly files = new Map<string, HubFile[]>();
  private hub!: http.Server;
  private cdn!: http.Server;
  hubUrl = '';
  cdnUrl = '';

  constructor(private readonly options: FakeHubOptions) {
    for (const [repo, dir] of Object.entries(options.repos)) this.files.set(repo, listFolder(dir));
  }

  filesOf(repo: string): readonly HubFile[] {
    return this.files.get(repo) ?? [];
  }

  async start(): Promise<this> {
    const make = (handler: http.RequestListener): http.Server =>
      this.options.tls ? https.createServer({ cert: TEST_CERT, key: TEST_KEY }, handler) : http.createServer(handler);
    this.hub = make((req, res) => this.onHub(req, res));
    this.cdn = make((req, res) => this.onCdn(req, res));
    const scheme = this.options.tls ? 'https' : 'http';
    this.hubUrl = `${scheme}://127.0.0.1:${await listen(this.hub)}`;
    this.cdnUrl = `${scheme}://localhost:${await listen(this.cdn)}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of [this.hub, this.cdn]) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  }

  private record(server: 'hub' | 'cdn', req: http.IncomingMessage): RecordedRequest {
    const entry: RecordedRequest = { server, method: req.method ?? '', url: req.url ?? '', range: req.headers.range, authorization: req.headers.authorization, bytes: 0 };
    this.requests.push(entry);
    return entry;
  }

  private onHub(req: http.IncomingMessage, res: http.ServerResponse): void {
    const entry = this.record('hub', req);
    const url = new URL(req.url ?? '/', 'http://x');
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree)\/([^/?]+)$/.exec(url.pathname);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const repo = api?.[1] ?? resolve?.[1];
    if (!repo || !this.files.has(repo)) return error(res, 404, 'RepoNotFound', `Repository ${repo ?? url.pathname} not found`);
    const token = this.options.gated?.[repo];
    if (token !== undefined && req.headers.authorization !== `Bearer ${token}`) {
      return error(res, 401, 'GatedRepo', `Access to model ${repo} is restricted. You must have access to it and be authenticated to access it.`);
    }
    const files = this.files.get(repo) as HubFile[];
    const revision = decodeURIComponent((api?.[3] ?? resolve?.[2]) as string);
    if (revision !== 'main' && revision !== COMMIT) return error(res, 404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
    if (api?.[2] === 'revision') {
      const siblings = files.map((f) =>
        this.faults.noSizesInRevision
          ? { rfilename: f.path }
          : { rfilename: f.path, size: f.size, blobId: f.lfs ? 'f'.repeat(40) : f.gitOid, ...(f.lfs ? { lfs: { sha256: f.sha256, size: f.size, pointerSize: 134 } } : {}) },
      );
      return json(res, { id: repo, modelId: repo, sha: COMMIT, private: false, siblings });
    }
    if (api?.[2] === 'tree') {
      const entries = [{ type: 'directory', oid: 'd'.repeat(40), size: 0, path: 'onnx' }, ...files.map((f) => ({
        type: 'file',
        oid: f.lfs ? 'e'.repeat(40) : f.gitOid,
        size: f.lfs ? 134 : f.size,
        path: f.path,
        ...(f.lfs ? { lfs: { oid: f.sha256, size: f.size, pointerSize: 134 } } : {}),
      }))];
      const cursor = Number(url.searchParams.get('cursor') ?? '0');
      const page = entries.slice(cursor, cursor + 2);
      if (cursor + 2 < entries.length) {
        res.setHeader('link', `<${this.hubUrl}/api/models/${repo}/tree/${COMMIT}?recursive=true&cursor=${cursor + 2}>; rel="next"`);
      }
      return json(res, page);
    }
    const filePath = decodeURIComponent((resolve as RegExpExecArray)[3]);
    const file = files.find((f) => f.path === filePath);
    if (!file) return error(res, 404, 'EntryNotFound', `${filePath} does not exist on "${revision}"`);
    res.setHeader('x-repo-commit', COMMIT);
    if (file.lfs) {
      res.writeHead(302, { location: `${this.cdnUrl}/repos/${encodeURIComponent(repo)}/${file.sha256}?name=${encodeURIComponent(file.path)}` });
      res.end();
      return;
    }
    this.sendFile(req, res, repo, file, entry);
  }

  private onCdn(req: http.IncomingMessage, res: http.ServerResponse): void {
    const entry = this.record('cdn', req);
    const m = /^\/repos\/([^/]+)\/([0-9a-f]{64})$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
    const repo = m ? decodeURIComponent(m[1]) : '';
    const file = this.files.get(repo)?.find((f) => f.sha256 === m?.[2]);
    if (!file) return error(res, 404, undefined, 'NoSuchKey');
    this.sendFile(req, res, repo, file, entry);
  }

  private sendFile(req: http.IncomingMessage, res: http.ServerResponse, repo: string, file: HubFile, entry: RecordedRequest): void {
    let data = fs.readFileSync(file.abs);
    if (this.faults.corrupt === file.path) {
      data = Buffer.from(data);
      data[Math.floor(data.length / 2)] ^= 0xff;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      if (start >= data.length) {
        res.writeHead(416, { 'content-range': `bytes */${data.length}` });
        res.end();
        return;
      }
      res.writeHead(206, { 'content-range': `bytes ${start}-${data.length - 1}/${data.length}`, 'content-length': data.length - start, 'accept-ranges': 'bytes' });
    } else {
      res.writeHead(200, { 'content-length': data.length, 'accept-ranges': 'bytes', etag: `"${file.sha256}"` });
    }
    const body = data.subarray(start);
    const count = (n: number): void => {
      this.bytesSent.set(file.path, (this.bytesSent.get(file.path) ?? 0) + n);
      entry.bytes += n;
    };
    const drop = this.faults.dropOnce;
    if (drop && drop.file === file.path) {
      this.faults.dropOnce = undefined;
      const part = body.subarray(0, drop.after);
      count(part.length);
      res.write(part, () => setImmediate(() => req.socket.destroy()));
      return;
    }
    if (this.faults.stall === file.path) {
      const part = body.subarray(0, 64 * 1024);
      count(part.length);
      res.write(part);
      // Then a byte now and then, until the client goes away.
      let at = part.length;
      const timer = setInterval(() => {
        if (at >= body.length) return;
        count(1);
        res.write(body.subarray(at, ++at));
      }, 10);
      res.on('close', () => clearInterval(timer));
      return;
    }
    count(body.length);
    res.end(body);
    void repo;
  }
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function json(res: http.ServerResponse, value: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
}

function error(res: http.ServerResponse, status: number, code: string | undefined, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json', ...(code ? { 'x-error-code': code, 'x-error-message': message } : {}) });
  res.end(JSON.stringify({ error: message }));
}

/** A forward proxy: CONNECT tunnels (https://) and absolute-form requests (http://), each recorded. */
export class TestProxy {
  readonly connects: string[] = [];
  readonly forwarded: string[] = [];
  readonly auth: (string | undefined)[] = [];
  private server!: http.Server;
  private readonly sockets = new Set<net.Socket>();
  url = '';

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      this.forwarded.push(req.url ?? '');
      this.auth.push(req.headers['proxy-authorization']);
      const target = new URL(req.url ?? '');
      const headers = { ...req.headers };
      delete headers['proxy-authorization'];
      const upstream = http.request(target, { method: req.method, headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    this.server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
      this.connects.push(req.url ?? '');
      this.auth.push(req.headers['proxy-authorization']);
      const [host, port] = (req.url ?? '').split(':');
      const upstream = net.connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length) upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
    });
    this.url = `http://127.0.0.1:${await listen(this.server)}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}
