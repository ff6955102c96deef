// A turn sampled as several candidates (codegenMt.candidatesPerTurn): the first streams as a plain turn does, the
// others follow on the same context (the engine's cache keeps the prefilled prefix: N candidates cost about N
// decodes), then each runs after the program so far in the sandbox, in the background, and they are ranked (runs
// without error first, then by mean token log-probability). The best is shown unless the user picked one; accept
// takes the one shown.
import { randomInt } from 'node:crypto';
import type { GenerateRequest, GenerateResult } from '../protocol/engine';
import { toEngineError } from '../protocol/errors';
import { MAX_CANDIDATES, type CandidateView, type TurnView } from '../protocol/webview';
import { rankCandidates } from './candidates';
import type { EditorPort, FlowSettings, LogPort, ProgramOutcome, ProgramPort } from './ports';
import type { CandidateRecord, CandidateRunRecord, TurnRecord } from './sessionFormat';
import type { FinishDetails, TurnMachine } from './turnMachine';
import { finishDetails, streamTurn, type StreamArgs } from './turnGeneration';

export interface TurnCandidatesDeps {
  readonly editor: EditorPort;
  readonly program?: ProgramPort;
  readonly log: LogPort;
  readonly settings: () => FlowSettings;
  readonly session: () => TurnMachine;
  /** A turn's view changed: the flow sends it to the panel. */
  readonly changed: (turnId: string) => void;
  /** A turn's record changed: the flow saves the session. */
  readonly save: () => void;
}

/** The number of candidates the settings ask for, within 1..MAX_CANDIDATES. */
export function candidatesPerTurn(settings: FlowSettings): number {
  const n = Math.floor(settings.candidatesPerTurn ?? 1);
  return Number.isFinite(n) ? Math.min(MAX_CANDIDATES, Math.max(1, n)) : 1;
}

interface Ranking {
  readonly turnId: string;
  readonly controller: AbortController;
  /** The candidate running now. */
  current?: number;
}

export class TurnCandidates {
  /** The turn generating as candidates: which one is being sampled. */
  private sampling: { readonly turnId: string; candidate: number; readonly of: number } | undefined;
  /** The runs that rank one turn's candidates (one turn at a time: a newer turn's cancel an older turn's). */
  private ranking: Ranking | undefined;
  /** Turns whose shown candidate the user picked: the ranking no longer switches them. */
  private readonly picked = new Set<string>();

  constructor(private readonly deps: TurnCandidatesDeps) {}

  /**
   * The turn's generation: the first candidate streamed, then (n > 1) the others on the same request, not streamed;
   * candidate k samples with the first's seed + k. What the turn finishes with (the best by probability shown
   * until the runs rank them), and the first result. A stop during the others keeps those already sampled.
   */
  async generate(stream: StreamArgs, n: number): Promise<{ readonly first: GenerateResult; readonly details: FinishDetails }> {
    const request = n > 1 ? { ...stream.request, seed: stream.request.seed ?? randomInt(0, 0x7fffffff), scoreTokens: true } : stream.request;
    const first = await streamTurn({ ...stream, request });
    stream.batcher.flush(); // all of the first candidate is on the panel before the turn changes again
    if (n === 1 || first.stopReason === 'cancelled') return { first, details: finishDetails(first) };
    return { first, details: await this.sampleRest(stream, request, first, n) };
  }

  private async sampleRest({ turnId, model, signal }: StreamArgs, request: GenerateRequest, first: GenerateResult, n: number): Promise<FinishDetails> {
    const results = [first];
    this.sampling = { turnId, candidate: 1, of: n };
    try {
      for (let k = 1; k < n && !signal.aborted; k++) {
        this.sampling.candidate = k + 1;
        this.deps.changed(turnId);
        try {
          const result = await model.engine.generate({ ...request, seed: ((request.seed ?? first.seed) + k) >>> 0 }, { signal });
          if (result.stopReason === 'cancelled') break;
          results.push(result);
        } catch (err) {
          if (signal.aborted || toEngineError(err).code === 'cancelled') break;
          throw err;
        }
      }
    } finally {
      this.sampling = undefined;
    }
    const candidates: CandidateRecord[] = results.map((r) => ({
      code: r.text,
      seed: r.seed,
      ...(r.meanLogprob !== undefined && Number.isFinite(r.meanLogprob) ? { meanLogprob: r.meanLogprob } : {}),
    }));
    const shown = results.indexOf(rankCandidates(results)[0]);
    return { ...finishDetails(results[shown]), cancelled: false, candidates, shownCandidate: shown };
  }

  /** Runs the turn's candidates (in the background) and shows the best of them, unless the user picked one. */
  rank(turnId: string): void {
    const turn = this.deps.session().get(turnId);
    if (!this.deps.program || !turn?.candidates) return;
    this.cancel();
    this.picked.delete(turnId);
    const ranking: Ranking = { turnId, controller: new AbortController() };
    this.ranking = ranking;
    void this.runAll(turn, ranking).catch((err: unknown) => this.deps.log.warn(`Ranking the candidates failed: ${String(err)}`));
  }

  private async runAll(turn: Readonly<TurnRecord>, ranking: Ranking): Promise<void> {
    const session = this.deps.session();
    const promptAsComment = this.deps.settings().insertPromptAsComment;
    // Each as the program would stand with it accepted (the editor may change while they run).
    const programs = (turn.candidates ?? []).map((c) => this.deps.editor.programText({ prompt: turn.prompt, code: c.code, promptAsComment }));
    for (const [index, program] of programs.entries()) {
      ranking.current = index;
      this.deps.changed(turn.id);
      let outcome: ProgramOutcome | undefined;
      try {
        outcome = await this.deps.program!.run(program, { signal: ranking.controller.signal, asked: false });
      } catch (err) {
        outcome = { status: 'not-run', error: err instanceof Error ? err.message : String(err) };
      }
      if (ranking.controller.signal.aborted || session !== this.deps.session()) return;
      if (!outcome) break; // not agreed to: none of them runs, and they stay ranked by probability
      session.candidateRan(turn.id, index, runRecord(outcome));
    }
    if (this.ranking === ranking) this.ranking = undefined;
    const now = session.get(turn.id);
    if (now?.candidates && !this.picked.has(turn.id)) {
      const best = rankedIndices(now.candidates)[0];
      if (best !== now.shownCandidate) session.showCandidate(turn.id, best);
    }
    this.deps.changed(turn.id);
    this.deps.save();
  }

  /** The user shows another candidate (the ranking leaves it shown). */
  show(turnId: string, index: number): void {
    this.deps.session().showCandidate(turnId, index);
    this.picked.add(turnId);
    this.deps.changed(turnId);
    this.deps.save();
  }

  /** The turn left the candidates behind (accepted, generated again): its runs stop. */
  forget(turnId: string): void {
    if (this.ranking?.turnId === turnId) this.cancel();
    this.picked.delete(turnId);
  }

  /** The turn's view with its candidates (ranks, flags, the runs still going) and the sampling progress. */
  decorate(view: TurnView, turn: Readonly<TurnRecord> | undefined): TurnView {
    const sampling = this.sampling?.turnId === view.id ? { candidate: this.sampling.candidate, of: this.sampling.of } : undefined;
    const candidates = turn?.candidates;
    if (!candidates) return sampling ? { ...view, sampling } : view;
    const ranking = this.ranking?.turnId === view.id ? this.ranking : undefined;
    const order = rankedIndices(candidates);
    const list = candidates.map((c, i): CandidateView => candidateView(c, order.indexOf(i) + 1, ranking?.current === i));
    return { ...view, candidates: { shown: turn.shownCandidate ?? 0, list, ranking: ranking !== undefined } };
  }

  /** Another session: what runs stops. */
  clear(): void {
    this.cancel();
    this.picked.clear();
  }

  private cancel(): void {
    const ranking = this.ranking;
    this.ranking = undefined;
    ranking?.controller.abort();
    if (ranking) this.deps.changed(ranking.turnId);
  }
}

/** The candidates' indices, best first. */
function rankedIndices(candidates: readonly CandidateRecord[]): number[] {
  return rankCandidates(candidates.map((c, index) => ({ index, outcome: c.run, meanLogprob: c.meanLogprob }))).map((c) => c.index);
}

function runRecord(outcome: ProgramOutcome): CandidateRunRecord {
  if (outcome.status === 'not-run') return { status: 'not-run', output: '', error: outcome.error };
  return { status: outcome.status, output: outcome.output, ...(outcome.error ? { error: outcome.error } : {}), ...(outcome.line !== undefined ? { line: outcome.line } : {}) };
}

function candidateView(c: CandidateRecord, rank: number, running: boolean): CandidateView {
  const view: { -readonly [K in keyof CandidateView]: CandidateView[K] } = { rank };
  if (c.meanLogprob !== undefined) view.meanLogprob = c.meanLogprob;
  if (running) view.run = 'running';
  else if (c.run) {
    view.run = c.run.status;
    if (c.run.status === 'ran' && c.run.output.trim() === '') view.printedNothing = true;
    const { error, line } = c.run;
    if (error) view.error = line !== undefined && !error.includes(`line ${line}`) ? `${error} (line ${line})` : error;
  }
  return view;
}
