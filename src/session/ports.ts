// What the turn flow (turnFlow.ts) needs from the world around it, as small interfaces: the model, the panel, the
// editor, the hints, the store, the user's settings and a way to tell the user something. VS Code's adapters
// implement them (src/vscode/flowAdapters.ts); the flow's tests implement them in plain Node.
import type { Engine, PromptContext } from '../protocol/engine';
import type { ModelStatusView, ToWebview } from '../protocol/webview';
import type { PerplexityThresholds } from './perplexityView';
import type { PromptScoreRecord, SessionRecord, SessionSummaryRecord, TurnRecord } from './sessionFormat';

/** The model the turns are generated with: loaded on demand; its status shown while it works. */
export interface ModelPort {
  readonly status: ModelStatusView;
  readonly engine: Engine;
  /** Set when the model cannot score prompts (a server without log-probabilities): why, in one sentence. */
  readonly perplexityUnavailable?: string;
  /** Resolves once the model the settings name is loaded (loads it if needed); rejects with the reason. */
  ensureLoaded(): Promise<unknown>;
  setGenerating(tokensPerSecond?: number): void;
  setIdle(): void;
}

/** The panel: every message the flow sends it. */
export interface PanelPort {
  post(message: ToWebview): void;
}

/** Where an accepted turn went. */
export interface InsertedTurn {
  /** The document's URI, as a string. */
  readonly documentUri: string;
  /** The document line of the prompt's first comment line, if the prompt was inserted as a comment. */
  readonly promptLine?: number;
  readonly promptComment?: string;
}

/** A turn not yet inserted, as the editor would insert it. */
export interface PendingTurn {
  readonly prompt: string;
  readonly code: string;
  readonly promptAsComment: boolean;
}

/** The editor a session writes into. */
export interface EditorPort {
  /** The context of a new turn for `prompt`: the target document's text above the insertion point, then it. */
  context(prompt: string): PromptContext;
  /** Inserts an accepted turn as one undoable edit; rejects (inserting nothing) if the editor refuses. */
  insert(prompt: string, code: string, promptAsComment: boolean): Promise<InsertedTurn>;
  /**
   * The program so far: the target document's text above the insertion point ('' if there is none); with `turn`,
   * the program as it would stand with that turn inserted there.
   */
  programText(turn?: PendingTurn): string;
}

/** How a run of the program so far ended, or why it could not run (no Python, a sandbox that cannot start). */
export type ProgramOutcome =
  | { readonly status: 'ran' | 'raised' | 'timed-out'; readonly output: string; readonly error?: string; readonly line?: number }
  | { readonly status: 'not-run'; readonly error: string };

/** Runs model-written programs, in the sandbox only, once the user has agreed to it. */
export interface ProgramPort {
  /**
   * Runs `program`; undefined when it is not run and there is nothing to say (an automatic run the user has not
   * agreed to). `asked`: the user asked for this run (Run Program), so consent may be asked for now.
   */
  run(program: string, options: { readonly signal: AbortSignal; readonly asked: boolean }): Promise<ProgramOutcome | undefined>;
}

export interface AcceptedHint {
  readonly line: number;
  readonly comment: string;
  /** The prompt's score; absent when the model cannot score prompts (then `unavailable` says why). */
  readonly score?: PromptScoreRecord;
  readonly unavailable?: string;
}

/** The perplexity hints on the prompt comments in the editor. */
export interface HintPort {
  /** A turn was just accepted with its prompt as a comment: its hint goes on that line. */
  showAccepted(documentUri: string, hint: AcceptedHint): void;
  /** A session was restored or opened: its accepted turns' hints go back on their comments, if it is open. */
  restore(documentUri: string, turns: readonly Readonly<TurnRecord>[]): void;
}

/** Where sessions are kept (SessionStore). */
export interface StorePort {
  readonly folder: string;
  save(record: SessionRecord, makeCurrent?: boolean): Promise<void>;
  load(id: string): Promise<SessionRecord | undefined>;
  list(): Promise<SessionSummaryRecord[]>;
  loadCurrent(): Promise<SessionRecord | undefined>;
}

/** The user's settings the flow reads, each time it needs them (a change applies to the next turn). */
export interface FlowSettings {
  readonly temperature: number;
  readonly topP: number;
  readonly maxNewTokens: number;
  readonly thresholds: PerplexityThresholds;
  readonly insertPromptAsComment: boolean;
  /** Run the program so far after each accepted turn (once the user has agreed to runs). */
  readonly runAfterAccept?: boolean;
  /** Candidates sampled per turn, ranked by running them (default 1). */
  readonly candidatesPerTurn?: number;
}

/** Telling the user (VS Code: notifications) and the log. */
export interface NoticePort {
  /** A refused action, and why (e.g. a turn is still being written). */
  warn(message: string): void;
  /** Something failed that the user should know about. */
  error(message: string): void;
  /** The engine failed a turn: shown with the action that fixes it, once per cause. */
  engineFailed(err: unknown, what: string): void;
  /** The one line a failed turn shows: the engine's message and what to do about it. */
  errorText(err: unknown): string;
}

export interface LogPort {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}
