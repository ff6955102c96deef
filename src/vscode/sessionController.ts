// The turn flow between the panel, the engine and the editor: submit -> generating (streamed) -> proposed ->
// accept (inserted as one undoable edit) / reject / regenerate; stop, retry, live draft perplexity; sessions
// persisted after every change and restored on start; the session commands. No model logic here: the state
// machine, the context and the insertion live in src/session/.
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { PromptContext, StopReason } from '../protocol/engine';
import { EngineError, toEngineError } from '../protocol/errors';
import type { FromWebview, PanelState, TurnView } from '../protocol/webview';
import { acceptedTurnHints } from '../session/hintLines';
import { assembleProgram } from '../session/paperFormat';
import { perplexityView } from '../session/perplexityView';
import { SessionStore } from '../session/sessionStore';
import { canDo, TurnMachine, TurnTransitionError, type TurnRecord } from '../session/turnMachine';
import { PYTHON, type EditorTarget } from './editorTarget';
import { errorText, showEngineError } from './errors';
import { DOWNLOAD_MODEL_COMMAND, type DownloadModelArgs } from './modelDownload';
import { RECOMMENDED_MODEL } from '../download/recommendedModel';
import type { HintManager } from './hints';
import type { ModelManager } from './modelManager';
import type { PanelPort } from './panelProvider';
import { generationSettings, insertPromptAsComment, perplexityThresholds } from './settings';

export const SUBMIT_PROMPT_COMMAND = 'codegenMt.submitPrompt';
export const ACCEPT_TURN_COMMAND = 'codegenMt.acceptTurn';
export const REJECT_TURN_COMMAND = 'codegenMt.rejectTurn';
export const REGENERATE_TURN_COMMAND = 'codegenMt.regenerateTurn';
export const STOP_GENERATION_COMMAND = 'codegenMt.stopGeneration';
export const NEW_SESSION_COMMAND = 'codegenMt.newSession';
export const OPEN_SESSION_COMMAND = 'codegenMt.openSession';
export const EXPORT_SESSION_COMMAND = 'codegenMt.exportSession';

/** How long typing must pause before the draft is scored, and how often a streaming turn is saved. */
const DRAFT_DEBOUNCE_MS = 250;
const STREAM_SAVE_MS = 1000;
/**
 * Streamed text goes to the panel at most this often: at hundreds of tokens a second, one message per token
 * queues up between host and webview and the page falls seconds behind the engine (and behind a Stop click).
 */
const DELTA_BATCH_MS = 40;

interface Running {
  readonly turnId: string;
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

/** The last generation the controller started: its context, and once it ended, how (for the test API and logs). */
export interface GenerationInfo {
  readonly turnId: string;
  readonly context: PromptContext;
  readonly maxNewTokens?: number;
  readonly stopReason?: StopReason;
  /** Tokens generated. */
  readonly tokens?: number;
  readonly seed?: number;
}

export interface SessionControllerDeps {
  readonly store: SessionStore;
  readonly model: ModelManager;
  readonly target: EditorTarget;
  readonly hints: HintManager;
  readonly log: vscode.LogOutputChannel;
}

export class SessionController implements vscode.Disposable {
  private session: TurnMachine = TurnMachine.create(randomUUID());
  private running: Running | undefined;
  private draftController: AbortController | undefined;
  private draftTimer: NodeJS.Timeout | undefined;
  private lastStreamSave = 0;
  /** The newest save (the store runs saves in order, so awaiting it awaits them all). */
  private lastSave: Promise<void> = Promise.resolve();
  private generation: GenerationInfo | undefined;
  private panel: PanelPort = { post: () => undefined };
  /** Resolves when the last session has been read back from disk. */
  readonly restored: Promise<void>;

  constructor(private readonly deps: SessionControllerDeps) {
    this.restored = this.restore();
  }

  attach(panel: PanelPort): void {
    this.panel = panel;
  }

  private async restore(): Promise<void> {
    try {
      const record = await this.deps.store.loadCurrent();
      if (record) this.session = TurnMachine.restore(record);
    } catch (err) {
      this.deps.log.warn(`Could not restore the last session: ${String(err)}`);
    }
    this.restoreHints();
  }

  /**
   * Puts the hints of the session's accepted turns back on their prompt comments (they live only in memory, so a
   * reload loses them): in `documents` (default: every open one), if one is the session's document.
   */
  restoreHints(documents: readonly vscode.TextDocument[] = vscode.workspace.textDocuments): void {
    const uri = this.session.documentUri;
    if (!uri) return;
    for (const document of documents) {
      if (document.uri.toString() !== uri || document.isClosed) continue;
      const lines = Array.from({ length: document.lineCount }, (_, i) => document.lineAt(i).text);
      // Only where the document has no hint yet: a fresher one (Score Prompt Comments) is kept.
      const taken = new Set(this.deps.hints.hints(document).map((h) => h.line));
      const hints = acceptedTurnHints(lines, this.session.turns).filter((h) => !taken.has(h.line));
      if (hints.length > 0) this.deps.hints.set(document, hints);
    }
  }

  state(): PanelState {
    return { sessionId: this.session.id, turns: this.session.toView(), sessions: [], model: this.deps.model.status, draft: this.session.draft };
  }

  /** Every valid message from the panel. */
  async handle(message: FromWebview): Promise<void> {
    await this.restored;
    try {
      switch (message.type) {
        case 'ready':
          this.panel.post({ type: 'init', state: { ...this.state(), sessions: await this.deps.store.list() } });
          // Load the model while the user writes the first prompt (the status shows progress or the error).
          this.deps.model.ensureLoaded().catch((err: unknown) => this.deps.log.warn(`Model not loaded: ${errorText(err)}`));
          return;
        case 'submit':
          await this.submit(message.prompt);
          return;
        case 'accept':
          return await this.accept(message.turnId, message.code);
        case 'reject':
          return this.reject(message.turnId);
        case 'regenerate':
        case 'retry':
          return await this.regenerate(message.turnId);
        case 'stop':
          return this.stop(message.turnId);
        case 'draftChanged':
          return this.draftChanged(message.draft);
        case 'newSession':
          return await this.newSession();
        case 'openSession':
          return await this.openSession(message.sessionId);
        case 'exportSession':
          await this.exportSession();
          return;
        case 'chooseModel':
          await vscode.commands.executeCommand('codegenMt.selectModel');
          return;
        case 'downloadModel':
          await vscode.commands.executeCommand(DOWNLOAD_MODEL_COMMAND);
          return;
        case 'downloadRecommendedModel': {
          const args: DownloadModelArgs = { repo: RECOMMENDED_MODEL.repo, preferVariants: RECOMMENDED_MODEL.variants };
          await vscode.commands.executeCommand(DOWNLOAD_MODEL_COMMAND, args);
          return;
        }
        default: {
          const unreachable: never = message;
          this.deps.log.warn(`Unhandled panel message ${JSON.stringify(unreachable)}`);
        }
      }
    } catch (err) {
      this.report(err);
    }
  }

  private report(err: unknown): void {
    if (err instanceof TurnTransitionError) {
      void vscode.window.showWarningMessage(err.message);
      this.republish();
      return;
    }
    this.deps.log.error(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    void vscode.window.showErrorMessage(`CodeGen: ${err instanceof Error ? err.message : String(err)}`);
  }

  /** Sends every turn again (after a refused action the panel may show a state the host does not have). */
  private republish(): void {
    for (const turn of this.session.toView()) this.panel.post({ type: 'turn', turn });
  }

  get draft(): string {
    return this.session.draft;
  }

  // --- the turn flow ---

  /** Starts a turn for `prompt`; its id, or undefined if a turn is still generating (the user is told). */
  async submit(prompt: string): Promise<string | undefined> {
    await this.restored;
    if (this.running) {
      void vscode.window.showWarningMessage('CodeGen is still writing the last turn: stop it or wait for it to finish.');
      return undefined;
    }
    const turn = this.session.start(randomUUID(), prompt);
    this.session.draft = '';
    this.generate(turn.id, prompt);
    return turn.id;
  }

  async regenerate(turnId: string): Promise<void> {
    if (this.running) {
      void vscode.window.showWarningMessage('CodeGen is still writing a turn: stop it or wait for it to finish.');
      return;
    }
    const turn = this.session.regenerate(turnId);
    this.generate(turn.id, turn.prompt);
  }

  stop(turnId: string): void {
    if (this.running?.turnId === turnId) this.running.controller.abort();
  }

  private generate(turnId: string, prompt: string): void {
    const controller = new AbortController();
    const context = this.deps.target.context(prompt);
    this.generation = { turnId, context };
    this.publish(turnId);
    this.save();
    const done = this.run(turnId, context, controller).finally(() => {
      if (this.running?.controller === controller) this.running = undefined;
    });
    this.running = { turnId, controller, done };
  }

  private async run(turnId: string, context: PromptContext, controller: AbortController): Promise<void> {
    const session = this.session;
    const { model } = this.deps;
    let batchTimer: NodeJS.Timeout | undefined;
    let flushDeltas = (): void => undefined;
    try {
      await model.ensureLoaded();
      if (controller.signal.aborted) throw new EngineError('cancelled', 'Stopped before the model was ready.');
      const settings = generationSettings();
      const started = Date.now();
      let deltas = 0;
      let lastStatus = 0;
      model.setGenerating();
      let unsent = '';
      const sendDeltas = (): void => {
        batchTimer = undefined;
        if (unsent) this.panel.post({ type: 'turnDelta', turnId, delta: unsent });
        unsent = '';
      };
      flushDeltas = () => {
        if (batchTimer) clearTimeout(batchTimer);
        sendDeltas();
      };
      const result = await model.engine.generate(
        { context, temperature: settings.temperature, topP: settings.topP, maxNewTokens: settings.maxNewTokens, stop: 'turn' },
        {
          signal: controller.signal,
          onDelta: (delta) => {
            session.appendDelta(turnId, delta);
            unsent += delta;
            batchTimer ??= setTimeout(sendDeltas, DELTA_BATCH_MS);
            deltas++;
            const now = Date.now();
            if (now - lastStatus > 500 && now > started) {
              lastStatus = now;
              model.setGenerating((deltas * 1000) / (now - started));
            }
            if (now - this.lastStreamSave > STREAM_SAVE_MS) this.save();
          },
        },
      );
      if (this.generation?.turnId === turnId) {
        this.generation = { ...this.generation, maxNewTokens: settings.maxNewTokens, stopReason: result.stopReason, tokens: result.ids.length, seed: result.seed };
      }
      const t = result.timings;
      const tokensPerSecond = t.decodeMs > 0 ? (t.decodeTokens * 1000) / t.decodeMs : undefined;
      session.finish(turnId, {
        code: result.text,
        cancelled: result.stopReason === 'cancelled',
        perplexity: perplexityView(result.prompt, perplexityThresholds()),
        droppedTurns: result.droppedTurns,
        tokensPerSecond,
        seed: result.seed,
      });
      this.deps.log.info(
        `Turn ${turnId}: ${result.stopReason}, ${result.ids.length} tokens, seed ${result.seed}, ${result.promptTokens} context tokens (${result.reusedTokens} reused, ${result.droppedTurns} turns dropped), ${Math.round(t.totalMs)} ms`,
      );
    } catch (err) {
      const e = toEngineError(err);
      if (e.code === 'cancelled' || controller.signal.aborted) session.cancel(turnId);
      else {
        session.fail(turnId, errorText(e));
        // Not shown again if it is a model load failure already notified (the load was started by a settings change).
        void showEngineError(err, 'The turn failed', this.deps.log);
      }
    } finally {
      // Not busy any more from the moment the turn shows its end state: a Regenerate or Submit right after it
      // must not be refused as "still writing" while the session is being saved.
      flushDeltas(); // the last streamed text before the turn's end state
      if (this.running?.controller === controller) this.running = undefined;
      model.setIdle();
      if (session === this.session) this.publish(turnId);
      await this.saveSession(session);
    }
  }

  async accept(turnId: string, code?: string): Promise<void> {
    const turn = this.session.get(turnId);
    if (!turn) throw new TurnTransitionError('accept', undefined, `There is no turn ${turnId} in this session.`);
    // Checked before the editor is touched: an illegal accept inserts nothing.
    if (!canDo(turn.state, 'accept')) throw new TurnTransitionError('accept', turn.state, `Cannot accept a turn that is ${turn.state}.`);
    const session = this.session;
    const inserted = await this.deps.target.insert(turn.prompt, code ?? turn.code, insertPromptAsComment());
    const accepted = session.accept(turnId, code);
    session.documentUri = inserted.document.uri.toString();
    if (session === this.session) this.publish(turnId);
    void this.saveSession(session);
    if (inserted.promptLine !== undefined && inserted.promptComment && accepted.perplexity) {
      this.deps.hints.set(inserted.document, [{ line: inserted.promptLine, comment: inserted.promptComment, view: accepted.perplexity }]);
    }
  }

  reject(turnId: string): void {
    this.session.reject(turnId);
    this.publish(turnId);
    this.save();
  }

  draftChanged(draft: string): void {
    this.session.draft = draft;
    this.draftController?.abort();
    this.draftController = undefined;
    if (this.draftTimer) clearTimeout(this.draftTimer);
    this.draftTimer = undefined;
    if (draft.trim() === '') {
      this.panel.post({ type: 'draftPerplexity', draft, perplexity: null });
      return;
    }
    this.draftTimer = setTimeout(() => void this.scoreDraft(draft), DRAFT_DEBOUNCE_MS);
  }

  private async scoreDraft(draft: string): Promise<void> {
    // One thing at a time in the engine: a generation has the model; the draft is scored after it.
    if (this.running) return;
    const controller = new AbortController();
    this.draftController = controller;
    try {
      await this.deps.model.ensureLoaded();
      if (controller.signal.aborted || this.running) return;
      const result = await this.deps.model.engine.perplexity({ context: this.deps.target.context(draft) }, controller.signal);
      if (controller.signal.aborted) return;
      this.panel.post({ type: 'draftPerplexity', draft, perplexity: perplexityView(result, perplexityThresholds()) });
    } catch (err) {
      const e = toEngineError(err);
      if (e.code !== 'cancelled') this.deps.log.warn(`Draft perplexity: [${e.code}] ${e.message}`);
    } finally {
      if (this.draftController === controller) this.draftController = undefined;
    }
    this.save();
  }

  // --- sessions ---

  async newSession(): Promise<void> {
    await this.settle();
    this.session = TurnMachine.create(randomUUID());
    await this.saveSession(this.session);
    await this.sendInit();
  }

  async openSession(sessionId: string): Promise<void> {
    const record = await this.deps.store.load(sessionId);
    if (!record) {
      void vscode.window.showErrorMessage('That session could not be read (see the CodeGen log).');
      await this.sendSessions();
      return;
    }
    await this.settle();
    this.session = TurnMachine.restore(record);
    this.restoreHints();
    await this.saveSession(this.session);
    await this.sendInit();
  }

  async pickSession(): Promise<void> {
    const sessions = await this.deps.store.list();
    const pick = await vscode.window.showQuickPick(
      sessions.map((s) => ({
        label: s.title,
        description: `${s.turnCount} turn${s.turnCount === 1 ? '' : 's'}${s.id === this.session.id ? ' (current)' : ''}`,
        detail: new Date(s.updatedAt).toLocaleString(),
        id: s.id,
      })),
      { title: 'CodeGen: Open Past Session', placeHolder: sessions.length ? 'Sessions of this workspace' : 'No past sessions yet' },
    );
    if (pick) await this.openSession(pick.id);
  }

  /** Writes the session's program to `target` (asked for with a save dialog if not given); where it went. */
  async exportSession(target?: vscode.Uri): Promise<vscode.Uri | undefined> {
    const program = this.program();
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const name = `${this.session.title.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '').slice(0, 40) || 'session'}.py`;
    const uri =
      target ??
      (await vscode.window.showSaveDialog({
        defaultUri: folder ? vscode.Uri.joinPath(folder, name) : undefined,
        filters: { Python: ['py'] },
        saveLabel: 'Export',
        title: 'Export the session as a Python file',
      }));
    if (!uri) return undefined;
    await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(program));
    // Not awaited: the export is done whether or not the notification is ever answered.
    void vscode.window.showInformationMessage(`Exported to ${path.basename(uri.fsPath)}.`, 'Open').then((open) => (open ? vscode.window.showTextDocument(uri) : undefined));
    return uri;
  }

  /** The session's program: its document's text if that document is open, else the accepted turns. */
  private program(): string {
    const uri = this.session.documentUri;
    const document = uri ? vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri) : undefined;
    if (document) return document.getText();
    return assembleProgram('', this.session.acceptedTurns());
  }

  /** Stops a generation of the current session and waits for it to end (before switching sessions). */
  private async settle(): Promise<void> {
    const running = this.running;
    if (!running) return;
    running.controller.abort();
    await running.done.catch(() => undefined);
  }

  // --- what the test API reads (src/vscode/testApi.ts) ---

  /** The current session's turns as stored (with each one's seed); copies. */
  turnRecords(): TurnRecord[] {
    return structuredClone([...this.session.turns]) as TurnRecord[];
  }

  /** The last generation started: its context, and how it ended. */
  lastGeneration(): GenerationInfo | undefined {
    return this.generation;
  }

  /** Resolves when every save asked for so far is on disk. */
  flush(): Promise<void> {
    return this.lastSave;
  }

  /**
   * Drops the in-memory session and restores the current one from the store, as activation does (stopping a
   * running turn first); the panel gets the restored state.
   */
  async reload(): Promise<void> {
    await this.settle();
    await this.flush();
    this.session = TurnMachine.create(randomUUID());
    this.generation = undefined;
    await this.restore();
    await this.sendInit();
  }

  // --- the newest turn, for the commands ---

  newestTurnId(action: 'accept' | 'reject' | 'regenerate' | 'stop'): string | undefined {
    const s = this.session;
    switch (action) {
      case 'accept':
        return s.newest('proposed', 'cancelled')?.id;
      case 'reject':
        return s.newest('proposed', 'cancelled', 'failed')?.id;
      case 'regenerate':
        return s.newest('proposed', 'cancelled', 'rejected', 'failed')?.id;
      case 'stop':
        return s.generating?.id;
    }
  }

  // --- the panel and the store ---

  private publish(turnId: string): void {
    const turn: TurnView | undefined = this.session.view(turnId);
    if (turn) this.panel.post({ type: 'turn', turn });
  }

  async sendInit(): Promise<void> {
    this.panel.post({ type: 'init', state: { ...this.state(), sessions: await this.deps.store.list() } });
  }

  private async sendSessions(): Promise<void> {
    this.panel.post({ type: 'sessions', sessions: await this.deps.store.list() });
  }

  /** Saves the current session now (in the background) and then sends the new list. */
  private save(): void {
    void this.saveSession(this.session);
  }

  private saveSession(session: TurnMachine): Promise<void> {
    const saved = this.writeSession(session);
    this.lastSave = saved;
    return saved;
  }

  private async writeSession(session: TurnMachine): Promise<void> {
    this.lastStreamSave = Date.now();
    try {
      await this.deps.store.save(session.toRecord(), session === this.session);
      if (session === this.session) await this.sendSessions();
    } catch (err) {
      this.deps.log.error(`Could not save the session to ${this.deps.store.folder}: ${String(err)}`);
    }
  }

  dispose(): void {
    this.running?.controller.abort();
    this.draftController?.abort();
    if (this.draftTimer) clearTimeout(this.draftTimer);
  }
}

/** The controller, the panel provider and the session commands. */
export function registerSessions(
  context: vscode.ExtensionContext,
  deps: SessionControllerDeps,
  panel: PanelPort & { focus(): Promise<void> },
): SessionController {
  const controller = new SessionController(deps);
  // Each acts on the turn whose id is the argument, if one is given, else on the newest turn it applies to.
  const onTurn = (action: 'accept' | 'reject' | 'regenerate' | 'stop', run: (id: string) => unknown) => async (arg?: unknown) => {
    const id = typeof arg === 'string' ? arg : controller.newestTurnId(action);
    if (!id) {
      void vscode.window.showInformationMessage(`There is no turn to ${action}.`);
      return;
    }
    try {
      await run(id);
    } catch (err) {
      if (err instanceof TurnTransitionError) void vscode.window.showWarningMessage(err.message);
      else throw err;
    }
  };
  // The session's hints come back whenever its Python document is opened or shown again.
  const restoreHints = (documents: readonly vscode.TextDocument[]): void => {
    const python = documents.filter((d) => d.languageId === PYTHON);
    if (python.length > 0) void controller.restored.then(() => controller.restoreHints(python));
  };
  context.subscriptions.push(
    controller,
    deps.model.onDidChangeStatus((model) => panel.post({ type: 'model', model })),
    vscode.workspace.onDidOpenTextDocument((d) => restoreHints([d])),
    vscode.window.onDidChangeVisibleTextEditors((editors) => restoreHints(editors.map((e) => e.document))),
    // With a prompt argument (a string) no input box is shown; resolves to the new turn's id.
    vscode.commands.registerCommand(SUBMIT_PROMPT_COMMAND, async (arg?: unknown): Promise<string | undefined> => {
      let prompt: string | undefined = typeof arg === 'string' ? arg : controller.draft.trim() ? controller.draft : undefined;
      prompt ??= await vscode.window.showInputBox({ title: 'CodeGen: what should the next step do?', placeHolder: 'e.g. Read the CSV file data.csv into a list of rows.', ignoreFocusOut: true });
      if (!prompt?.trim()) return undefined;
      try {
        return await controller.submit(prompt);
      } catch (err) {
        if (err instanceof TurnTransitionError) void vscode.window.showWarningMessage(err.message);
        else throw err;
        return undefined;
      }
    }),
    vscode.commands.registerCommand(ACCEPT_TURN_COMMAND, onTurn('accept', (id) => controller.accept(id))),
    vscode.commands.registerCommand(REJECT_TURN_COMMAND, onTurn('reject', (id) => controller.reject(id))),
    vscode.commands.registerCommand(REGENERATE_TURN_COMMAND, onTurn('regenerate', (id) => controller.regenerate(id))),
    vscode.commands.registerCommand(STOP_GENERATION_COMMAND, onTurn('stop', (id) => controller.stop(id))),
    vscode.commands.registerCommand(NEW_SESSION_COMMAND, () => controller.newSession()),
    // With a session id (a string) no pick is shown.
    vscode.commands.registerCommand(OPEN_SESSION_COMMAND, (arg?: unknown) => (typeof arg === 'string' ? controller.openSession(arg) : controller.pickSession())),
    // With a target (a Uri or a file path) no save dialog is shown; resolves to where the program was written.
    vscode.commands.registerCommand(EXPORT_SESSION_COMMAND, (arg?: unknown) =>
      controller.exportSession(arg instanceof vscode.Uri ? arg : typeof arg === 'string' && arg ? vscode.Uri.file(arg) : undefined),
    ),
  );
  return controller;
}

