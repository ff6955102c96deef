// Downloads a CodeGen ONNX model from the Hugging Face hub into a model folder the engine accepts:
// config.json and the small JSON files next to it, and one onnx/ variant (plus any external-data file it has).
// Each file goes to `<file>.incomplete` first, resumes with a Range request after a dropped connection or in a
// later run, is checked against the size and sha256 (or git blob id) the hub publishes, and only then is renamed
// into place, so a half-written or corrupt file is never used. The folder is then checked by the engine's rules.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { listVariants, resolveModelFolder, VARIANT_ALIASES, VARIANT_PREFERENCE } from '../engine/modelFolder';
import { EngineError } from '../protocol/errors';
import { DownloadError } from './downloadError';
import { httpGet } from './httpClient';
import {
  DEFAULT_REVISION,
  fetchRepoSnapshot,
  httpOptions,
  normalizeRepoId,
  resolveUrl,
  statusError,
  type HubSettings,
  type RemoteFile,
  type RepoSnapshot,
} from './hubApi';
import { ProgressMeter, type ProgressSnapshot } from './progressMeter';

/** Fetched with every variant when the repository has them; only config.json is required by the engine. */
export const SMALL_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'] as const;

/** Written into a downloaded folder: where it came from and what was verified. */
export const MANIFEST_FILE = '.codegen-mt-download.json';

export interface RemoteVariant {
  /** The onnx/ stem (`model_int8`). */
  readonly variant: string;
  /** The .onnx file and any external-data file next to it. */
  readonly files: readonly RemoteFile[];
  /** Bytes of the variant's files. */
  readonly bytes: number;
}

function rank(stem: string): number {
  const i = (VARIANT_PREFERENCE as readonly string[]).indexOf(stem);
  return i < 0 ? VARIANT_PREFERENCE.length : i;
}

/** The onnx/ variants a repository has, in the engine's order of preference (its default first). */
export function remoteVariants(snapshot: RepoSnapshot): RemoteVariant[] {
  const onnx = snapshot.files.filter((f) => /^onnx\/[^/]+\.onnx$/.test(f.path));
  return onnx
    .map((f) => {
      const variant = f.path.slice('onnx/'.length, -'.onnx'.length);
      const data = snapshot.files.filter((d) => d.path.startsWith(`onnx/${variant}.onnx_data`) || d.path.startsWith(`onnx/${variant}.onnx.data`));
      const files = [f, ...data];
      return { variant, files, bytes: files.reduce((n, x) => n + x.size, 0) };
    })
    .sort((a, b) => rank(a.variant) - rank(b.variant) || a.variant.localeCompare(b.variant));
}

/** The small files the repository has (config.json first). */
export function smallFiles(snapshot: RepoSnapshot): RemoteFile[] {
  return SMALL_FILES.map((name) => snapshot.files.find((f) => f.path === name)).filter((f): f is RemoteFile => f !== undefined);
}

/** The variant a user asked for (a stem or one of the engine's aliases), or the engine's default. */
export function pickVariant(snapshot: RepoSnapshot, requested?: string): RemoteVariant {
  const variants = remoteVariants(snapshot);
  if (variants.length === 0) {
    throw new DownloadError('invalid-model', `${snapshot.repo} has no onnx/*.onnx file: it is not an ONNX export (look for one such as Xenova/codegen-350M-mono).`);
  }
  if (requested === undefined || requested === '') return variants[0];
  const stem = VARIANT_ALIASES[requested] ?? requested;
  const found = variants.find((v) => v.variant === stem);
  if (!found) {
    throw new DownloadError(
      'not-found',
      `${snapshot.repo} has no variant "${requested}" (onnx/${stem}.onnx); it has: ${variants.map((v) => v.variant).join(', ')}.`,
    );
  }
  return found;
}

export function defaultModelsRoot(env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (process.platform === 'win32' && env.LOCALAPPDATA) return path.join(env.LOCALAPPDATA, 'codegen-mt', 'models');
  const cache = env.XDG_CACHE_HOME?.trim() || path.join(os.homedir(), '.cache');
  return path.join(cache, 'codegen-mt', 'models');
}

/** `Xenova--codegen-350M-mono`, with `@revision` when it is not main. */
export function modelFolderName(repo: string, revision = DEFAULT_REVISION): string {
  const base = normalizeRepoId(repo).replace('/', '--');
  return revision === DEFAULT_REVISION ? base : `${base}@${revision.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

export interface DownloadPhase {
  /** `download`: bytes arriving; `verify`: checking a file's checksum; `done`: a file is in place. */
  readonly phase: 'download' | 'verify' | 'done';
  /** The file being worked on (`onnx/model_int8.onnx`). */
  readonly file: string;
  readonly fileBytes: number;
  readonly fileSize: number;
}

export type DownloadProgress = DownloadPhase & ProgressSnapshot;

export interface DownloadOptions {
  readonly repo: string;
  readonly revision?: string;
  /** A stem or an alias; default: the engine's default among those the repository has. */
  readonly variant?: string;
  /** The model folder; default `<defaultModelsRoot()>/<modelFolderName(repo)>`. */
  readonly dir?: string;
  readonly hub: HubSettings;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: DownloadProgress) => void;
  /** A snapshot fetched earlier (the variant list shown to the user): saves one API call. */
  readonly snapshot?: RepoSnapshot;
  /** Attempts per file after a dropped connection or a 5xx (each resumes where the last stopped). Default 5. */
  readonly retries?: number;
  readonly retryDelayMs?: number;
  /** Least time between two progress calls (a file's start and end are always reported). Default 100 ms. */
  readonly progressIntervalMs?: number;
  readonly now?: () => number;
}

export interface DownloadResult {
  readonly modelDir: string;
  readonly variant: string;
  readonly repo: string;
  readonly commit: string;
  /** Files fetched now, and files found already in place and verified. */
  readonly downloaded: readonly string[];
  readonly reused: readonly string[];
  readonly bytes: number;
}

interface ManifestEntry {
  readonly size: number;
  readonly sha256?: string;
  readonly gitOid?: string;
  readonly mtimeMs: number;
}

export interface DownloadManifest {
  readonly repo: string;
  readonly revision: string;
  readonly commit: string;
  readonly endpoint: string;
  readonly files: Readonly<Record<string, ManifestEntry>>;
}

export function readManifest(dir: string): DownloadManifest | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(dir, MANIFEST_FILE), 'utf8')) as DownloadManifest;
    return typeof m.repo === 'string' && typeof m.files === 'object' && m.files !== null ? m : undefined;
  } catch {
    return undefined;
  }
}

function writeManifest(dir: string, manifest: DownloadManifest): void {
  const file = path.join(dir, MANIFEST_FILE);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(manifest, null, 2) + '\n');
  fs.renameSync(`${file}.tmp`, file);
}

/** The manual steps for when the hub cannot be reached: which files to put where. */
export function manualSteps(hub: HubSettings, repo: string, revision: string, dir: string, files?: readonly string[], variant?: string): string {
  const stem = variant ? (VARIANT_ALIASES[variant] ?? variant) : 'model_int8';
  const list = files ?? ['config.json', 'generation_config.json', 'tokenizer.json', `onnx/${stem}.onnx`];
  const lines = list.map((f) => `  ${resolveUrl(hub.endpoint, repo, revision, f)}\n    -> ${path.join(dir, ...f.split('/'))}`);
  return [
    `To install the model by hand, download these files (from a browser or a machine that can reach ${hub.endpoint}; the .onnx file is large) and put each at the path shown:`,
    ...lines,
    `(or: huggingface-cli download ${repo} ${list.join(' ')} --revision ${revision} --local-dir ${dir})`,
    `Then use the folder: codegen-mt session --model ${dir} ..., or in VS Code "CodeGen: Select Model..." > "Choose folder...".`,
  ].join('\n');
}

function localPath(dir: string, file: string): string {
  const parts = file.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) throw new DownloadError('http', `The hub listed an unsafe file path "${file}".`);
  return path.join(dir, ...parts);
}

async function hashFile(file: string, algorithm: 'sha256' | 'sha1', prefix?: string): Promise<string> {
  const hash = createHash(algorithm);
  if (prefix) hash.update(prefix);
  await pipeline(fs.createReadStream(file), hash);
  return hash.digest('hex');
}

/** Checks a file against the hub's size and checksum; returns what is wrong, or undefined. */
export async function verifyFile(file: string, remote: RemoteFile): Promise<string | undefined> {
  const size = fs.statSync(file).size;
  if (size !== remote.size) return `its size is ${size} bytes, the hub says ${remote.size}`;
  if (remote.sha256) {
    const sha = await hashFile(file, 'sha256');
    if (sha !== remote.sha256) return `its sha256 is ${sha}, the hub says ${remote.sha256}`;
  } else if (remote.gitOid) {
    const oid = await hashFile(file, 'sha1', `blob ${size}\0`);
    if (oid !== remote.gitOid) return `its git blob id is ${oid}, the hub says ${remote.gitOid}`;
  }
  return undefined;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DownloadError('cancelled', 'The download was cancelled.'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new DownloadError('cancelled', 'The download was cancelled.'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A partial file that could not be continued was discarded: the next attempt starts it over. */
class RestartTransfer extends Error {}

function retryable(err: unknown): boolean {
  if (err instanceof DownloadError) return err.code === 'network' || (err.code === 'http' && /HTTP 5\d\d/.test(err.message));
  if (err instanceof RestartTransfer) return true;
  const e = err as NodeJS.ErrnoException;
  return NETWORK_CODES.has(e?.code ?? '') || /aborted|socket hang up|no data for/i.test(e?.message ?? '');
}

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ERR_STREAM_PREMATURE_CLOSE']);

/** Anything else that went wrong while fetching: the network, or the disk (full, no permission). */
function fetchFailure(err: unknown, file: string, dir: string): DownloadError {
  if (err instanceof DownloadError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.syscall && e.path) return new DownloadError('io', `Cannot write ${e.path} (${e.code ?? e.message}): check the space and permissions of ${dir}.`);
  return new DownloadError('network', `Fetching ${file} failed: ${e?.message ?? String(err)}.`);
}

/** Downloads a model; resolves with the folder, checked by the engine's folder rules. */
export async function downloadModel(options: DownloadOptions): Promise<DownloadResult> {
  const hub = options.hub;
  const repo = normalizeRepoId(options.repo);
  const revision = options.revision ?? DEFAULT_REVISION;
  const dir = path.resolve(options.dir ?? path.join(defaultModelsRoot(), modelFolderName(repo, revision)));
  const signal = options.signal;
  const withSteps = (err: unknown, files?: readonly string[]): unknown => {
    if (!(err instanceof DownloadError) && (err as NodeJS.ErrnoException)?.syscall) err = fetchFailure(err, '', dir);
    if (err instanceof DownloadError && err.code === 'network' && !err.manualSteps) {
      return new DownloadError('network', `${err.message} Check the network, or the proxy (HTTPS_PROXY, NO_PROXY; in VS Code the http.proxy setting).`, manualSteps(hub, repo, revision, dir, files, options.variant));
    }
    return err;
  };

  let snapshot: RepoSnapshot;
  try {
    snapshot = options.snapshot ?? (await fetchRepoSnapshot(repo, revision, hub, signal));
  } catch (err) {
    throw withSteps(err);
  }
  const config = snapshot.files.find((f) => f.path === 'config.json');
  if (!config) throw new DownloadError('invalid-model', `${repo} has no config.json: it is not a model the engine can load.`);
  const chosen = pickVariant(snapshot, options.variant);
  const plan = [...smallFiles(snapshot), ...chosen.files];
  const planPaths = plan.map((f) => f.path);
  const totalBytes = plan.reduce((n, f) => n + f.size, 0);
  fs.mkdirSync(dir, { recursive: true });

  const meter = new ProgressMeter(totalBytes, options.now);
  const now = options.now ?? (() => Date.now());
  const interval = options.progressIntervalMs ?? 100;
  let lastReport = -Infinity;
  let doneBytes = 0;
  const report = (phase: DownloadPhase, force: boolean): void => {
    if (!options.onProgress) return;
    const t = now();
    if (!force && t - lastReport < interval) return;
    lastReport = t;
    options.onProgress({ ...phase, ...meter.snapshot() });
  };

  const old = readManifest(dir);
  const entries: Record<string, ManifestEntry> = { ...(old?.commit === snapshot.commit ? old.files : {}) };
  const downloaded: string[] = [];
  const reused: string[] = [];
  try {
    for (const file of plan) {
      const target = localPath(dir, file.path);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      if (await alreadyInPlace(target, file, entries[file.path])) {
        reused.push(file.path);
        doneBytes += file.size;
        meter.update(doneBytes, false);
        entries[file.path] = entryOf(target, file);
        report({ phase: 'done', file: file.path, fileBytes: file.size, fileSize: file.size }, true);
        continue;
      }
      const url = resolveUrl(hub.endpoint, repo, snapshot.commit, file.path);
      const part = `${target}.incomplete`;
      for (let attempt = 0; ; attempt++) {
        try {
          await transfer(url, part, file, hub, signal, (fileBytes, fetched) => {
            meter.update(doneBytes + fileBytes, fetched);
            report({ phase: 'download', file: file.path, fileBytes, fileSize: file.size }, false);
          });
          break;
        } catch (err) {
          if (signal?.aborted) throw new DownloadError('cancelled', `The download was cancelled; ${path.basename(part)} is kept and the next run resumes it.`);
          if (!retryable(err) || attempt >= (options.retries ?? 5)) {
            throw fetchFailure(err, file.path, dir);
          }
          await sleep((options.retryDelayMs ?? 1000) * (attempt + 1), signal);
        }
      }
      report({ phase: 'verify', file: file.path, fileBytes: file.size, fileSize: file.size }, true);
      const problem = await verifyFile(part, file);
      if (problem) {
        fs.rmSync(part, { force: true });
        throw new DownloadError('verification', `${file.path} from ${repo} failed verification (${problem}); the file was deleted. Run the download again; if it fails again, the hub or a proxy is altering the file.`);
      }
      fs.renameSync(part, target);
      entries[file.path] = entryOf(target, file);
      downloaded.push(file.path);
      doneBytes += file.size;
      meter.update(doneBytes, true);
      report({ phase: 'done', file: file.path, fileBytes: file.size, fileSize: file.size }, true);
    }
  } catch (err) {
    throw withSteps(err, planPaths);
  } finally {
    writeManifest(dir, { repo, revision, commit: snapshot.commit, endpoint: hub.endpoint, files: entries });
  }

  try {
    resolveModelFolder(dir, chosen.variant);
  } catch (err) {
    const message = err instanceof EngineError ? err.message : String(err);
    throw new DownloadError('invalid-model', `The files of ${repo} arrived but the engine does not accept the folder: ${message}`);
  }
  return { modelDir: dir, variant: chosen.variant, repo, commit: snapshot.commit, downloaded, reused, bytes: totalBytes };
}

function entryOf(target: string, file: RemoteFile): ManifestEntry {
  return { size: file.size, sha256: file.sha256, gitOid: file.gitOid, mtimeMs: fs.statSync(target).mtimeMs };
}

/** A file already there counts if the manifest verified it unchanged since, or if it verifies now. */
async function alreadyInPlace(target: string, file: RemoteFile, entry: ManifestEntry | undefined): Promise<boolean> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(target);
  } catch {
    return false;
  }
  if (stat.size !== file.size) return false;
  if (entry && entry.size === file.size && entry.sha256 === file.sha256 && entry.gitOid === file.gitOid && entry.mtimeMs === stat.mtimeMs) return true;
  return (await verifyFile(target, file)) === undefined;
}

/**
 * Brings `part` up to the file's size: continues it with `Range: bytes=N-` when it holds N bytes (a server
 * that ignores the range answers 200 and the part starts over). Throws on a dropped connection; `part` keeps
 * what arrived.
 */
async function transfer(
  url: string,
  part: string,
  file: RemoteFile,
  hub: HubSettings,
  signal: AbortSignal | undefined,
  onBytes: (fileBytes: number, fetched: boolean) => void,
): Promise<void> {
  let have = 0;
  try {
    have = fs.statSync(part).size;
  } catch {
    // nothing yet
  }
  if (have > file.size) {
    fs.rmSync(part, { force: true });
    have = 0;
  }
  onBytes(have, false);
  if (have === file.size) return;
  const res = await httpGet(url, httpOptions(hub, signal, have > 0 ? { range: `bytes=${have}-` } : {}));
  let start = 0;
  if (res.status === 206) {
    const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
    start = range ? Number(range[1]) : -1;
    if (start !== have) {
      res.body.resume();
      fs.rmSync(part, { force: true });
      throw new RestartTransfer(`the server answered a range request for ${file.path} with bytes from ${start} instead of ${have}`);
    }
  } else if (res.status === 416) {
    res.body.resume();
    fs.rmSync(part, { force: true });
    throw new RestartTransfer(`the server refused to resume ${file.path} (HTTP 416)`);
  } else if (res.status < 200 || res.status >= 300) {
    throw await statusError(res, `${file.path} of the repository`, hub);
  }
  let received = start;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      if (received > file.size) {
        callback(new DownloadError('verification', `${file.path} is larger than the ${file.size} bytes the hub says; the file was deleted.`));
        return;
      }
      onBytes(received, true);
      callback(null, chunk);
    },
  });
  const out = fs.createWriteStream(part, { flags: start > 0 ? 'a' : 'w' });
  try {
    await pipeline(res.body, counter, out);
  } catch (err) {
    // pipeline rejects as soon as the body fails (a cancel, a dropped connection), while a write to the file may
    // still be in flight: wait for the file to be closed, so that it never changes after this returns (a resumed
    // run measures it to ask for the rest).
    if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
    if (err instanceof DownloadError && err.code === 'verification') fs.rmSync(part, { force: true });
    throw err;
  }
  if (received < file.size) {
    throw new DownloadError('network', `The connection closed after ${received} of ${file.size} bytes of ${file.path}.`);
  }
}

export interface DownloadedModel {
  readonly modelDir: string;
  /** `owner/name` from the manifest, or the folder's name. */
  readonly name: string;
  readonly variants: readonly string[];
  readonly commit?: string;
}

/** The model folders under each root that the engine's rules would find a variant in (config.json + onnx/). */
export function listDownloadedModels(roots: readonly string[]): DownloadedModel[] {
  const found: DownloadedModel[] = [];
  const seen = new Set<string>();
  for (const root of roots) {
    let names: string[];
    try {
      names = fs.readdirSync(root);
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      const modelDir = path.resolve(root, name);
      if (seen.has(modelDir) || !fs.existsSync(path.join(modelDir, 'config.json'))) continue;
      const variants = listVariants(modelDir);
      if (variants.length === 0) continue;
      seen.add(modelDir);
      const manifest = readManifest(modelDir);
      found.push({ modelDir, name: manifest?.repo ?? name, variants, commit: manifest?.commit });
    }
  }
  return found;
}
