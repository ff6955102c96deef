// Sessions on disk, one folder per workspace: `<id>.json` per session and `index.json` (the list and the
// current session), each written atomically (temp file in the same folder, fsync, rename, fsync of the folder)
// after every change, so a crash or a reload loses nothing and never leaves half a file. What a crash can leave
// (a temp file, an index one change behind) is cleaned up and repaired when the store first touches the folder.
// The format (versioned, migrated on read) is sessionFormat.ts; a corrupt or unknown file is skipped with a
// warning, never thrown.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import {
  indexFileData,
  isSafeSessionId as isSafeId,
  parseIndexFile,
  parseSessionFile,
  sessionFileData,
  summarize,
  type IndexRecord,
  type SessionRecord,
  type SessionSummaryRecord as SessionSummary,
} from './sessionFormat';

const INDEX_FILE = 'index.json';

export interface SessionStoreOptions {
  readonly log?: (warning: string) => void;
}

/** Temp files of writeFileAtomic in this process that are being written now: never stale. */
const liveTempFiles = new Set<string>();

// `.<name>.<pid>.<uuid>.tmp`: the writer's pid tells a crashed save's leftover from another process's live one.
const TEMP_NAME = /^\.(.+)\.(\d+)\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.tmp$/;
// Written before the pid was part of the name: no owner to ask, so always stale.
const LEGACY_TEMP_NAME = /^\.(.+)\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.tmp$/;
/** A save holds its temp file for milliseconds; one this old is stale whatever its pid says (pids are reused). */
const STALE_TEMP_AGE_MS = 60 * 60 * 1000;

/** Write `data` to `file` so that the file holds either the old or the new content, whatever happens. */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const folder = path.dirname(file);
  const temp = path.join(folder, `.${path.basename(file)}.${process.pid}.${randomUUID()}.tmp`);
  liveTempFiles.add(temp);
  try {
    const handle = await fs.open(temp, 'w');
    try {
      await handle.writeFile(data, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
  } catch (err) {
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw err;
  } finally {
    liveTempFiles.delete(temp);
  }
  // The rename is only durable once the folder's entry is on disk.
  await syncFolder(folder);
}

async function syncFolder(folder: string): Promise<void> {
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(folder, 'r');
    await handle.sync();
  } catch (err) {
    // Some platforms cannot open or fsync a folder (Windows: EISDIR, EPERM); there the rename is all we can do.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EACCES') throw err;
  } finally {
    await handle?.close();
  }
}

/**
 * Removes the temp files that writeFileAtomic left in `folder` for `isStoreFile` files when a save died before
 * its rename: those of processes that are gone, of this process but no live save, of the old naming, or too old.
 */
async function removeStaleTempFiles(folder: string, names: readonly string[], isStoreFile: (name: string) => boolean): Promise<void> {
  for (const name of names) {
    const current = TEMP_NAME.exec(name);
    const legacy = current ? null : LEGACY_TEMP_NAME.exec(name);
    const target = current?.[1] ?? legacy?.[1];
    if (target === undefined || !isStoreFile(target)) continue;
    const file = path.join(folder, name);
    if (current && !(await isStaleTempFile(file, Number(current[2])))) continue;
    await fs.rm(file, { force: true }).catch(() => undefined);
  }
}

async function isStaleTempFile(file: string, pid: number): Promise<boolean> {
  const owned = pid === process.pid ? liveTempFiles.has(file) : isRunning(pid);
  if (!owned) return true;
  try {
    return Date.now() - (await fs.stat(file)).mtimeMs > STALE_TEMP_AGE_MS;
  } catch {
    return false; // gone already: its save renamed it
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: only asks whether the process exists
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // it exists but belongs to someone else
  }
}

export class SessionStore {
  /** Writes run one after another, in the order they were asked for, after open(); unset until first used. */
  private queue: Promise<unknown> | undefined;
  private readonly log: (warning: string) => void;

  constructor(
    readonly folder: string,
    options: SessionStoreOptions = {},
  ) {
    this.log = options.log ?? (() => undefined);
  }

  /** Saves a session and updates the index (and makes it current unless told otherwise). */
  save(record: SessionRecord, makeCurrent = true): Promise<void> {
    const json = JSON.stringify(sessionFileData(record), null, 1);
    return this.enqueue(async () => {
      await fs.mkdir(this.folder, { recursive: true });
      await writeFileAtomic(this.sessionFile(record.id), json);
      const index = await this.readIndex();
      const sessions = [summarize(record), ...index.sessions.filter((s) => s.id !== record.id)];
      await this.writeIndex({ currentId: makeCurrent ? record.id : index.currentId, sessions });
    });
  }

  async load(id: string): Promise<SessionRecord | undefined> {
    await this.settled();
    if (!isSafeId(id)) return undefined;
    let text: string;
    try {
      text = await fs.readFile(this.sessionFile(id), 'utf8');
    } catch {
      return undefined;
    }
    try {
      return parseSessionFile(JSON.parse(text));
    } catch (err) {
      this.log(`Skipping the corrupt session file ${this.sessionFile(id)}: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** Sessions as the index lists them, most recently changed first. */
  async list(): Promise<SessionSummary[]> {
    await this.settled();
    const index = await this.readIndex();
    return [...index.sessions].sort((a, b) => b.updatedAt - a.updatedAt);
  }

  /** The session to restore on start: the current one if it loads, else the most recent one that does. */
  async loadCurrent(): Promise<SessionRecord | undefined> {
    await this.settled(); // after the writes already asked for, like load() and list()
    const index = await this.readIndex();
    const ids = [index.currentId, ...[...index.sessions].sort((a, b) => b.updatedAt - a.updatedAt).map((s) => s.id)];
    for (const id of ids) {
      if (!id) continue;
      const record = await this.load(id);
      if (record) return record;
    }
    return undefined;
  }

  delete(id: string): Promise<void> {
    return this.enqueue(async () => {
      if (isSafeId(id)) await fs.rm(this.sessionFile(id), { force: true });
      const index = await this.readIndex();
      await this.writeIndex({
        currentId: index.currentId === id ? undefined : index.currentId,
        sessions: index.sessions.filter((s) => s.id !== id),
      });
    });
  }

  private sessionFile(id: string): string {
    return path.join(this.folder, `${id}.json`);
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const run = (this.queue ??= this.open()).catch(() => undefined).then(work);
    this.queue = run;
    return run;
  }

  /** Waits for the writes already asked for (and for open()), whether they failed or not. */
  private async settled(): Promise<void> {
    await (this.queue ??= this.open()).catch(() => undefined);
  }

  /**
   * Cleans up after a crash, the first time the store touches its folder. A save writes the session file and
   * then the index, and a delete removes the file and then updates the index, so a crash in between leaves the
   * index one change behind the session files, never ahead of them. The session files are therefore the truth:
   * the index is rebuilt from them (a file missing from the index or newer than its entry is taken in, an entry
   * without a file is dropped) and rewritten when it differs. The current session is kept if its file is there.
   */
  private async open(): Promise<void> {
    let names: string[];
    try {
      names = await fs.readdir(this.folder);
    } catch {
      return; // no folder yet: nothing to clean up
    }
    try {
      await removeStaleTempFiles(this.folder, names, (name) => name === INDEX_FILE || sessionIdOf(name) !== undefined);
      const index = await this.readIndexFile();
      const sessions = (await this.scan()).sort((a, b) => b.updatedAt - a.updatedAt);
      const currentId = sessions.some((s) => s.id === index?.currentId) ? index?.currentId : undefined;
      if (index ? index.currentId === currentId && sameSummaries(index.sessions, sessions) : sessions.length === 0) return;
      if (index) this.log(`The session index in ${this.folder} was behind the session files; repaired it.`);
      await this.writeIndex({ currentId, sessions });
    } catch (err) {
      this.log(`Could not check the sessions in ${this.folder}: ${(err as Error).message}`);
    }
  }

  private async writeIndex(index: IndexRecord): Promise<void> {
    await fs.mkdir(this.folder, { recursive: true });
    await writeFileAtomic(path.join(this.folder, INDEX_FILE), JSON.stringify(indexFileData(index), null, 1));
  }

  /** The index; rebuilt from the session files when it is missing or corrupt. */
  private async readIndex(): Promise<IndexRecord> {
    return (await this.readIndexFile()) ?? { sessions: await this.scan() };
  }

  /** The index as written; undefined when it is missing or corrupt (with a warning). */
  private async readIndexFile(): Promise<IndexRecord | undefined> {
    const file = path.join(this.folder, INDEX_FILE);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch {
      return undefined;
    }
    try {
      return parseIndexFile(JSON.parse(text));
    } catch (err) {
      this.log(`The session index ${file} is corrupt (${(err as Error).message}); rebuilding it from the session files.`);
      return undefined;
    }
  }

  private async scan(): Promise<SessionSummary[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.folder);
    } catch {
      return [];
    }
    const sessions: SessionSummary[] = [];
    for (const name of names) {
      const id = sessionIdOf(name);
      if (id === undefined) continue;
      const file = path.join(this.folder, name);
      try {
        const record = parseSessionFile(JSON.parse(await fs.readFile(file, 'utf8')));
        // load(id) reads `<id>.json`: a session saved under another name could be listed but never opened.
        if (record.id !== id) fail(`it holds the session ${JSON.stringify(record.id)}`);
        sessions.push(summarize(record));
      } catch (err) {
        this.log(`Skipping the corrupt session file ${file}: ${(err as Error).message}`);
      }
    }
    return sessions;
  }
}

/** Whether two lists hold the same summaries, in any order. */
function sameSummaries(a: readonly SessionSummary[], b: readonly SessionSummary[]): boolean {
  const key = (list: readonly SessionSummary[]): string =>
    JSON.stringify([...list].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0)).map((s) => [s.id, s.title, s.updatedAt, s.turnCount]));
  return key(a) === key(b);
}

/** The session id of a file name `<id>.json` in the store's folder; undefined for any other file. */
function sessionIdOf(name: string): string | undefined {
  if (name === INDEX_FILE || !name.endsWith('.json')) return undefined;
  const id = name.slice(0, -'.json'.length);
  return isSafeId(id) ? id : undefined;
}

function fail(message: string): never {
  throw new Error(message);
}
