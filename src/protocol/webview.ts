// Messages between the extension host and the panel's webview: readonly unions on `type`, the direction in
// the name, declared once for both sides. Every message from the webview is checked by parseFromWebview()
// before the host acts on it. No imports: the webview bundle includes this file.

export type TurnState =
  | 'generating' // code is streaming in
  | 'proposed' // generated, waiting for accept / reject / regenerate / edit
  | 'accepted' // inserted into the editor and part of the history
  | 'rejected' // discarded; its prompt stays editable
  | 'cancelled' // stopped by the user; what was generated can still be accepted
  | 'failed'; // the engine failed; Retry

export type PerplexityLevel = 'low' | 'medium' | 'high';

export interface SurprisingWord {
  readonly text: string;
  readonly surprisal: number;
  /**
   * For the draft's words: the token's span in the draft, [start, end) in UTF-16 units (its leading space
   * included when the space is the draft's), and the model's alternatives at that position, best first, each the
   * text that replaces draft[start, end) (the draft is then `draft.slice(0, start) + alternative + draft.slice(end)`).
   */
  readonly start?: number;
  readonly end?: number;
  readonly alternatives?: readonly string[];
}

/** A candidate draft to score (the draft with one word replaced), named by an id the panel chose. */
export interface Rewording {
  readonly id: string;
  readonly text: string;
}

/** Most rewordings one scoreRewordings message may carry, and the longest id. */
export const MAX_REWORDINGS = 15;
export const MAX_REWORDING_ID_LENGTH = 64;

export interface PromptPerplexityView {
  readonly perplexity: number;
  readonly level: PerplexityLevel;
  /** The most surprising tokens of the prompt, most surprising first. */
  readonly surprising: readonly SurprisingWord[];
}

/** A perplexity as the panel and the editor hints show it: one decimal below 100, whole numbers above. */
export function formatPerplexityNumber(perplexity: number): string {
  if (!Number.isFinite(perplexity)) return '?';
  return perplexity >= 100 ? String(Math.round(perplexity)) : perplexity.toFixed(1);
}

/** A run of the program so far: `running`, then how it ended (`not-run`: it could not be run, `error` says why). */
export type ProgramRunStatus = 'running' | 'ran' | 'raised' | 'timed-out' | 'not-run';

export interface ProgramRunView {
  readonly status: ProgramRunStatus;
  /** What the program printed (its start). */
  readonly output: string;
  /** The exception it raised (`raised`), or why it did not run (`not-run`). */
  readonly error?: string;
  /** The program's line (1-based) where it raised, and the number of the turn that wrote that line, if one did. */
  readonly line?: number;
  readonly writtenByTurn?: number;
}

/** Where a raised run's exception is, as the panel and the CLI say it: ` at line 9 (turn 2)`; '' when unknown. */
export function programRunPlace(run: ProgramRunView): string {
  if (run.line === undefined) return '';
  return ` at line ${run.line}${run.writtenByTurn === undefined ? '' : ` (turn ${run.writtenByTurn})`}`;
}

/** One of a turn's candidates as the panel shows it. */
export interface CandidateView {
  /** 1 = the best: those whose run ended without error first, then by mean token log-probability. */
  readonly rank: number;
  /** Its run after the program so far: `running` while it runs; absent while it has not been run. */
  readonly run?: ProgramRunStatus;
  /** The run ended without error and printed nothing. */
  readonly printedNothing?: boolean;
  /** The exception it raised, or why it was not run. */
  readonly error?: string;
  readonly meanLogprob?: number;
}

/** A turn sampled as several candidates: which one is shown (its code is the turn's `code`), and all of them. */
export interface CandidatesView {
  /** Index in `list` (sampling order). */
  readonly shown: number;
  readonly list: readonly CandidateView[];
  /** The runs that rank them are still going (the ranks may change). */
  readonly ranking: boolean;
}

/** Most candidates one turn may have (the setting's and the panel's bound). */
export const MAX_CANDIDATES = 8;

export interface TurnView {
  readonly id: string;
  readonly prompt: string;
  readonly code: string;
  readonly state: TurnState;
  readonly perplexity?: PromptPerplexityView;
  readonly error?: string;
  /** Earlier turns left out of the context to fit the model. */
  readonly droppedTurns?: number;
  readonly tokensPerSecond?: number;
  /** The last run of the program with this turn in it (after it was accepted, or Run Program). */
  readonly run?: ProgramRunView;
  /** Its candidates, when it was sampled as more than one. */
  readonly candidates?: CandidatesView;
  /** While it generates as several candidates: the one being sampled (1-based) and how many. */
  readonly sampling?: { readonly candidate: number; readonly of: number };
}

export interface SessionSummary {
  readonly id: string;
  readonly title: string;
  readonly updatedAt: number;
  readonly turnCount: number;
}

export type ModelState = 'none' | 'loading' | 'ready' | 'generating' | 'error';

export interface ModelStatusView {
  readonly state: ModelState;
  /** Folder name and variant, e.g. "codegen-350M-mono (model_int8)"; "random test model" for the bundled one. */
  readonly label: string;
  readonly message?: string;
  readonly tokensPerSecond?: number;
  /** Set while the bundled random-weight model is the model: the panel says so, and offers a real one. */
  readonly testModel?: TestModelNotice;
}

export interface TestModelNotice {
  /** The model one click downloads, e.g. "CodeGen-350M-mono", and its download size, e.g. "about 360 MB". */
  readonly recommendedName: string;
  readonly recommendedSize: string;
}

export interface PanelState {
  readonly sessionId: string;
  readonly turns: readonly TurnView[];
  readonly sessions: readonly SessionSummary[];
  readonly model: ModelStatusView;
  readonly draft: string;
  /** Candidates sampled per turn (codegenMt.candidatesPerTurn). */
  readonly candidatesPerTurn: number;
}

export type ToWebview =
  | { readonly type: 'init'; readonly state: PanelState }
  | { readonly type: 'turn'; readonly turn: TurnView }
  | { readonly type: 'turnDelta'; readonly turnId: string; readonly delta: string }
  | { readonly type: 'draftPerplexity'; readonly draft: string; readonly perplexity: PromptPerplexityView | null }
  | { readonly type: 'rewordingScores'; readonly draft: string; readonly scores: readonly { readonly id: string; readonly perplexity: number }[] }
  | { readonly type: 'model'; readonly model: ModelStatusView }
  | { readonly type: 'sessions'; readonly sessions: readonly SessionSummary[] }
  | { readonly type: 'candidatesPerTurn'; readonly count: number }
  | { readonly type: 'focusInput' };

export type FromWebview =
  | { readonly type: 'ready' }
  | { readonly type: 'submit'; readonly prompt: string }
  /** `candidate`: the index of the candidate shown when the user accepted (the one taken). */
  | { readonly type: 'accept'; readonly turnId: string; readonly code?: string; readonly candidate?: number }
  | { readonly type: 'showCandidate'; readonly turnId: string; readonly candidate: number }
  | { readonly type: 'setCandidatesPerTurn'; readonly count: number }
  | { readonly type: 'reject'; readonly turnId: string }
  | { readonly type: 'regenerate'; readonly turnId: string }
  | { readonly type: 'retry'; readonly turnId: string }
  | { readonly type: 'stop'; readonly turnId: string }
  | { readonly type: 'draftChanged'; readonly draft: string }
  | { readonly type: 'scoreRewordings'; readonly draft: string; readonly rewordings: readonly Rewording[] }
  | { readonly type: 'newSession' }
  | { readonly type: 'openSession'; readonly sessionId: string }
  | { readonly type: 'exportSession' }
  | { readonly type: 'chooseModel' }
  | { readonly type: 'downloadModel' }
  | { readonly type: 'downloadRecommendedModel' }
  | { readonly type: 'runProgram' };

/** Longest prompt or code the host accepts from the webview (a generous bound against runaway messages). */
export const MAX_TEXT_LENGTH = 100_000;

type Shape = Record<string, 'string' | 'string?' | 'rewordings' | 'index' | 'index?' | 'count'>;
const SHAPES: { readonly [K in FromWebview['type']]: Shape } = {
  ready: {},
  submit: { prompt: 'string' },
  accept: { turnId: 'string', code: 'string?', candidate: 'index?' },
  showCandidate: { turnId: 'string', candidate: 'index' },
  setCandidatesPerTurn: { count: 'count' },
  reject: { turnId: 'string' },
  regenerate: { turnId: 'string' },
  retry: { turnId: 'string' },
  stop: { turnId: 'string' },
  draftChanged: { draft: 'string' },
  scoreRewordings: { draft: 'string', rewordings: 'rewordings' },
  newSession: {},
  openSession: { sessionId: 'string' },
  exportSession: {},
  chooseModel: {},
  downloadModel: {},
  downloadRecommendedModel: {},
  runProgram: {},
};

/**
 * The message if it is exactly one of FromWebview (known type, the right fields with the right types, no
 * others, strings within MAX_TEXT_LENGTH); otherwise undefined. The webview is not trusted blindly: only own
 * data properties count (an inherited field or a getter makes the message invalid), the result is a fresh plain
 * copy of the checked values, and nothing it is given can make it throw.
 */
export function parseFromWebview(data: unknown): FromWebview | undefined {
  try {
    return parseMessage(data);
  } catch {
    // A Proxy may throw from any trap (a revoked one from all of them): whatever throws is not a message.
    return undefined;
  }
}

function parseMessage(data: unknown): FromWebview | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  const type = ownDataValue(data, 'type');
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(SHAPES, type)) return undefined;
  const shape: Shape = SHAPES[type as FromWebview['type']];
  for (const key of Reflect.ownKeys(data)) {
    if (key !== 'type' && (typeof key !== 'string' || !Object.prototype.hasOwnProperty.call(shape, key))) return undefined;
  }
  const message: Record<string, string | number | Rewording[]> = { type };
  for (const [key, kind] of Object.entries(shape)) {
    const value = ownDataValue(data, key);
    if (value === undefined && (kind === 'string?' || kind === 'index?')) continue;
    if (kind === 'index' || kind === 'index?' || kind === 'count') {
      // A candidate's index (0 to MAX_CANDIDATES - 1), or a number of candidates (1 to MAX_CANDIDATES).
      const low = kind === 'count' ? 1 : 0;
      const high = kind === 'count' ? MAX_CANDIDATES : MAX_CANDIDATES - 1;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < low || value > high) return undefined;
      message[key] = value;
      continue;
    }
    if (kind === 'rewordings') {
      const rewordings = parseRewordings(value);
      if (!rewordings) return undefined;
      message[key] = rewordings;
      continue;
    }
    if (typeof value !== 'string' || value.length > MAX_TEXT_LENGTH) return undefined;
    message[key] = value;
  }
  return message as unknown as FromWebview;
}

/** 1 to MAX_REWORDINGS plain `{ id, text }` objects in a plain array (own data properties only), copied; else undefined. */
function parseRewordings(value: unknown): Rewording[] | undefined {
  if (!Array.isArray(value) || Object.getPrototypeOf(value) !== Array.prototype) return undefined;
  const length = ownDataValue(value, 'length');
  if (typeof length !== 'number' || length < 1 || length > MAX_REWORDINGS) return undefined;
  if (Reflect.ownKeys(value).length !== length + 1) return undefined; // the indices and `length`, nothing else
  const out: Rewording[] = [];
  for (let i = 0; i < length; i++) {
    const item = ownDataValue(value, String(i));
    if (typeof item !== 'object' || item === null || Array.isArray(item) || Reflect.ownKeys(item).length !== 2) return undefined;
    const id = ownDataValue(item, 'id');
    const text = ownDataValue(item, 'text');
    if (typeof id !== 'string' || id === '' || id.length > MAX_REWORDING_ID_LENGTH) return undefined;
    if (typeof text !== 'string' || text.length > MAX_TEXT_LENGTH) return undefined;
    out.push({ id, text });
  }
  return out;
}

/** Stands for an accessor property: never a valid field value, and never called. */
const ACCESSOR = Symbol('accessor');

/** The value of `object`'s own data property `key`; undefined when it has none (inherited ones do not count). */
function ownDataValue(object: object, key: string): unknown {
  const descriptor = Object.getOwnPropertyDescriptor(object, key);
  if (descriptor === undefined) return undefined;
  return 'value' in descriptor ? descriptor.value : ACCESSOR;
}
