// Fetching a repository's files into a model folder: each goes to `<file>.incomplete` first, resumes with a Range
// request after a dropped connection or in a later run, is checked against the size and sha256 (or git blob id)
// the hub publishes, and only then is renamed into place, so a half-written or corrupt file is never used. What
// was verified is kept in the folder's manifest, so a later run does not hash it again.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DownloadError } from './downloadError';
import { httpGet } from './httpClient';
import { httpOptions, resolveUrl, statusError, type HubSettings, type RemoteFile, type RepoSnapshot } from './hubApi';
import { ProgressMeter, type ProgressSnapshot } from './progressMeter';

/** Written into a downloaded folder: where it came from and what was verified. */
export const MANIFEST_FILE = '.codegen-mt-download.json';

export interface DownloadPhase {
  /** `download`: bytes arriving; `verify`: checking a file's checksum; `done`: a file is in place. */
  readonly phase: 'download' | 'verify' | 'done';
  /** The file being worked on (`onnx/model_int8.onnx`). */
  readonly file: string;
  readonly fileBytes: number;
  readonly fileSize: number;
}

export type DownloadProgress = DownloadPhase & ProgressSnapshot;

/** How files are fetched: the hub, cancellation, progress, and retries. */
export interface FetchOptions {
  readonly hub: HubSettings;
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: DownloadProgress) => void;
  /** Attempts per file after a dropped connection or a 5xx (each resumes where the last stopped). Default 5. */
  readonly retries?: number;
  readonly retryDelayMs?: number;
  /** Least time between two progress calls (a file's start and end are always reported). Default 100 ms. */
  readonly progressIntervalMs?: number;
  readonly now?: () => number;
}

export interface ManifestEntry {
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

export function writeManifest(dir: string, manifest: DownloadManifest): void {
  const file = path.join(dir, MANIFEST_FILE);
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(manifest, null, 2) + '\n');
  fs.renameSync(`${file}.tmp`, file);
}

export function localPath(dir: string, file: string): string {
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
export function fetchFailure(err: unknown, file: string, dir: string): DownloadError {
  if (err instanceof DownloadError) return err;
  const e = err as NodeJS.ErrnoException;
  if (e?.syscall && e.path) return new DownloadError('io', `Cannot write ${e.path} (${e.code ?? e.message}): check the space and permissions of ${dir}.`);
  return new DownloadError('network', `Fetching ${file} failed: ${e?.message ?? String(err)}.`);
}

/**
 * Fetches files into the folder one at a time, each verified and renamed into place, with one progress meter
 * over the whole download; remembers what it verified for the manifest.
 */
export class FileFetcher {
  readonly downloaded: string[] = [];
  readonly reused: string[] = [];
  private readonly meter: ProgressMeter;
  private readonly entries: Record<string, ManifestEntry>;
  private doneBytes = 0;
  private lastReport = -Infinity;

  constructor(
    private readonly options: FetchOptions,
    private readonly repo: string,
    private readonly dir: string,
    private readonly snapshot: RepoSnapshot,
    totalBytes: number,
  ) {
    this.meter = new ProgressMeter(totalBytes, options.now);
    const old = readManifest(dir);
    this.entries = { ...(old?.commit === snapshot.commit ? old.files : {}) };
  }

  private report(phase: DownloadPhase, force: boolean): void {
    if (!this.options.onProgress) return;
    const t = (this.options.now ?? Date.now)();
    if (!force && t - this.lastReport < (this.options.progressIntervalMs ?? 100)) return;
    this.lastReport = t;
    this.options.onProgress({ ...phase, ...this.meter.snapshot() });
  }

  private placed(file: RemoteFile, target: string, fetched: boolean): void {
    this.entries[file.path] = entryOf(target, file);
    (fetched ? this.downloaded : this.reused).push(file.path);
    this.doneBytes += file.size;
    this.meter.update(this.doneBytes, fetched);
    this.report({ phase: 'done', file: file.path, fileBytes: file.size, fileSize: file.size }, true);
  }

  async fetch(file: RemoteFile): Promise<void> {
    const { options, repo } = this;
    const target = localPath(this.dir, file.path);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    if (await alreadyInPlace(target, file, this.entries[file.path])) return this.placed(file, target, false);
    const url = resolveUrl(options.hub.endpoint, repo, this.snapshot.commit, file.path);
    const part = `${target}.incomplete`;
    for (let attempt = 0; ; attempt++) {
      try {
        await transfer(url, part, file, options.hub, options.signal, (fileBytes, fetched) => {
          this.meter.update(this.doneBytes + fileBytes, fetched);
          this.report({ phase: 'download', file: file.path, fileBytes, fileSize: file.size }, false);
        });
        break;
      } catch (err) {
        if (options.signal?.aborted) throw new DownloadError('cancelled', `The download was cancelled; ${path.basename(part)} is kept and the next run resumes it.`);
        if (!retryable(err) || attempt >= (options.retries ?? 5)) throw fetchFailure(err, file.path, this.dir);
        await sleep((options.retryDelayMs ?? 1000) * (attempt + 1), options.signal);
      }
    }
    this.report({ phase: 'verify', file: file.path, fileBytes: file.size, fileSize: file.size }, true);
    const problem = await verifyFile(part, file);
    if (problem) {
      fs.rmSync(part, { force: true });
      throw new DownloadError('verification', `${file.path} from ${repo} failed verification (${problem}); the file was deleted. Run the download again; if it fails again, the hub or a proxy is altering the file.`);
    }
    fs.renameSync(part, target);
    this.placed(file, target, true);
  }

  writeManifest(revision: string, endpoint: string): void {
    writeManifest(this.dir, { repo: this.repo, revision, commit: this.snapshot.commit, endpoint, files: this.entries });
  }
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
