// The Hugging Face hub as the downloader uses it: where it is (HF_ENDPOINT), the token (HF_TOKEN), the files of a
// repository at a revision with their sizes and checksums, and the URL of each file.
//   GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true
//       -> { sha, siblings: [{ rfilename, size, blobId, lfs?: { sha256 | oid, size } }] }
//   GET {endpoint}/api/models/{repo}/tree/{revision}?recursive=true   (fallback; paginated with Link: rel="next")
//       -> [{ type: "file" | "directory", path, size, oid, lfs?: { oid, size, pointerSize } }]
//   GET {endpoint}/{repo}/resolve/{revision}/{path}   (LFS files redirect to a CDN)
import { DownloadError } from './downloadError';
import { httpGet, readText, type HttpOptions, type HttpResponse } from './httpClient';
import { proxyFromEnv, type ProxySettings } from './proxy';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_REVISION = 'main';

export interface HubSettings {
  /** Without a trailing slash. Default https://huggingface.co, or HF_ENDPOINT. */
  readonly endpoint: string;
  /** Sent as `Authorization: Bearer` to the endpoint (never to the CDN it redirects to). */
  readonly token?: string;
  readonly proxy?: ProxySettings;
  /** Extra trusted certificates (PEM). */
  readonly ca?: string | readonly string[];
  /** HF_HUB_OFFLINE: fail at once with the manual steps. */
  readonly offline?: boolean;
  readonly idleTimeoutMs?: number;
}

type Env = Readonly<Record<string, string | undefined>>;

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on)$/i.test(v.trim());
}

/** The settings the Hugging Face tools read from the environment: HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE, proxies. */
export function hubSettingsFromEnv(env: Env = process.env): HubSettings {
  const endpoint = (env.HF_ENDPOINT?.trim() || DEFAULT_ENDPOINT).replace(/\/+$/, '');
  const token = env.HF_TOKEN?.trim() || env.HUGGING_FACE_HUB_TOKEN?.trim() || undefined;
  return { endpoint, token, proxy: proxyFromEnv(env), offline: truthy(env.HF_HUB_OFFLINE) };
}

export interface RemoteFile {
  /** Path in the repository, `/`-separated (`onnx/model_int8.onnx`). */
  readonly path: string;
  readonly size: number;
  /** LFS files: the sha256 of the content, as the hub publishes it. */
  readonly sha256?: string;
  /** Other files: the git blob id (sha1 of `blob <size>\0<content>`). */
  readonly gitOid?: string;
}

export interface RepoSnapshot {
  readonly repo: string;
  readonly revision: string;
  /** The commit the revision pointed to; files are fetched at this commit, so a moving branch cannot mix them. */
  readonly commit: string;
  readonly files: readonly RemoteFile[];
}

const NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,95})$/;

/** `owner/name`, also accepted as a hub URL (`https://huggingface.co/owner/name/...`). */
export function normalizeRepoId(input: string): string {
  let repo = input.trim();
  const url = /^https?:\/\/[^/]+\/(.*)$/i.exec(repo);
  if (url) repo = url[1].split('/').slice(0, 2).join('/');
  const parts = repo.split('/');
  if (parts.length !== 2 || !parts.every((p) => NAME.test(p) && !p.includes('..'))) {
    throw new DownloadError('invalid-request', `"${input}" is not a Hugging Face model id: expected owner/name, e.g. Xenova/codegen-350M-mono.`);
  }
  return repo;
}

function checkRevision(revision: string): void {
  if (revision === '' || revision.length > 200 || /[\s\\]|\.\./.test(revision) || revision.startsWith('/')) {
    throw new DownloadError('invalid-request', `"${revision}" is not a valid revision (a branch, tag or commit id).`);
  }
}

/** `{endpoint}/{repo}/resolve/{revision}/{path}` with the revision and each path segment encoded. */
export function resolveUrl(endpoint: string, repo: string, revision: string, file: string): string {
  return `${endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

export function httpOptions(settings: HubSettings, signal?: AbortSignal, headers: Record<string, string> = {}): HttpOptions {
  return {
    headers: { ...headers, ...(settings.token ? { authorization: `Bearer ${settings.token}` } : {}) },
    signal,
    proxy: settings.proxy,
    ca: settings.ca,
    idleTimeoutMs: settings.idleTimeoutMs,
  };
}

function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** A non-2xx answer as a DownloadError that says what to do. `what` names the repository or file. */
export async function statusError(res: HttpResponse, what: string, settings: HubSettings): Promise<DownloadError> {
  let body = '';
  try {
    body = (await readText(res, 64 * 1024)).trim();
  } catch {
    // the message is a nicety
  }
  let detail = header(res, 'x-error-message') ?? '';
  if (!detail && body) {
    try {
      const parsed = JSON.parse(body) as { error?: unknown };
      if (typeof parsed.error === 'string') detail = parsed.error;
    } catch {
      detail = body.slice(0, 200);
    }
  }
  const errorCode = header(res, 'x-error-code');
  const suffix = detail ? ` (${detail})` : '';
  const status = res.status;
  if (errorCode === 'RepoNotFound' || errorCode === 'RevisionNotFound' || errorCode === 'EntryNotFound' || status === 404) {
    const hint = settings.token ? '' : ' If it is private, set HF_TOKEN to a token that can read it.';
    return new DownloadError('not-found', `${what} was not found on ${settings.endpoint} (HTTP ${status})${suffix}. Check the spelling of the repository, revision and variant.${hint}`);
  }
  if (errorCode === 'GatedRepo' || status === 401 || status === 403) {
    const fix = settings.token
      ? 'The token was refused: check that it is valid and that you have accepted the model\'s terms on its page.'
      : 'The repository is gated or private: accept its terms on its page and set HF_TOKEN to a read token (https://huggingface.co/settings/tokens).';
    return new DownloadError('unauthorized', `${settings.endpoint} refused access to ${what} (HTTP ${status})${suffix}. ${fix}`);
  }
  return new DownloadError('http', `${settings.endpoint} answered HTTP ${status} for ${what}${suffix}.`);
}

async function getJson(url: string, what: string, settings: HubSettings, signal?: AbortSignal): Promise<{ value: unknown; res: HttpResponse }> {
  const res = await httpGet(url, httpOptions(settings, signal, { accept: 'application/json' }));
  if (res.status < 200 || res.status >= 300) throw await statusError(res, what, settings);
  const text = await readText(res);
  try {
    return { value: JSON.parse(text), res };
  } catch {
    throw new DownloadError('http', `${url} did not answer JSON (is HF_ENDPOINT=${settings.endpoint} a Hugging Face hub?).`);
  }
}

interface LfsInfo {
  readonly sha256?: unknown;
  readonly oid?: unknown;
  readonly size?: unknown;
}

function sha256Of(lfs: LfsInfo | undefined): string | undefined {
  const v = lfs?.sha256 ?? lfs?.oid;
  if (typeof v !== 'string') return undefined;
  const hex = v.replace(/^sha256:/, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

function fileOf(path: unknown, size: unknown, gitOid: unknown, lfs: LfsInfo | undefined): RemoteFile | undefined {
  if (typeof path !== 'string') return undefined;
  const lfsSize = lfs && typeof lfs.size === 'number' ? lfs.size : undefined;
  const bytes = lfsSize ?? (typeof size === 'number' ? size : undefined);
  if (bytes === undefined || !Number.isSafeInteger(bytes) || bytes < 0) return undefined;
  const sha256 = sha256Of(lfs);
  if (sha256) return { path, size: bytes, sha256 };
  return { path, size: bytes, gitOid: typeof gitOid === 'string' && /^[0-9a-f]{40}$/i.test(gitOid) ? gitOid.toLowerCase() : undefined };
}

/** The files of `repo` at `revision`, with sizes and checksums, and the commit the revision resolves to. */
export async function fetchRepoSnapshot(repoInput: string, revision: string, settings: HubSettings, signal?: AbortSignal): Promise<RepoSnapshot> {
  const repo = normalizeRepoId(repoInput);
  checkRevision(revision);
  if (settings.offline) throw new DownloadError('network', 'HF_HUB_OFFLINE is set: the hub is not contacted.');
  const what = revision === DEFAULT_REVISION ? repo : `${repo}@${revision}`;
  const info = await getJson(`${settings.endpoint}/api/models/${repo}/revision/${encodeURIComponent(revision)}?blobs=true`, what, settings, signal);
  const data = info.value as { sha?: unknown; siblings?: unknown };
  const commit = typeof data.sha === 'string' && data.sha !== '' ? data.sha : revision;
  const siblings = Array.isArray(data.siblings) ? (data.siblings as Record<string, unknown>[]) : undefined;
  let files = siblings?.map((s) => fileOf(s.rfilename, s.size, s.blobId, s.lfs as LfsInfo | undefined));
  if (!files || files.some((f) => f === undefined)) {
    // Some mirrors answer without sizes: the tree API always has them.
    files = await fetchTree(repo, commit, what, settings, signal);
  }
  return { repo, revision, commit, files: files.filter((f): f is RemoteFile => f !== undefined) };
}

async function fetchTree(repo: string, commit: string, what: string, settings: HubSettings, signal?: AbortSignal): Promise<RemoteFile[]> {
  const files: RemoteFile[] = [];
  let url: string | undefined = `${settings.endpoint}/api/models/${repo}/tree/${encodeURIComponent(commit)}?recursive=true`;
  for (let page = 0; url && page < 1000; page++) {
    const { value, res } = await getJson(url, what, settings, signal);
    if (!Array.isArray(value)) throw new DownloadError('http', `${url} did not answer a list of files.`);
    for (const entry of value as Record<string, unknown>[]) {
      if (entry.type !== 'file') continue;
      const file = fileOf(entry.path, entry.size, entry.oid, entry.lfs as LfsInfo | undefined);
      if (file) files.push(file);
    }
    const link = header(res, 'link');
    const next = link ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(link)?.[1] : undefined;
    url = next ? new URL(next, url).toString() : undefined;
  }
  return files;
}
