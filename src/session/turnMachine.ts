// A multi-turn session: its turns, each in one state of TurnState, changed only by legal transitions. Plain data
// in, views and persisted records out; the turn flow drives it, the store saves it.
import type { TurnView } from '../protocol/webview';
import { scoreView, type PerplexityThresholds } from './perplexityView';
import type { CandidateRecord, CandidateRunRecord, PromptScoreRecord, SessionRecord, TurnRecord, TurnState } from './sessionFormat';

export type { SessionRecord, TurnRecord };

export type TurnAction = 'finish' | 'cancel' | 'fail' | 'accept' | 'reject' | 'regenerate';

/** Which states each action may start from. */
const FROM: { readonly [A in TurnAction]: readonly TurnState[] } = {
  finish: ['generating'],
  cancel: ['generating'],
  fail: ['generating'],
  accept: ['proposed', 'cancelled'],
  reject: ['proposed', 'cancelled', 'failed'],
  regenerate: ['proposed', 'cancelled', 'rejected', 'failed'],
};

export class TurnTransitionError extends Error {
  constructor(
    readonly action: TurnAction | 'start',
    readonly state: TurnState | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'TurnTransitionError';
  }
}

export interface FinishDetails {
  readonly code: string;
  readonly cancelled: boolean;
  readonly perplexity?: PromptScoreRecord;
  readonly droppedTurns?: number;
  readonly tokensPerSecond?: number;
  readonly seed?: number;
  /** The turn was sampled as several candidates; `code` and `seed` are those of `candidates[shownCandidate]`. */
  readonly candidates?: readonly CandidateRecord[];
  readonly shownCandidate?: number;
}

/** The states `action` may start from. */
export function statesAllowing(action: TurnAction): readonly TurnState[] {
  return FROM[action];
}

export function canDo(state: TurnState, action: TurnAction): boolean {
  return FROM[action].includes(state);
}

export class TurnMachine {
  private constructor(
    private readonly record: SessionRecord,
    private readonly now: () => number,
  ) {}

  static create(id: string, now: () => number = Date.now): TurnMachine {
    const t = now();
    return new TurnMachine({ id, createdAt: t, updatedAt: t, draft: '', turns: [] }, now);
  }

  /** A session from a persisted record; a turn that was generating when saved comes back cancelled. */
  static restore(record: SessionRecord, now: () => number = Date.now): TurnMachine {
    const copy: SessionRecord = structuredClone(record);
    for (const turn of copy.turns) if (turn.state === 'generating') turn.state = 'cancelled';
    return new TurnMachine(copy, now);
  }

  get id(): string {
    return this.record.id;
  }

  get updatedAt(): number {
    return this.record.updatedAt;
  }

  get draft(): string {
    return this.record.draft;
  }

  set draft(value: string) {
    this.record.draft = value;
  }

  get documentUri(): string | undefined {
    return this.record.documentUri;
  }

  set documentUri(value: string | undefined) {
    this.record.documentUri = value;
    this.touch();
  }

  get turns(): readonly Readonly<TurnRecord>[] {
    return this.record.turns;
  }

  /** The title: the first prompt (one line). */
  get title(): string {
    const first = this.record.turns[0]?.prompt.split('\n')[0].trim();
    return first || 'New session';
  }

  /** The turn now generating, if any (there is at most one). */
  get generating(): Readonly<TurnRecord> | undefined {
    return this.record.turns.find((t) => t.state === 'generating');
  }

  /** The newest turn whose state is one of `states`. */
  newest(...states: TurnState[]): Readonly<TurnRecord> | undefined {
    for (let i = this.record.turns.length - 1; i >= 0; i--) {
      if (states.includes(this.record.turns[i].state)) return this.record.turns[i];
    }
    return undefined;
  }

  get(id: string): Readonly<TurnRecord> | undefined {
    return this.record.turns.find((t) => t.id === id);
  }

  /** The accepted turns, oldest first. */
  acceptedTurns(): Readonly<TurnRecord>[] {
    return this.record.turns.filter((t) => t.state === 'accepted');
  }

  /** A new turn for `prompt`, generating. Refused while another turn generates. */
  start(id: string, prompt: string): Readonly<TurnRecord> {
    if (this.generating) {
      throw new TurnTransitionError('start', 'generating', 'A turn is already being generated: stop it or wait for it to finish.');
    }
    if (prompt.trim() === '') throw new TurnTransitionError('start', undefined, 'The prompt is empty.');
    if (this.get(id)) throw new TurnTransitionError('start', undefined, `A turn with id ${id} already exists.`);
    const turn: TurnRecord = { id, prompt, code: '', state: 'generating', createdAt: this.now() };
    this.record.turns.push(turn);
    this.touch();
    return turn;
  }

  appendDelta(id: string, delta: string): void {
    const turn = this.expect(id, 'finish');
    turn.code += delta;
  }

  finish(id: string, details: FinishDetails): Readonly<TurnRecord> {
    const turn = this.expect(id, 'finish');
    turn.code = details.code;
    turn.state = details.cancelled ? 'cancelled' : 'proposed';
    turn.perplexity = details.perplexity;
    turn.droppedTurns = details.droppedTurns;
    turn.tokensPerSecond = details.tokensPerSecond;
    turn.seed = details.seed;
    turn.error = undefined;
    if (details.candidates && details.candidates.length > 1) {
      turn.candidates = details.candidates.map((c) => ({ ...c }));
      turn.shownCandidate = details.shownCandidate ?? 0;
    }
    this.touch();
    return turn;
  }

  /** Shows another of the turn's candidates (its code becomes the turn's); only before it is accepted. */
  showCandidate(id: string, index: number): Readonly<TurnRecord> {
    const turn = this.record.turns.find((t) => t.id === id);
    if (!turn || !canDo(turn.state, 'accept')) {
      throw new TurnTransitionError('accept', turn?.state, `Cannot show another candidate of a turn that is ${turn?.state ?? 'not in this session'}.`);
    }
    const candidate = turn.candidates?.[index];
    if (!candidate) throw new TurnTransitionError('accept', turn.state, `Turn ${id} has no candidate ${index + 1}.`);
    turn.code = candidate.code;
    turn.seed = candidate.seed;
    turn.shownCandidate = index;
    this.touch();
    return turn;
  }

  /** Keeps how a candidate's run ended; false if the turn no longer has that candidate (accepted, generated again). */
  candidateRan(id: string, index: number, run: CandidateRunRecord): boolean {
    const candidate = this.get(id)?.candidates?.[index] as CandidateRecord | undefined;
    if (!candidate) return false;
    candidate.run = run;
    this.touch();
    return true;
  }

  /** Stopped before the engine answered (what streamed so far is kept). */
  cancel(id: string): Readonly<TurnRecord> {
    const turn = this.expect(id, 'cancel');
    turn.state = 'cancelled';
    this.touch();
    return turn;
  }

  fail(id: string, message: string): Readonly<TurnRecord> {
    const turn = this.expect(id, 'fail');
    turn.state = 'failed';
    turn.error = message;
    this.touch();
    return turn;
  }

  accept(id: string, code?: string): Readonly<TurnRecord> {
    const turn = this.expect(id, 'accept');
    if (code !== undefined) turn.code = code;
    turn.state = 'accepted';
    dropCandidates(turn);
    this.touch();
    return turn;
  }

  reject(id: string): Readonly<TurnRecord> {
    const turn = this.expect(id, 'reject');
    turn.state = 'rejected';
    this.touch();
    return turn;
  }

  /** A new sample for the same prompt (also Retry of a failed turn): generating again, the old code gone. */
  regenerate(id: string): Readonly<TurnRecord> {
    if (this.generating) {
      throw new TurnTransitionError('regenerate', 'generating', 'A turn is already being generated: stop it or wait for it to finish.');
    }
    const turn = this.expect(id, 'regenerate');
    turn.state = 'generating';
    turn.code = '';
    turn.error = undefined;
    turn.perplexity = undefined;
    turn.tokensPerSecond = undefined;
    dropCandidates(turn);
    this.touch();
    return turn;
  }

  /** The turn as the panel shows it; its perplexity's level by `thresholds`. */
  view(id: string, thresholds: PerplexityThresholds): TurnView | undefined {
    const turn = this.get(id);
    return turn && turnView(turn, thresholds);
  }

  toView(thresholds: PerplexityThresholds): TurnView[] {
    return this.record.turns.map((t) => turnView(t, thresholds));
  }

  /** A deep copy for persistence (as JSON holds it: no undefined fields). */
  toRecord(): SessionRecord {
    return JSON.parse(JSON.stringify(this.record)) as SessionRecord;
  }

  private expect(id: string, action: TurnAction): TurnRecord {
    const turn = this.record.turns.find((t) => t.id === id);
    if (!turn) throw new TurnTransitionError(action, undefined, `There is no turn ${id} in this session.`);
    if (!canDo(turn.state, action)) {
      throw new TurnTransitionError(action, turn.state, `Cannot ${action} a turn that is ${turn.state}.`);
    }
    return turn;
  }

  private touch(): void {
    this.record.updatedAt = Math.max(this.now(), this.record.updatedAt);
  }
}

function dropCandidates(turn: TurnRecord): void {
  delete turn.candidates;
  delete turn.shownCandidate;
}

export function turnView(turn: Readonly<TurnRecord>, thresholds: PerplexityThresholds): TurnView {
  const view: { -readonly [K in keyof TurnView]: TurnView[K] } = { id: turn.id, prompt: turn.prompt, code: turn.code, state: turn.state };
  if (turn.perplexity) view.perplexity = scoreView(turn.perplexity, thresholds);
  if (turn.error !== undefined) view.error = turn.error;
  if (turn.droppedTurns) view.droppedTurns = turn.droppedTurns;
  if (turn.tokensPerSecond !== undefined) view.tokensPerSecond = turn.tokensPerSecond;
  return view;
}
