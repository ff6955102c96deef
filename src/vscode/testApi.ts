// What activate() returns: a small API for the integration tests (test/integration/), which drive the extension
// through its commands and observe it through this. It only wraps what the parts do anyway (the flow's turns,
// generations and restore from the store, the messages to and from the panel, VS Code resolving the panel, the
// hint decorations set on editors, the model status, the engine process, the error notifications), and adds no
// behaviour of its own except clearHints(), which drops the in-memory hints as a window reload would.
import * as vscode from 'vscode';
import type { PromptContext } from '../protocol/engine';
import type { FromWebview, ModelStatusView, PerplexityLevel, ToWebview, TurnState, TurnView } from '../protocol/webview';
import type { PanelPort } from '../session/ports';
import type { TurnRecord } from '../session/sessionFormat';
import type { GenerationInfo, TurnFlow } from '../session/turnFlow';
import { onDidShowEngineError, type ShownError } from './errors';
import type { EngineClient } from '../worker/engineClient';
import type { HintDecorator, HintManager } from './hints';
import type { ModelManager } from './modelManager';

export type { GenerationInfo, ShownError };

/** A decoration as last set on an editor: its line, the text shown after it and its level. */
export interface RenderedHint {
  readonly line: number;
  readonly text: string;
  readonly level: PerplexityLevel;
}

/** A turn as the session holds it (the panel's view plus the seed of its code). */
export type TurnSnapshot = Readonly<TurnRecord>;

export interface TurnDelta {
  readonly turnId: string;
  readonly delta: string;
}

export interface HintSnapshot {
  readonly line: number;
  readonly comment: string;
  readonly perplexity: number;
  readonly level: string;
}

export interface CodegenMtApi {
  /** Starts a turn (as the panel's Submit does); resolves to its id once it is generating. */
  submit(prompt: string): Promise<string>;
  /** The current session's turns, oldest first. */
  turns(): TurnSnapshot[];
  turn(id: string): TurnSnapshot | undefined;
  /** Resolves when the turn is in one of `states`; rejects after `timeoutMs` (default 20 s) saying what it is. */
  waitForTurn(id: string, states: readonly TurnState[], timeoutMs?: number): Promise<TurnSnapshot>;
  /** Every turn view the controller publishes (to the panel). */
  readonly onDidChangeTurn: vscode.Event<TurnView>;
  /** Every piece of streamed code. */
  readonly onDidStreamDelta: vscode.Event<TurnDelta>;
  /** The context the model was given for the last turn started. */
  lastContext(): PromptContext | undefined;
  /** The last generation: its context, stop reason, token count and seed. */
  lastGeneration(): GenerationInfo | undefined;
  /** The perplexity hints the document has (empty if it is not open). */
  hintsFor(uri: vscode.Uri): HintSnapshot[];
  /** The hint decorations last rendered in the document's editor. */
  renderedHintsFor(uri: vscode.Uri): RenderedHint[];
  /** Drops the document's hints from memory (as a window reload does; restoreSession() then stands for activation). */
  clearHints(uri: vscode.Uri): void;
  /** The last error notification the extension showed (with its action buttons), and clearing it. */
  lastError(): ShownError | undefined;
  clearLastError(): void;
  readonly onDidShowError: vscode.Event<ShownError>;
  /** Drops the session from memory and restores it from the session store, as activation does; the turns. */
  restoreSession(): Promise<TurnSnapshot[]>;
  /** Resolves when every session save asked for so far is on disk. */
  flushSaves(): Promise<void>;
  /** Whether VS Code resolved the panel's view, and whether its page has said `ready`. */
  panel(): { readonly resolved: boolean; readonly ready: boolean };
  modelStatus(): ModelStatusView;
  /** The engine process's pid, if one is running (it changes when a crashed engine is restarted). */
  enginePid(): number | undefined;
  /** The extension's global storage folder (downloaded models under models/, MTPB runs under mtpb/). */
  globalStoragePath(): string;
  sessionId(): string;
}

/**
 * What the test API sees of the parts as activate() wires them, before it exists: the hint decorations set on
 * editors, VS Code resolving the panel's view, and the messages the panel's page sends.
 */
export class Observations {
  private readonly decorations = new Map<string, Map<PerplexityLevel, RenderedHint[]>>();
  private resolved = false;
  private ready = false;

  /** Sets the decorations as the hint manager asks, and remembers them. */
  readonly decorator: HintDecorator = (editor, type, level, options) => {
    editor.setDecorations(type, options);
    const key = editor.document.uri.toString();
    const levels = this.decorations.get(key) ?? new Map<PerplexityLevel, RenderedHint[]>();
    const text = (o: vscode.DecorationOptions): string => o.renderOptions?.after?.contentText?.trim() ?? '';
    levels.set(level, options.map((o) => ({ line: o.range.start.line, text: text(o), level })));
    this.decorations.set(key, levels);
  };

  /** The provider VS Code is given: the panel's, noting that the view was resolved. */
  provider(provider: vscode.WebviewViewProvider): vscode.WebviewViewProvider {
    return {
      resolveWebviewView: (view, context, token) => {
        this.resolved = true;
        return provider.resolveWebviewView(view, context, token);
      },
    };
  }

  /** The handler of the page's (validated) messages, noting its `ready`. */
  messages(handler: (message: FromWebview) => void): (message: FromWebview) => void {
    return (message) => {
      if (message.type === 'ready') this.ready = true;
      handler(message);
    };
  }

  renderedHints(uri: vscode.Uri): RenderedHint[] {
    return [...(this.decorations.get(uri.toString())?.values() ?? [])].flat();
  }

  panel(): { readonly resolved: boolean; readonly ready: boolean } {
    return { resolved: this.resolved, ready: this.ready };
  }
}

export interface TestApiParts {
  readonly flow: TurnFlow;
  readonly hints: HintManager;
  readonly model: ModelManager;
  readonly engine: EngineClient;
  readonly observed: Observations;
  readonly globalStoragePath: string;
}

export class TestApi implements CodegenMtApi, vscode.Disposable {
  private readonly turnChanged = new vscode.EventEmitter<TurnView>();
  private readonly streamed = new vscode.EventEmitter<TurnDelta>();
  private readonly errorShown = new vscode.EventEmitter<ShownError>();
  private readonly subscriptions: vscode.Disposable[];
  private shownError: ShownError | undefined;
  private generation: GenerationInfo | undefined;
  readonly onDidChangeTurn = this.turnChanged.event;
  readonly onDidStreamDelta = this.streamed.event;
  readonly onDidShowError = this.errorShown.event;

  constructor(private readonly parts: TestApiParts) {
    this.subscriptions = [
      onDidShowEngineError((e) => {
        this.shownError = e;
        this.errorShown.fire(e);
      }),
      { dispose: parts.flow.onGeneration((g) => this.recordGeneration(g)) },
    ];
  }

  /** A generation's start replaces the last one; its end completes it (if it is still the last one). */
  private recordGeneration(g: GenerationInfo): void {
    if (g.stopReason === undefined || this.generation?.turnId === g.turnId) this.generation = g;
  }

  /** The port the controller posts to: the panel, with every message also seen here. */
  observe(port: PanelPort): PanelPort {
    return {
      post: (message: ToWebview) => {
        port.post(message);
        if (message.type === 'turn') this.turnChanged.fire(message.turn);
        else if (message.type === 'turnDelta') this.streamed.fire({ turnId: message.turnId, delta: message.delta });
      },
    };
  }

  async submit(prompt: string): Promise<string> {
    const id = await this.parts.flow.submit(prompt);
    if (!id) throw new Error('A turn is still generating: the prompt was not submitted.');
    return id;
  }

  turns(): TurnSnapshot[] {
    return this.parts.flow.turns();
  }

  turn(id: string): TurnSnapshot | undefined {
    return this.turns().find((t) => t.id === id);
  }

  waitForTurn(id: string, states: readonly TurnState[], timeoutMs = 20_000): Promise<TurnSnapshot> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (): void => {
        settled = true;
        subscription.dispose();
        clearInterval(poll);
        clearTimeout(timer);
      };
      const check = (): void => {
        if (settled) return;
        const turn = this.turn(id);
        if (turn && states.includes(turn.state)) {
          finish();
          resolve(turn);
        }
      };
      const subscription = this.onDidChangeTurn((t) => t.id === id && check());
      const poll = setInterval(check, 50);
      const timer = setTimeout(() => {
        if (settled) return;
        finish();
        const turn = this.turn(id);
        reject(new Error(`Turn ${id} is ${turn ? turn.state : 'not in the session'}, not ${states.join(' or ')}, after ${timeoutMs} ms${turn?.error ? `: ${turn.error}` : ''}`));
      }, timeoutMs);
      check();
    });
  }

  lastContext(): PromptContext | undefined {
    return this.generation?.context;
  }

  lastGeneration(): GenerationInfo | undefined {
    return this.generation;
  }

  hintsFor(uri: vscode.Uri): HintSnapshot[] {
    const document = this.document(uri);
    if (!document) return [];
    return this.parts.hints.hints(document).map((h) => ({ line: h.line, comment: h.comment, perplexity: h.view.perplexity, level: h.view.level }));
  }

  renderedHintsFor(uri: vscode.Uri): RenderedHint[] {
    return this.document(uri) ? this.parts.observed.renderedHints(uri) : [];
  }

  clearHints(uri: vscode.Uri): void {
    const document = this.document(uri);
    if (document) this.parts.hints.clear(document);
  }

  lastError(): ShownError | undefined {
    return this.shownError;
  }

  clearLastError(): void {
    this.shownError = undefined;
  }

  async restoreSession(): Promise<TurnSnapshot[]> {
    this.generation = undefined;
    await this.parts.flow.restore();
    return this.turns();
  }

  flushSaves(): Promise<void> {
    return this.parts.flow.saved();
  }

  panel(): { readonly resolved: boolean; readonly ready: boolean } {
    return this.parts.observed.panel();
  }

  modelStatus(): ModelStatusView {
    return this.parts.model.status;
  }

  enginePid(): number | undefined {
    return this.parts.engine.pid;
  }

  globalStoragePath(): string {
    return this.parts.globalStoragePath;
  }

  sessionId(): string {
    return this.parts.flow.sessionId;
  }

  private document(uri: vscode.Uri): vscode.TextDocument | undefined {
    return vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
    this.turnChanged.dispose();
    this.streamed.dispose();
    this.errorShown.dispose();
  }
}
