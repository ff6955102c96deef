// The saved session, as it is on disk: declared here, apart from the panel's view types, so that changing how the
// panel shows a turn never changes (or breaks) what users have saved. Versioned; older versions are migrated when
// read, and a file of an unknown version or shape is refused with the reason (the store skips it with a warning).
//
//   version 1  (until 2026-12): a turn's perplexity held the level of the thresholds of the day it was scored
//   version 2  the perplexity is the score alone (number and most surprising words); the level is worked out from
//              the user's thresholds whenever the turn is shown, so a changed threshold applies to old turns too;
//              a proposed turn may carry its candidates (optional fields: a reader without them drops them)

export const SESSION_FORMAT_VERSION = 2;
/** The index (index.json) lists sessions; its shape has not changed since version 1. */
export const INDEX_FORMAT_VERSION = 1;

export type TurnState = 'generating' | 'proposed' | 'accepted' | 'rejected' | 'cancelled' | 'failed';
export const TURN_STATES: readonly TurnState[] = ['generating', 'proposed', 'accepted', 'rejected', 'cancelled', 'failed'];

export interface ScoredWord {
  readonly text: string;
  /** -log p of the token, in nats. */
  readonly surprisal: number;
}

/** A prompt's perplexity under the model, with its most surprising words (most surprising first). */
export interface PromptScoreRecord {
  readonly perplexity: number;
  readonly surprising: readonly ScoredWord[];
}

/** How a candidate's run after the program so far ended (ProgramOutcome, as kept). */
export interface CandidateRunRecord {
  readonly status: 'ran' | 'raised' | 'timed-out' | 'not-run';
  readonly output: string;
  readonly error?: string;
  readonly line?: number;
}

/** One of a turn's sampled candidates. */
export interface CandidateRecord {
  readonly code: string;
  readonly seed?: number;
  /** Mean log-probability of its tokens (the ranking's second key). */
  readonly meanLogprob?: number;
  /** Its run, once it has run. */
  run?: CandidateRunRecord;
}

export interface TurnRecord {
  readonly id: string;
  readonly prompt: string;
  code: string;
  state: TurnState;
  perplexity?: PromptScoreRecord;
  error?: string;
  droppedTurns?: number;
  tokensPerSecond?: number;
  /** The sampler seed of the current code (reproducible). */
  seed?: number;
  /** Candidates of a turn sampled as several (until it is accepted or generated again), and the one shown. */
  candidates?: CandidateRecord[];
  shownCandidate?: number;
  readonly createdAt: number;
}

export interface SessionRecord {
  readonly id: string;
  readonly createdAt: number;
  updatedAt: number;
  draft: string;
  turns: TurnRecord[];
  /** The document the session inserts into (its URI string), if any. */
  documentUri?: string;
}

export interface SessionSummaryRecord {
  readonly id: string;
  readonly title: string;
  readonly updatedAt: number;
  readonly turnCount: number;
}

export interface IndexRecord {
  readonly currentId?: string;
  readonly sessions: SessionSummaryRecord[];
}

/** What a session file holds. */
export function sessionFileData(record: SessionRecord): { readonly version: number; readonly session: SessionRecord } {
  return { version: SESSION_FORMAT_VERSION, session: record };
}

export function indexFileData(index: IndexRecord): { readonly version: number } & IndexRecord {
  return { version: INDEX_FORMAT_VERSION, ...index };
}

export function isSafeSessionId(id: string): boolean {
  return /^[A-Za-z0-9_-]{1,100}$/.test(id);
}

export function summarize(record: SessionRecord): SessionSummaryRecord {
  const first = record.turns[0]?.prompt.split('\n')[0].trim();
  return { id: record.id, title: first || 'New session', updatedAt: record.updatedAt, turnCount: record.turns.length };
}

// --- reading back (and migrating) what was written ---

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

/** A session file's record, whatever version wrote it (1 or 2); throws the reason if it is not one. */
export function parseSessionFile(data: unknown): SessionRecord {
  if (!isObject(data)) fail('not an object');
  if (data.version !== 1 && data.version !== SESSION_FORMAT_VERSION) fail(`unknown format version ${JSON.stringify(data.version)}`);
  const s = data.session;
  if (!isObject(s)) fail('no session');
  const id = str(s, 'id');
  if (!isSafeSessionId(id)) fail(`bad session id ${JSON.stringify(id)}`);
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
  if (!(TURN_STATES as readonly string[]).includes(state)) fail(`unknown turn state ${state}`);
  const turn: TurnRecord = { id: str(t, 'id'), prompt: str(t, 'prompt'), code: str(t, 'code'), state: state as TurnState, createdAt: num(t, 'createdAt') };
  if (t.perplexity !== undefined) turn.perplexity = parseScore(t.perplexity);
  if (t.error !== undefined) turn.error = str(t, 'error');
  turn.droppedTurns = optNum(t, 'droppedTurns');
  turn.tokensPerSecond = optNum(t, 'tokensPerSecond');
  turn.seed = optNum(t, 'seed');
  for (const key of ['droppedTurns', 'tokensPerSecond', 'seed'] as const) if (turn[key] === undefined) delete turn[key];
  if (t.candidates !== undefined) {
    if (!Array.isArray(t.candidates) || t.candidates.length === 0) fail('candidates is not a list');
    turn.candidates = t.candidates.map(parseCandidate);
    const shown = num(t, 'shownCandidate');
    if (!Number.isInteger(shown) || shown < 0 || shown >= turn.candidates.length) fail(`shownCandidate ${shown} is not a candidate`);
    turn.shownCandidate = shown;
  }
  return turn;
}

const RUN_STATUSES: readonly string[] = ['ran', 'raised', 'timed-out', 'not-run'];

function parseCandidate(c: unknown): CandidateRecord {
  if (!isObject(c)) fail('a candidate is not an object');
  const candidate: CandidateRecord = { code: str(c, 'code') };
  const seed = optNum(c, 'seed');
  const meanLogprob = optNum(c, 'meanLogprob');
  let run: CandidateRunRecord | undefined;
  if (c.run !== undefined) {
    const r = isObject(c.run) ? c.run : fail('a candidate run is not an object');
    const status = str(r, 'status');
    if (!RUN_STATUSES.includes(status)) fail(`unknown run status ${status}`);
    run = { status: status as CandidateRunRecord['status'], output: str(r, 'output') };
    if (r.error !== undefined) run = { ...run, error: str(r, 'error') };
    if (r.line !== undefined) run = { ...run, line: num(r, 'line') };
  }
  return { ...candidate, ...(seed !== undefined ? { seed } : {}), ...(meanLogprob !== undefined ? { meanLogprob } : {}), ...(run ? { run } : {}) };
}

/** Version 2's score; version 1's also had `level` (low, medium or high), which is checked and dropped. */
function parseScore(p: unknown): PromptScoreRecord {
  if (!isObject(p)) fail('perplexity is not an object');
  if (p.level !== undefined && p.level !== 'low' && p.level !== 'medium' && p.level !== 'high') fail(`unknown level ${String(p.level)}`);
  if (!Array.isArray(p.surprising)) fail('surprising is not a list');
  return {
    perplexity: num(p, 'perplexity'),
    surprising: p.surprising.map((w) => (isObject(w) ? { text: str(w, 'text'), surprisal: num(w, 'surprisal') } : fail('bad word'))),
  };
}

export function parseIndexFile(data: unknown): IndexRecord {
  if (!isObject(data)) fail('not an object');
  if (data.version !== INDEX_FORMAT_VERSION) fail(`unknown format version ${JSON.stringify(data.version)}`);
  if (!Array.isArray(data.sessions)) fail('sessions is not a list');
  const sessions = data.sessions.map((s) =>
    isObject(s) ? { id: str(s, 'id'), title: str(s, 'title'), updatedAt: num(s, 'updatedAt'), turnCount: num(s, 'turnCount') } : fail('bad entry'),
  );
  return { currentId: typeof data.currentId === 'string' ? data.currentId : undefined, sessions };
}
