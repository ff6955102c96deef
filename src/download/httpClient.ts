// GET over node:http/https with what Node's fetch lacks for this job: proxies (CONNECT tunnels for https://, the
// absolute-form request for http://), an extra trusted CA, an idle timeout, and an AbortSignal that also ends a
// response body being read. Redirects are followed (the hub sends LFS files to a CDN); Authorization is dropped
// when a redirect leaves the origin, as browsers and Node's fetch do.
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { DownloadError } from './downloadError';
import { proxyAuthorization, proxyForUrl, type ProxySettings } from './proxy';

export interface HttpOptions {
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  readonly proxy?: ProxySettings;
  /** Extra trusted certificates (PEM), e.g. a corporate proxy's or a test server's; added to Node's own roots. */
  readonly ca?: string | readonly string[];
  /** A connection silent for this long fails (default 60 s). */
  readonly idleTimeoutMs?: number;
  readonly maxRedirects?: number;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** The URL that answered, after redirects. */
  readonly url: URL;
  /** The body; destroyed if the signal fires while it is read. */
  readonly body: http.IncomingMessage;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Node's roots plus the extra ones (a `ca` option alone would replace the roots). */
function trusted(options: HttpOptions): string[] | undefined {
  if (options.ca === undefined) return undefined;
  return [...tls.rootCertificates, ...(typeof options.ca === 'string' ? [options.ca] : options.ca)];
}

function cancelled(): DownloadError {
  return new DownloadError('cancelled', 'The download was cancelled.');
}

function bare(hostname: string): string {
  return hostname.replace(/^\[|\]$/g, '');
}

function portOf(url: URL): number {
  return Number(url.port || (url.protocol === 'https:' ? 443 : 80));
}

/** A connection failure as a DownloadError naming the host and the system's reason. */
export function networkError(err: unknown, what: string): DownloadError {
  if (err instanceof DownloadError) return err;
  const e = err as NodeJS.ErrnoException;
  const reason = e.code ? `${e.code}${e.message && !e.message.includes(e.code) ? ` (${e.message})` : ''}` : e.message || String(err);
  return new DownloadError('network', `Cannot reach ${what}: ${reason}.`);
}

/** Opens a CONNECT tunnel to `target` through `proxy`. */
function connectTunnel(proxy: URL, target: URL, options: HttpOptions): Promise<net.Socket> {
  const hostPort = `${target.hostname}:${portOf(target)}`;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: hostPort };
    const auth = proxyAuthorization(proxy);
    if (auth) headers['proxy-authorization'] = auth;
    const request = (proxy.protocol === 'https:' ? https : http).request({
      host: bare(proxy.hostname),
      port: portOf(proxy),
      method: 'CONNECT',
      path: hostPort,
      headers,
      agent: false,
      ca: trusted(options),
    });
    const onAbort = (): void => {
      request.destroy();
      reject(cancelled());
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const done = (): void => options.signal?.removeEventListener('abort', onAbort);
    request.setTimeout(options.idleTimeoutMs ?? 60_000, () => request.destroy(new Error('the proxy did not answer')));
    request.once('connect', (res, socket, head) => {
      done();
      if (res.statusCode !== 200) {
        socket.destroy();
        const code = res.statusCode === 407 ? 'unauthorized' : 'network';
        reject(new DownloadError(code, `The proxy ${proxy.host} refused the tunnel to ${hostPort}: HTTP ${res.statusCode} ${res.statusMessage ?? ''}`.trim() + '.'));
        return;
      }
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    request.once('error', (err) => {
      done();
      reject(networkError(err, `the proxy ${proxy.host}`));
    });
    request.end();
  });
}

/** One request, no redirects. */
async function requestOnce(url: URL, headers: Record<string, string>, options: HttpOptions): Promise<http.IncomingMessage> {
  if (options.signal?.aborted) throw cancelled();
  const proxy = proxyForUrl(url, options.proxy);
  const ca = trusted(options);
  let request: http.ClientRequest;
  if (proxy && url.protocol === 'https:') {
    const tunnel = await connectTunnel(proxy, url, options);
    const host = bare(url.hostname);
    const secure = tls.connect({ socket: tunnel, host, servername: net.isIP(host) ? undefined : host, ca, ALPNProtocols: ['http/1.1'] });
    request = http.request({ host, port: portOf(url), path: url.pathname + url.search, headers: { host: url.host, ...headers }, createConnection: () => secure });
  } else if (proxy) {
    const auth = proxyAuthorization(proxy);
    request = (proxy.protocol === 'https:' ? https : http).request({
      host: bare(proxy.hostname),
      port: portOf(proxy),
      path: url.href,
      headers: { host: url.host, ...headers, ...(auth ? { 'proxy-authorization': auth } : {}) },
      ca,
    });
  } else {
    request = (url.protocol === 'https:' ? https : http).request(url, { headers, ca });
  }
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      request.destroy();
      reject(cancelled());
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    request.setTimeout(options.idleTimeoutMs ?? 60_000, () => request.destroy(new Error(`no data for ${Math.round((options.idleTimeoutMs ?? 60_000) / 1000)} s`)));
    request.once('response', (res) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (options.signal) {
        const signal = options.signal;
        const stop = (): void => void res.destroy(cancelled());
        signal.addEventListener('abort', stop, { once: true });
        res.once('close', () => signal.removeEventListener('abort', stop));
      }
      resolve(res);
    });
    request.once('error', (err) => {
      options.signal?.removeEventListener('abort', onAbort);
      reject(options.signal?.aborted ? cancelled() : networkError(err, proxy && url.protocol !== 'https:' ? `${url.host} through the proxy ${proxy.host}` : url.host));
    });
    request.end();
  });
}

/** GET `url`, following redirects. Any status is returned; the caller decides what is an error. */
export async function httpGet(url: string | URL, options: HttpOptions = {}): Promise<HttpResponse> {
  let current = new URL(url);
  const origin = current.origin;
  const headers: Record<string, string> = { 'user-agent': 'codegen-mt', ...options.headers };
  for (let hop = 0; ; hop++) {
    const sent = { ...headers };
    if (current.origin !== origin) {
      for (const key of Object.keys(sent)) if (key.toLowerCase() === 'authorization') delete sent[key];
    }
    const res = await requestOnce(current, sent, options);
    const location = res.headers.location;
    if (res.statusCode !== undefined && REDIRECTS.has(res.statusCode) && location) {
      res.resume();
      if (hop >= (options.maxRedirects ?? 10)) throw new DownloadError('http', `Too many redirects from ${url.toString()}.`);
      current = new URL(location, current);
      continue;
    }
    return { status: res.statusCode ?? 0, headers: res.headers, url: current, body: res };
  }
}

/** Reads a whole (small) body as text. */
export async function readText(res: HttpResponse, limit = 32 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of res.body) {
    length += (chunk as Buffer).length;
    if (length > limit) {
      res.body.destroy();
      throw new DownloadError('http', `The answer from ${res.url.host} is larger than ${limit} bytes.`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
