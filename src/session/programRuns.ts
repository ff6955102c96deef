// The program so far, run after a turn is accepted (and on demand): the run shows under the turn (running, then
// what it printed, and an exception with its line and the turn that wrote that line), a new run cancels an
// older one, and nothing waits for it (typing and generating go on). Where and how it runs is the ProgramPort's
// business (the benchmarks' sandbox, with the user's consent).
import type { ProgramRunView, TurnView } from '../protocol/webview';
import { findCommentLines, promptCommentLine } from './hintLines';
import type { EditorPort, FlowSettings, LogPort, NoticePort, ProgramOutcome, ProgramPort } from './ports';
import type { TurnRecord } from './sessionFormat';

export interface ProgramRunsDeps {
  readonly program?: ProgramPort;
  readonly editor: EditorPort;
  readonly log: LogPort;
  readonly notice: NoticePort;
  readonly settings: () => FlowSettings;
  /** The session's turns now, oldest first. */
  readonly turns: () => readonly Readonly<TurnRecord>[];
  /** A turn's view changed (its run): the flow sends it to the panel. */
  readonly changed: (turnId: string) => void;
}

export class ProgramRuns {
  private readonly runs = new Map<string, ProgramRunView>();
  private current: { readonly turnId: string; readonly controller: AbortController } | undefined;

  constructor(private readonly deps: ProgramRunsDeps) {}

  /** The turn's view with its last run, if it has one. */
  decorate(view: TurnView): TurnView {
    const run = this.runs.get(view.id);
    return run ? { ...view, run } : view;
  }

  /** A turn was accepted: the program so far runs, if the settings say so. */
  afterAccept(turnId: string): void {
    if (this.deps.settings().runAfterAccept !== false) void this.run(turnId, false);
  }

  /** Run Program: the program so far runs now, its result under the newest accepted turn. */
  async runNow(): Promise<void> {
    const newest = [...this.deps.turns()].reverse().find((t) => t.state === 'accepted');
    if (!newest) this.deps.notice.warn('Nothing to run yet: accept a turn first (Run Program runs the program above the cursor).');
    else await this.run(newest.id, true);
  }

  /** Another session: the runs shown were this one's. */
  clear(): void {
    this.cancel();
    this.runs.clear();
  }

  dispose(): void {
    this.cancel();
  }

  private async run(turnId: string, asked: boolean): Promise<void> {
    const port = this.deps.program;
    if (!port) return;
    this.cancel();
    const controller = new AbortController();
    this.current = { turnId, controller };
    const program = this.deps.editor.programText();
    const before = this.runs.get(turnId);
    this.set(turnId, { status: 'running', output: '' });
    let outcome: ProgramOutcome | undefined;
    try {
      outcome = await port.run(program, { signal: controller.signal, asked });
    } catch (err) {
      outcome = { status: 'not-run', error: err instanceof Error ? err.message : String(err) };
    }
    if (controller.signal.aborted) return; // a newer run took its place
    this.current = undefined;
    if (!outcome) this.set(turnId, before);
    else this.set(turnId, runView(outcome, program, this.deps.turns()));
  }

  /** Stops the run in progress; its turn goes back to what it showed before it. */
  private cancel(): void {
    const current = this.current;
    if (!current) return;
    this.current = undefined;
    current.controller.abort();
    if (this.runs.get(current.turnId)?.status === 'running') this.set(current.turnId, undefined);
  }

  private set(turnId: string, run: ProgramRunView | undefined): void {
    if (run) this.runs.set(turnId, run);
    else this.runs.delete(turnId);
    this.deps.changed(turnId);
  }
}

/** What the panel shows of an outcome: with a raised exception, the number of the turn that wrote its line. */
export function runView(outcome: ProgramOutcome, program: string, turns: readonly Readonly<TurnRecord>[]): ProgramRunView {
  if (outcome.status === 'not-run') return { status: 'not-run', output: '', error: outcome.error };
  const view: ProgramRunView = { status: outcome.status, output: outcome.output, ...(outcome.error ? { error: outcome.error } : {}) };
  if (outcome.line === undefined) return view;
  const writtenByTurn = turnAtLine(program.split('\n'), turns, outcome.line - 1);
  return { ...view, line: outcome.line, ...(writtenByTurn !== undefined ? { writtenByTurn } : {}) };
}

/**
 * The number (1-based, as the panel counts turns) of the accepted turn that wrote `line` (0-based) of `lines`:
 * the one whose prompt comment is the last at or above it. Undefined above the first turn's comment (code the
 * user wrote before the session) or when no accepted turn's comment is found.
 */
export function turnAtLine(lines: readonly string[], turns: readonly Readonly<TurnRecord>[], line: number): number | undefined {
  const accepted = turns.map((turn, index) => ({ turn, number: index + 1 })).filter((t) => t.turn.state === 'accepted');
  const found = findCommentLines(lines, accepted.map((t) => promptCommentLine(t.turn.prompt)));
  let owner: number | undefined;
  accepted.forEach((t, i) => {
    const at = found[i];
    if (at !== undefined && at <= line) owner = t.number;
  });
  return owner;
}
