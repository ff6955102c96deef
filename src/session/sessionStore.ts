// Sessions on disk, one folder per workspace: `<id>.json` per session and `index.json` (the list and the
// current session), each written atomically (temp file in the same folder, fsync, rename) after every change,
// so a crash or a reload loses nothing and never leaves half a file. Versioned; a corrupt or unknown file is
// skipped with a warning, never thrown.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { PromptPerplexityView, SessionSummary, TurnState } from '../protocol/webview';
import type { SessionRecord, TurnRecord } from './turnMachine';

export const SESSION_FORMAT_VERSION = 1;
const INDEX_FILE = 'index.json';

interface SessionFile {
  readonly version: number;
  readonly session: SessionRecord;
}

interface IndexFile {
  readonly version: number;
  readonly currentId?: string;
  readonly sessions: readonly SessionSummary[];
}

export interface SessionStoreOptions {
  readonly log?: (warning: string) => void;
}

export function summarize(record: SessionRecord): SessionSummary {
  const first = record.turns[0]?.prompt.split('\n')[0].trim();
  return { id: record.id, title: first || 'New session', updatedAt: record.updatedAt, turnCount: record.turns.length };
}

/** Write `data` to `file` so that the file holds either the old or the new content, whatever happens. */
export async function writeFileAtomic(file: string, data: string): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomUUID()}.tmp`);
  const handle = await fs.open(temp, 'w');
  try {
    await handle.writeFile(data, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await fs.rename(temp, file);
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw err;
  }
}

export class SessionStore {
  /** Writes run one after another, in the order they were asked for. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly log: (warning: string) => void;

  constructor(
    readonly folder: string,
    options: SessionStoreOptions = {},
  ) {
    this.log = options.log ?? (() => undefined);
  }

  /** Saves a session and updates the index (and makes it current unless told otherwise). */
  save(record: SessionRecord, makeCurrent = true): Promise<void> {
    const data: SessionFile = { version: SESSION_FORMAT_VERSION, session: record };
    const json = JSON.stringify(data, null, 1);
    return this.enqueue(async () => {
      await fs.mkdir(this.folder, { recursive: true });
      await writeFileAtomic(this.sessionFile(record.id), json);
      const index = await this.readIndex();
      const sessions = [summarize(record), ...index.sessions.filter((s) => s.id !== record.id)];
      await this.writeIndex({ currentId: makeCurrent ? record.id : index.currentId, sessions });
    });
  }

  async load(id: string): Promise<SessionRecord | undefined> {
    await this.queue.catch(() => undefined);
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
    await this.queue.catch(() => undefined);
    const index = await this.readIndex();
    return [...index.sessions].sort((a, b) => b.updatedAt - a.updatedAt);
  }

  /** The session to restore on start: the current one if it loads, else the most recent one that does. */
  async loadCurrent(): Promise<SessionRecord | undefined> {
    await this.queue.catch(() => undefined); // after the writes already asked for, like load() and list()
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
    const run = this.queue.catch(() => undefined).then(work);
    this.queue = run;
    return run;
  }

  private async writeIndex(index: Omit<IndexFile, 'version'>): Promise<void> {
    await fs.mkdir(this.folder, { recursive: true });
    const data: IndexFile = { version: SESSION_FORMAT_VERSION, ...index };
    await writeFileAtomic(path.join(this.folder, INDEX_FILE), JSON.stringify(data, null, 1));
  }

  /** The index; rebuilt from the session files when it is missing or corrupt. */
  private async readIndex(): Promise<{ currentId?: string; sessions: SessionSummary[] }> {
    const file = path.join(this.folder, INDEX_FILE);
    let text: string | undefined;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch {
      text = undefined;
    }
    if (text !== undefined) {
      try {
        return parseIndexFile(JSON.parse(text));
      } catch (err) {
        this.log(`The session index ${file} is corrupt (${(err as Error).message}); rebuilding it from the session files.`);
      }
    }
    return { sessions: await this.scan() };
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
      if (!name.endsWith('.json') || name === INDEX_FILE || name.startsWith('.')) continue;
      const file = path.join(this.folder, name);
      try {
        sessions.push(summarize(parseSessionFile(JSON.parse(await fs.readFile(file, 'utf8')))));
      } catch (err) {
        this.log(`Skipping the corrupt session file ${file}: ${(err as Error).message}`);
      }
    }
    return sessions;
  }
}

function isSafeId(id: string): boolean {
  return /^[A-Za-z0-9_-]{1,100}$/.test(id);
}

// --- validation of what is read back ---

const STATES: ReadonlySet<string> = new Set<TurnState>(['generating', 'proposed', 'accepted', 'rejected', 'cancelled', 'failed']);

function fail(message: string): never {
  throw new Error(message);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Record<string, unknown>, key: string): string {
  return typeof o[key] === 'string' ? (o[key] as string) : fail(`${key} is not a string`);
}

function num(o: Record<string, unknown>, key: string): number {
  return typeof o[key] === 'number' && Number.isFinite(o[key]) ? (o[key] as number) : fail(`${key} is not a number`);
}

function optNum(o: Record<string, unknown>, key: string): number | undefined {
  return o[key] === undefined ? undefined : num(o, key);
}

function checkVersion(o: Record<string, unknown>): void {
  if (o.version !== SESSION_FORMAT_VERSION) fail(`unknown format version ${JSON.stringify(o.version)}`);
}

export function parseSessionFile(data: unknown): SessionRecord {
  if (!isObject(data)) fail('not an object');
  checkVersion(data);
  const s = data.session;
  if (!isObject(s)) fail('no session');
  const id = str(s, 'id');
  if (!isSafeId(id)) fail(`bad session id ${JSON.stringify(id)}`);
  if (!Array.isArray(s.turns)) fail('turns is not a list');
  const record: SessionRecord = {
    id,
    createdAt: num(s, 'createdAt'),
    updatedAt: num(s, 'updatedAt'),
    draft: typeof s.draft === 'string' ? s.draft : '',
    turns: s.turns.map(parseTurn),
  };
  if (typeof s.documentUri === 'string') record.documentUri = s.documentUri;
  return record;
}

function parseTurn(t: unknown): TurnRecord {
  if (!isObject(t)) fail('a turn is not an object');
  const state = str(t, 'state');
  if (!STATES.has(state)) fail(`unknown turn state ${state}`);
  const turn: TurnRecord = { id: str(t, 'id'), prompt: str(t, 'prompt'), code: str(t, 'code'), state: state as TurnState, createdAt: num(t, 'createdAt') };
  if (t.perplexity !== undefined) turn.perplexity = parsePerplexity(t.perplexity);
  if (t.error !== undefined) turn.error = str(t, 'error');
  turn.droppedTurns = optNum(t, 'droppedTurns');
  turn.tokensPerSecond = optNum(t, 'tokensPerSecond');
  turn.seed = optNum(t, 'seed');
  for (const key of ['droppedTurns', 'tokensPerSecond', 'seed'] as const) if (turn[key] === undefined) delete turn[key];
  return turn;
}

function parsePerplexity(p: unknown): PromptPerplexityView {
  if (!isObject(p)) fail('perplexity is not an object');
  const level = str(p, 'level');
  if (level !== 'low' && level !== 'medium' && level !== 'high') fail(`unknown level ${level}`);
  if (!Array.isArray(p.surprising)) fail('surprising is not a list');
  return {
    perplexity: num(p, 'perplexity'),
    level,
    surprising: p.surprising.map((w) => (isObject(w) ? { text: str(w, 'text'), surprisal: num(w, 'surprisal') } : fail('bad word'))),
  };
}

function parseIndexFile(data: unknown): { currentId?: string; sessions: SessionSummary[] } {
  if (!isObject(data)) fail('not an object');
  checkVersion(data);
  if (!Array.isArray(data.sessions)) fail('sessions is not a list');
  const sessions = data.sessions.map((s) =>
    isObject(s) ? { id: str(s, 'id'), title: str(s, 'title'), updatedAt: num(s, 'updatedAt'), turnCount: num(s, 'turnCount') } : fail('bad entry'),
  );
  return { currentId: typeof data.currentId === 'string' ? data.currentId : undefined, sessions };
}
