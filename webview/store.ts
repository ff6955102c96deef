// The panel's state in one place: what the host sent (the session's turns, the sessions, the model's status, the
// draft's perplexity) and what the user is doing (the saved UI state). Components read it and call its update
// methods, then re-render what they own; every change to the saved part is written back at once.
import type {
  ModelState,
  ModelStatusView,
  PanelState,
  PromptPerplexityView,
  SessionSummary,
  TurnState,
  TurnView,
} from '../src/protocol/webview';
import { emptySavedState, type Editing, type SavedState, type SavedStateStorage } from './savedState';

const ACTIONABLE: ReadonlySet<TurnState> = new Set<TurnState>(['proposed', 'cancelled']);

/** Whether a turn in this state can be accepted / rejected / edited (proposed, or stopped with code). */
export function isActionable(state: TurnState): boolean {
  return ACTIONABLE.has(state);
}

interface Panel {
  sessionId: string;
  turns: TurnView[];
  sessions: readonly SessionSummary[];
  model: ModelStatusView;
  candidatesPerTurn: number;
}

/** The last perplexity the host sent for the draft, and the draft it is for (answers for other text are stale). */
export interface DraftPerplexity {
  readonly view: PromptPerplexityView | null;
  readonly draft: string | undefined;
}

export class PanelStore {
  /** Undefined until the host's first init (or model) message. */
  private panel: Panel | undefined;
  private readonly ui: SavedState;
  /** Whether the next init should take the host's draft (nothing saved here) or keep ours (the newer one). */
  private draftFromHost: boolean;
  private perplexity: DraftPerplexity = { view: null, draft: undefined };
  /** The perplexities of rewordings of one draft (the newest asked about), by the reworded text. */
  private rewordings: { draft: string | undefined; scores: Map<string, number> } = { draft: undefined, scores: new Map() };

  constructor(private readonly storage: SavedStateStorage) {
    const restored = storage.load();
    this.ui = restored ?? emptySavedState();
    this.draftFromHost = restored === undefined;
  }

  // ------------------------------------------------------------------------------------------ from the host

  get hasPanel(): boolean {
    return this.panel !== undefined;
  }

  get sessionId(): string | undefined {
    return this.panel?.sessionId;
  }

  get sessions(): readonly SessionSummary[] {
    return this.panel?.sessions ?? [];
  }

  get model(): ModelStatusView | undefined {
    return this.panel?.model;
  }

  get turns(): readonly TurnView[] {
    return this.panel?.turns ?? [];
  }

  findTurn(turnId: string): TurnView | undefined {
    return this.panel?.turns.find((t) => t.id === turnId);
  }

  /** The turn's number as the panel shows it (1 for the first; 0 if it is not in the session). */
  turnNumber(turnId: string): number {
    return (this.panel?.turns.findIndex((t) => t.id === turnId) ?? -1) + 1;
  }

  /** The newest turn that can be accepted / rejected (proposed, or stopped with code). */
  newestActionable(): TurnView | undefined {
    const turns = this.turns;
    for (let i = turns.length - 1; i >= 0; i--) {
      if (isActionable(turns[i].state)) return turns[i];
    }
    return undefined;
  }

  generatingTurn(): TurnView | undefined {
    return this.panel?.turns.find((t) => t.state === 'generating');
  }

  /**
   * Takes the host's whole state. Returns the draft the input should show now, or undefined to keep what it has:
   * the host's draft is taken on the first init with nothing saved here, or while the input is empty.
   */
  init(state: PanelState, inputValue: string): string | undefined {
    const { sessionId, sessions, model, candidatesPerTurn } = state;
    this.panel = { sessionId, turns: [...state.turns], sessions, model, candidatesPerTurn };
    let draft: string | undefined;
    if (this.draftFromHost || inputValue === '') {
      this.draftFromHost = false;
      if (inputValue !== state.draft) {
        draft = state.draft;
        this.ui.draft = state.draft;
      }
    }
    const editing = this.ui.editing;
    if (editing && !this.panel.turns.some((t) => t.id === editing.turnId && isActionable(t.state))) {
      this.ui.editing = null;
    }
    this.save();
    return draft;
  }

  /** Adds or replaces a turn; returns its state before (undefined for a new turn). Ends an edit it no longer allows. */
  putTurn(turn: TurnView): { readonly isNew: boolean; readonly previous: TurnState | undefined } | undefined {
    if (!this.panel) return undefined;
    const turns = this.panel.turns;
    const index = turns.findIndex((t) => t.id === turn.id);
    const previous = index >= 0 ? turns[index].state : undefined;
    if (index >= 0) turns[index] = turn;
    else turns.push(turn);
    if (this.ui.editing?.turnId === turn.id && !isActionable(turn.state)) {
      this.ui.editing = null;
      this.save();
    }
    return { isNew: index < 0, previous };
  }

  /** Appends streamed code to a turn; returns the updated turn, or undefined if there is no such turn. */
  appendCode(turnId: string, delta: string): TurnView | undefined {
    const turns = this.panel?.turns;
    const index = turns?.findIndex((t) => t.id === turnId) ?? -1;
    if (!turns || index < 0) return undefined;
    const turn = { ...turns[index], code: turns[index].code + delta };
    turns[index] = turn;
    return turn;
  }

  /** Sets the model's status; returns the state before (undefined if there was none). */
  setModel(model: ModelStatusView): ModelState | undefined {
    const before = this.panel?.model.state;
    if (this.panel) this.panel.model = model;
    else this.panel = { sessionId: '', turns: [], sessions: [], model, candidatesPerTurn: 1 };
    return before;
  }

  /** Candidates sampled per turn (the host's setting). */
  get candidatesPerTurn(): number {
    return this.panel?.candidatesPerTurn ?? 1;
  }

  setCandidatesPerTurn(count: number): void {
    if (this.panel) this.panel.candidatesPerTurn = count;
  }

  /** Sets the past sessions; false (and nothing changes) before the first init. */
  setSessions(sessions: readonly SessionSummary[]): boolean {
    if (!this.panel) return false;
    this.panel.sessions = sessions;
    return true;
  }

  get draftPerplexity(): DraftPerplexity {
    return this.perplexity;
  }

  setDraftPerplexity(draft: string | undefined, view: PromptPerplexityView | null): void {
    this.perplexity = { view, draft };
  }

  /** The perplexity the host gave `text`, a rewording of `draft`; undefined until it has. */
  rewordingScore(draft: string, text: string): number | undefined {
    return this.rewordings.draft === draft ? this.rewordings.scores.get(text) : undefined;
  }

  /** Keeps a rewording's perplexity (those of an older draft are forgotten). */
  setRewordingScore(draft: string, text: string, perplexity: number): void {
    if (this.rewordings.draft !== draft) this.rewordings = { draft, scores: new Map() };
    this.rewordings.scores.set(text, perplexity);
  }

  // ----------------------------------------------------------------------------------- saved with setState

  get draft(): string {
    return this.ui.draft;
  }

  setDraft(draft: string): void {
    this.ui.draft = draft;
    this.save();
  }

  get editing(): Readonly<Editing> | null {
    return this.ui.editing;
  }

  /** The edit of this turn, if it is being edited and can still be. */
  editingOf(turn: TurnView): Readonly<Editing> | null {
    return this.ui.editing?.turnId === turn.id && isActionable(turn.state) ? this.ui.editing : null;
  }

  startEditing(turn: TurnView): void {
    this.ui.editing = { turnId: turn.id, code: turn.code };
    this.save();
  }

  setEditedCode(turnId: string, code: string): void {
    if (this.ui.editing?.turnId !== turnId) return;
    this.ui.editing.code = code;
    this.save();
  }

  /** Ends the edit of this turn; false if it was not being edited. */
  stopEditing(turnId: string): boolean {
    if (this.ui.editing?.turnId !== turnId) return false;
    this.ui.editing = null;
    this.save();
    return true;
  }

  get replacedDraft(): string | null {
    return this.ui.replacedDraft;
  }

  setReplacedDraft(replaced: string | null): void {
    this.ui.replacedDraft = replaced;
    this.save();
  }

  get scrollTop(): number {
    return this.ui.scrollTop;
  }

  setScrollTop(scrollTop: number): void {
    this.ui.scrollTop = scrollTop;
    this.save();
  }

  private save(): void {
    this.storage.save(this.ui);
  }
}
