// Which proxy a request goes through: HTTPS_PROXY / HTTP_PROXY / NO_PROXY (upper or lower case, as curl and the
// Hugging Face tools read them), or an explicit proxy (VS Code's `http.proxy`). Pure functions, no I/O.

export interface ProxySettings {
  /** Proxy for https:// URLs (`http://[user:pass@]host:port`). */
  readonly httpsProxy?: string;
  /** Proxy for http:// URLs. */
  readonly httpProxy?: string;
  /** Hosts that bypass the proxy: `*`, `host`, `.domain`, `domain`, `host:port`, comma or space separated. */
  readonly noProxy?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

function envValue(env: Env, name: string): string | undefined {
  const v = env[name] ?? env[name.toLowerCase()];
  return v && v.trim() !== '' ? v.trim() : undefined;
}

/** The proxy settings the environment asks for. */
export function proxyFromEnv(env: Env = process.env): ProxySettings {
  return {
    httpsProxy: envValue(env, 'HTTPS_PROXY') ?? envValue(env, 'ALL_PROXY'),
    httpProxy: envValue(env, 'HTTP_PROXY') ?? envValue(env, 'ALL_PROXY'),
    noProxy: envValue(env, 'NO_PROXY'),
  };
}

/** An explicit proxy (VS Code's `http.proxy`) for both schemes, with NO_PROXY from `noProxy` and the environment. */
export function explicitProxy(proxy: string, noProxy: readonly string[] = [], env: Env = process.env): ProxySettings {
  const bypass = [...noProxy, envValue(env, 'NO_PROXY') ?? ''].filter((s) => s.trim() !== '').join(',');
  return { httpsProxy: proxy, httpProxy: proxy, noProxy: bypass || undefined };
}

/** The proxy URL for a request to `target`, or undefined for a direct connection. */
export function proxyForUrl(target: URL, settings: ProxySettings | undefined): URL | undefined {
  if (!settings) return undefined;
  const raw = target.protocol === 'https:' ? settings.httpsProxy : settings.httpProxy;
  if (!raw) return undefined;
  if (bypassesProxy(target, settings.noProxy)) return undefined;
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  try {
    return new URL(withScheme);
  } catch {
    throw new Error(`The proxy setting "${raw}" is not a URL (expected http://host:port).`);
  }
}

function defaultPort(url: URL): string {
  return url.port || (url.protocol === 'https:' ? '443' : '80');
}

/** NO_PROXY matching as curl does it: `*`, exact hosts, domain suffixes (with or without a leading dot), ports. */
export function bypassesProxy(target: URL, noProxy: string | undefined): boolean {
  if (!noProxy) return false;
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = defaultPort(target);
  for (let entry of noProxy.split(/[\s,]+/)) {
    entry = entry.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    let entryPort: string | undefined;
    const m = /^(.*?):(\d+)$/.exec(entry);
    if (m && !m[1].includes(':')) {
      entry = m[1];
      entryPort = m[2];
    }
    entry = entry.replace(/^\[|\]$/g, '').replace(/^\*?\./, '.');
    if (entryPort !== undefined && entryPort !== port) continue;
    const domain = entry.startsWith('.') ? entry.slice(1) : entry;
    if (host === domain || host.endsWith(`.${domain}`)) return true;
  }
  return false;
}

/** `Proxy-Authorization` for a proxy URL with credentials. */
export function proxyAuthorization(proxy: URL): string | undefined {
  if (!proxy.username && !proxy.password) return undefined;
  const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return `Basic ${Buffer.from(credentials).toString('base64')}`;
}
