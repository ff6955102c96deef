// The turn flow between the panel, the engine and the editor: submit -> generating (streamed) -> proposed ->
// accept (inserted as one undoable edit) / reject / regenerate; stop, retry, live draft perplexity; the session
// saved after every change (in order) and restored on start. Plain Node over small ports (ports.ts): VS Code's
// adapters drive it in the extension, plain objects in its tests. The state machine is turnMachine.ts.
import { randomUUID } from 'node:crypto';
import type { PromptContext } from '../protocol/engine';
import { EngineError, toEngineError } from '../protocol/errors';
import type { FromWebview, PanelState, SessionSummary, TurnView } from '../protocol/webview';
import { DraftScorer } from './draftScorer';
import { assembleProgram } from './paperFormat';
import type { EditorPort, FlowSettings, HintPort, LogPort, ModelPort, NoticePort, PanelPort, ProgramPort, StorePort } from './ports';
import { ProgramRuns } from './programRuns';
import { SessionSaves } from './sessionSaves';
import type { TurnRecord } from './sessionFormat';
import { statesAllowing, TurnMachine, TurnTransitionError } from './turnMachine';
import { DEFAULT_TIMING, DeltaBatcher, generationInfo, turnRequest, type FlowTiming, type GenerationInfo } from './turnGeneration';
import { acceptTurn } from './turnAccept';
import { candidatesPerTurn, TurnCandidates } from './turnCandidates';

export type { FlowTiming, GenerationInfo };

type TurnMessage = 'submit' | 'accept' | 'showCandidate' | 'reject' | 'regenerate' | 'retry' | 'stop' | 'draftChanged' | 'scoreRewordings';
/** The panel's messages the flow handles (the rest are commands of the host: choose or download a model, export). */
export type FlowMessage = Extract<FromWebview, { type: 'ready' | TurnMessage | 'newSession' | 'openSession' | 'runProgram' }>;

export interface TurnFlowDeps {
  readonly model: ModelPort;
  readonly editor: EditorPort;
  readonly hints: HintPort;
  readonly store: StorePort;
  readonly notice: NoticePort;
  readonly log: LogPort;
  readonly settings: () => FlowSettings;
  /** Runs the program so far (the sandbox); without it, nothing runs. */
  readonly program?: ProgramPort;
  readonly timing?: Partial<FlowTiming>;
  readonly newId?: () => string;
}

/** What a command may do to a turn without being told which one. */
export type TurnAction = 'accept' | 'reject' | 'regenerate' | 'stop';

interface Running {
  readonly turnId: string;
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

export class TurnFlow {
  private session: TurnMachine;
  private running: Running | undefined;
  private restoring: Promise<void> = Promise.resolve();
  private panel: PanelPort = { post: () => undefined };
  private readonly generationListeners = new Set<(info: GenerationInfo) => void>();
  private readonly timing: FlowTiming;
  private readonly newId: () => string;
  private readonly drafts: DraftScorer;
  private readonly runs: ProgramRuns;
  private readonly candidates: TurnCandidates;
  private readonly saves: SessionSaves;

  constructor(private readonly deps: TurnFlowDeps) {
    this.timing = { ...DEFAULT_TIMING, ...deps.timing };
    this.saves = new SessionSaves(deps, () => ({ panel: this.panel, session: this.session }));
    this.newId = deps.newId ?? randomUUID;
    this.session = TurnMachine.create(this.newId());
    this.drafts = new DraftScorer({
      ...deps,
      panel: () => this.panel,
      debounceMs: this.timing.draftDebounceMs,
      // One thing at a time in the engine: while a turn generates, the draft waits for the next change.
      busy: () => this.running !== undefined,
      onScored: () => this.save(),
    });
    const changed = (turnId: string): void => this.publish(turnId);
    this.runs = new ProgramRuns({ ...deps, turns: () => this.session.turns, changed });
    this.candidates = new TurnCandidates({ ...deps, session: () => this.session, changed, save: () => this.save() });
  }

  /** The panel the flow posts to from now on. */
  attach(panel: PanelPort): void {
    this.panel = panel;
  }

  /** Calls `listener` when a generation starts and again when it ends (with how); returns the unsubscribe. */
  onGeneration(listener: (info: GenerationInfo) => void): () => void {
    this.generationListeners.add(listener);
    return () => this.generationListeners.delete(listener);
  }

  // --- what the host reads ---

  get sessionId(): string {
    return this.session.id;
  }

  get title(): string {
    return this.session.title;
  }

  get draft(): string {
    return this.session.draft;
  }

  /** The document the session inserts into, if it has inserted anything. */
  get documentUri(): string | undefined {
    return this.session.documentUri;
  }

  /** The session's turns as stored (with each one's seed); copies. */
  turns(): TurnRecord[] {
    return structuredClone([...this.session.turns]) as TurnRecord[];
  }

  /** The accepted turns as one program (the prompts as comments, as the paper writes them). */
  acceptedProgram(): string {
    return assembleProgram('', this.session.acceptedTurns());
  }

  /** The turn a command without a turn id acts on: the newest one the action may apply to. */
  newestTurnId(action: TurnAction): string | undefined {
    return action === 'stop' ? this.session.generating?.id : this.session.newest(...statesAllowing(action))?.id;
  }

  /** Resolves when every save asked for so far is on disk. */
  saved(): Promise<void> {
    return this.saves.done();
  }

  /** The panel's whole state (the session list is read from the store). */
  async panelState(): Promise<PanelState> {
    const sessions: SessionSummary[] = await this.deps.store.list();
    const turns = this.views();
    const { id: sessionId, draft } = this.session;
    return { sessionId, turns, sessions, model: this.deps.model.status, draft, candidatesPerTurn: candidatesPerTurn(this.deps.settings()) };
  }

  // --- the panel's messages ---

  /** Every valid message from the panel that is the flow's; a refused action is explained, never thrown. */
  async handle(message: FlowMessage): Promise<void> {
    await this.restoring;
    try {
      await this.dispatch(message);
    } catch (err) {
      this.report(err);
    }
  }

  private async dispatch(message: FlowMessage): Promise<void> {
    switch (message.type) {
      case 'ready':
        await this.sendInit();
        // Load the model while the user writes the first prompt (the status shows progress or the error).
        this.deps.model.ensureLoaded().catch((err: unknown) => this.deps.log.warn(`Model not loaded: ${this.deps.notice.errorText(err)}`));
        return;
      case 'submit':
        await this.submit(message.prompt);
        return;
      case 'accept':
        return this.accept(message.turnId, message.code, message.candidate);
      case 'showCandidate':
        return this.candidates.show(message.turnId, message.candidate);
      case 'reject':
        return this.reject(message.turnId);
      case 'regenerate':
      case 'retry':
        return this.regenerate(message.turnId);
      case 'stop':
        return this.stop(message.turnId);
      case 'draftChanged':
        return this.draftChanged(message.draft);
      case 'scoreRewordings':
        return this.drafts.scoreRewordings(message.draft, message.rewordings);
      case 'newSession':
        return this.newSession();
      case 'openSession':
        return this.openSession(message.sessionId);
      case 'runProgram':
        return this.runProgram();
      default: {
        const unreachable: never = message;
        this.deps.log.warn(`Unhandled panel message ${JSON.stringify(unreachable)}`);
      }
    }
  }

  private report(err: unknown): void {
    if (err instanceof TurnTransitionError) {
      this.deps.notice.warn(err.message);
      this.republish();
      return;
    }
    this.deps.log.error(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    this.deps.notice.error(`CodeGen: ${err instanceof Error ? err.message : String(err)}`);
  }

  /** Sends every turn again (after a refused action the panel may show a state the flow does not have). */
  private republish(): void {
    for (const turn of this.views()) this.panel.post({ type: 'turn', turn });
  }

  // --- the turns ---

  /** Starts a turn for `prompt`; its id, or undefined if a turn is still generating (the user is told). */
  async submit(prompt: string): Promise<string | undefined> {
    await this.restoring;
    if (this.running) {
      this.deps.notice.warn('CodeGen is still writing the last turn: stop it or wait for it to finish.');
      return undefined;
    }
    const turn = this.session.start(this.newId(), prompt);
    this.session.draft = '';
    this.generate(turn.id, prompt);
    return turn.id;
  }

  async regenerate(turnId: string): Promise<void> {
    await this.restoring;
    if (this.running) {
      this.deps.notice.warn('CodeGen is still writing a turn: stop it or wait for it to finish.');
      return;
    }
    const turn = this.session.regenerate(turnId);
    this.candidates.forget(turn.id);
    this.generate(turn.id, turn.prompt);
  }

  stop(turnId: string): void {
    if (this.running?.turnId === turnId) this.running.controller.abort();
  }

  private generate(turnId: string, prompt: string): void {
    const controller = new AbortController();
    const context = this.deps.editor.context(prompt);
    this.emitGeneration({ turnId, context });
    this.publish(turnId);
    this.save();
    // run() ends `running` itself, the moment the turn shows its end state.
    this.running = { turnId, controller, done: this.run(turnId, context, controller) };
  }

  private async run(turnId: string, context: PromptContext, controller: AbortController): Promise<void> {
    const session = this.session;
    const batcher = new DeltaBatcher((delta) => this.panel.post({ type: 'turnDelta', turnId, delta }), this.timing.deltaBatchMs);
    try {
      await this.deps.model.ensureLoaded();
      if (controller.signal.aborted) throw new EngineError('cancelled', 'Stopped before the model was ready.');
      const settings = this.deps.settings();
      const onPiece = (now: number): void => {
        if (this.saves.sinceLast(now) > this.timing.streamSaveMs) this.save();
      };
      const stream = { model: this.deps.model, session, turnId, request: turnRequest(context, settings), signal: controller.signal, batcher, onPiece };
      const { first, details } = await this.candidates.generate(stream, candidatesPerTurn(settings));
      session.finish(turnId, details);
      if (details.candidates) this.candidates.rank(turnId);
      this.emitGeneration(generationInfo(turnId, context, settings, first));
    } catch (err) {
      const e = toEngineError(err);
      if (e.code === 'cancelled' || controller.signal.aborted) session.cancel(turnId);
      else {
        session.fail(turnId, this.deps.notice.errorText(e));
        this.deps.notice.engineFailed(err, 'The turn failed');
      }
    } finally {
      // Not busy any more from the moment the turn shows its end state: a Regenerate or Submit right after it
      // must not be refused as "still writing" while the session is being saved.
      batcher.flush(); // the last streamed text before the turn's end state
      if (this.running?.controller === controller) this.running = undefined;
      this.deps.model.setIdle();
      if (session === this.session) this.publish(turnId);
      await this.saves.save(session);
    }
  }

  private emitGeneration(info: GenerationInfo): void {
    for (const listener of this.generationListeners) listener(info);
  }

  /** Inserts the turn's code (or the user's edit of it; or candidate `candidate`) into the editor and marks it accepted. */
  async accept(turnId: string, code?: string, candidate?: number): Promise<void> {
    const session = this.session;
    // The candidate the panel showed when the user accepted, even if the ranking has switched since.
    if (candidate !== undefined && session.get(turnId)?.candidates) session.showCandidate(turnId, candidate);
    await acceptTurn(this.deps, session, turnId, code);
    this.candidates.forget(turnId);
    if (session === this.session) this.publish(turnId);
    void this.saves.save(session);
    if (session === this.session) this.runs.afterAccept(turnId);
  }

  /** Runs the program so far now; its result shows under the newest accepted turn. */
  runProgram(): Promise<void> {
    return this.runs.runNow();
  }

  reject(turnId: string): void {
    this.session.reject(turnId);
    this.publish(turnId);
    this.save();
  }

  /** The draft changed: kept with the session, and scored once typing pauses (a newer draft supersedes it). */
  draftChanged(draft: string): void {
    this.session.draft = draft;
    this.drafts.changed(draft);
  }

  // --- sessions ---

  /**
   * Restores the current session from the store, as activation does: a running turn is stopped first, and a
   * turn that was generating when it was saved comes back cancelled. The panel gets the restored state.
   */
  restore(): Promise<void> {
    const restoring = this.restoring.then(() => this.reloadFromStore());
    this.restoring = restoring.catch(() => undefined);
    return restoring;
  }

  private async reloadFromStore(): Promise<void> {
    await this.settle();
    await this.saved();
    let session = TurnMachine.create(this.newId());
    try {
      const record = await this.deps.store.loadCurrent();
      if (record) session = TurnMachine.restore(record);
    } catch (err) {
      this.deps.log.warn(`Could not restore the last session: ${String(err)}`);
    }
    await this.switchTo(session, { save: false });
  }

  async newSession(): Promise<void> {
    await this.settle();
    await this.switchTo(TurnMachine.create(this.newId()), { save: true });
  }

  async openSession(sessionId: string): Promise<void> {
    const record = await this.deps.store.load(sessionId);
    if (!record) {
      this.deps.notice.error('That session could not be read (see the CodeGen log).');
      this.panel.post({ type: 'sessions', sessions: await this.deps.store.list() });
      return;
    }
    await this.settle();
    await this.switchTo(TurnMachine.restore(record), { save: true });
  }

  /** Makes `session` the current one (its hints back on their comments) and shows it. */
  private async switchTo(session: TurnMachine, { save }: { save: boolean }): Promise<void> {
    this.session = session;
    if (session.documentUri) this.deps.hints.restore(session.documentUri, session.turns);
    if (save) await this.saves.save(session);
    await this.sendInit();
  }

  /** Stops a generation of the current session and waits for it to end (before switching sessions). */
  private async settle(): Promise<void> {
    this.runs.clear(); // the runs shown are this session's
    this.candidates.clear();
    const running = this.running;
    if (!running) return;
    running.controller.abort();
    await running.done.catch(() => undefined);
  }

  // --- the panel and the store ---

  private publish(turnId: string): void {
    const turn = this.session.view(turnId, this.deps.settings().thresholds);
    if (turn) this.panel.post({ type: 'turn', turn: this.decorate(turn) });
  }

  private views(): TurnView[] {
    return this.session.toView(this.deps.settings().thresholds).map((view) => this.decorate(view));
  }

  /** A turn's view with its last run and its candidates. */
  private decorate(view: TurnView): TurnView {
    return this.candidates.decorate(this.runs.decorate(view), this.session.get(view.id));
  }

  private async sendInit(): Promise<void> {
    this.panel.post({ type: 'init', state: await this.panelState() });
  }

  /** Saves the current session now (in the background); the panel then gets the new list. */
  private save(): void {
    void this.saves.save(this.session);
  }

  /** Stops what runs (a generation, a draft's scoring); what was saved stays. */
  dispose(): void {
    this.running?.controller.abort();
    this.drafts.dispose();
    this.runs.dispose();
    this.candidates.clear();
  }
}
