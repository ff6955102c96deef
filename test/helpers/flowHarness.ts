// The turn flow's ports in plain Node, for its tests: the real engine in its own process on the bundled model, a
// real session store in a temp folder, and an in-memory Python document that inserts as the editor does. Each
// port records what the flow did to it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GENERATION_DEFAULTS, type Engine, type PerplexityRequest, type PerplexityResult } from '../../src/protocol/engine';
import { toEngineError } from '../../src/protocol/errors';
import type { ModelStatusView, ToWebview } from '../../src/protocol/webview';
import { editorPromptContext } from '../../src/session/editorContext';
import { buildInsertion, insertionPoint, programAt } from '../../src/session/insertion';
import type { AcceptedHint, EditorPort, FlowSettings, HintPort, InsertedTurn, ModelPort, NoticePort, PendingTurn, ProgramOutcome, ProgramPort } from '../../src/session/ports';
import type { TurnRecord } from '../../src/session/sessionFormat';
import { SessionStore } from '../../src/session/sessionStore';
import { TurnFlow, type FlowTiming } from '../../src/session/turnFlow';
import { EngineClient } from '../../src/worker/engineClient';
import { MODEL_DIR } from './model';

/** The bundled model in an engine process; perplexity calls can be held at a gate (to supersede them mid-way). */
export class TestModel implements ModelPort {
  readonly client = new EngineClient();
  readonly status: ModelStatusView = { state: 'ready', label: 'random test model' };
  readonly statuses: string[] = [];
  private loading: Promise<unknown> | undefined;
  /** While set, every perplexity call waits for it after the engine answered. */
  gate: Promise<void> | undefined;
  /** While set, the model stands for a server that cannot score prompts: no prompt score, and this reason. */
  perplexityUnavailable: string | undefined;
  readonly engine: Engine;

  constructor() {
    const client = this.client;
    const model = this;
    this.engine = {
      load: (o, c) => client.load(o, c),
      tokenize: (t) => client.tokenize(t),
      generate: async (r, c) => {
        const result = await client.generate(r, c);
        return model.perplexityUnavailable ? { ...result, prompt: { perplexity: NaN, tokens: [] } } : result;
      },
      async perplexity(request: PerplexityRequest, signal?: AbortSignal): Promise<PerplexityResult> {
        const result = await client.perplexity(request, signal);
        await model.gate;
        return result;
      },
      dispose: () => client.dispose(),
    };
  }

  ensureLoaded(): Promise<unknown> {
    this.loading ??= this.client.load({ modelDir: MODEL_DIR });
    return this.loading;
  }

  setGenerating(tokensPerSecond?: number): void {
    this.statuses.push(tokensPerSecond === undefined ? 'generating' : 'generating+rate');
  }

  setIdle(): void {
    this.statuses.push('idle');
  }
}

/** A Python document in memory; the cursor at its end. */
export class TestEditor implements EditorPort {
  text = '';
  readonly uri = 'untitled:flow-test.py';
  /** The next insert fails (as a read-only editor's does). */
  refuseNext = false;
  inserts = 0;

  context(prompt: string) {
    return editorPromptContext(this.programText(), prompt);
  }

  programText(turn?: PendingTurn): string {
    return programAt(this.text, this.text.length, turn);
  }

  async insert(prompt: string, code: string, promptAsComment: boolean): Promise<InsertedTurn> {
    if (this.refuseNext) {
      this.refuseNext = false;
      throw new Error(`The editor of ${this.uri} refused the edit (is it read-only?).`);
    }
    const point = insertionPoint(this.text, this.text.length);
    const above = this.text.slice(0, point.offset);
    const insertion = buildInsertion({ above, prompt, code, indent: point.indent, promptAsComment });
    const startLine = above.split('\n').length - 1;
    this.text = above + insertion.text + this.text.slice(point.offset);
    this.inserts++;
    return { documentUri: this.uri, promptLine: insertion.promptLine === undefined ? undefined : startLine + insertion.promptLine, promptComment: insertion.promptComment };
  }
}

/** A program port whose runs wait until the test answers them. */
export class ScriptedProgram implements ProgramPort {
  readonly calls: { program: string; asked: boolean; signal: AbortSignal; answer: (o: ProgramOutcome | undefined) => void }[] = [];
  run(program: string, options: { signal: AbortSignal; asked: boolean }): Promise<ProgramOutcome | undefined> {
    return new Promise((resolve) => this.calls.push({ program, asked: options.asked, signal: options.signal, answer: resolve }));
  }
}

export async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export class TestHints implements HintPort {
  readonly accepted: { documentUri: string; hint: AcceptedHint }[] = [];
  readonly restored: { documentUri: string; turns: readonly Readonly<TurnRecord>[] }[] = [];
  showAccepted(documentUri: string, hint: AcceptedHint): void {
    this.accepted.push({ documentUri, hint });
  }
  restore(documentUri: string, turns: readonly Readonly<TurnRecord>[]): void {
    this.restored.push({ documentUri, turns });
  }
}

export class TestNotice implements NoticePort {
  readonly warnings: string[] = [];
  readonly errors: string[] = [];
  readonly engineFailures: string[] = [];
  warn(message: string): void {
    this.warnings.push(message);
  }
  error(message: string): void {
    this.errors.push(message);
  }
  engineFailed(err: unknown, what: string): void {
    this.engineFailures.push(`${what}: [${toEngineError(err).code}] ${toEngineError(err).message}`);
  }
  errorText(err: unknown): string {
    return toEngineError(err).message;
  }
}

export interface Harness {
  readonly flow: TurnFlow;
  readonly model: TestModel;
  readonly editor: TestEditor;
  readonly hints: TestHints;
  readonly notice: TestNotice;
  readonly store: SessionStore;
  readonly posted: ToWebview[];
  readonly settings: { -readonly [K in keyof FlowSettings]: FlowSettings[K] };
  readonly logs: string[];
  /** Resolves with the turn's record once it is in one of `states` (polls; rejects after `ms`). */
  waitFor(turnId: string, states: readonly string[], ms?: number): Promise<TurnRecord>;
  dispose(): Promise<void>;
}

export function tempSessionFolder(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-flow-'));
}

/** A flow on the test ports; `model` and `storeFolder` may be shared with another harness (a restart). */
export function makeHarness(options: { model?: TestModel; storeFolder?: string; timing?: Partial<FlowTiming>; program?: ProgramPort } = {}): Harness {
  const model = options.model ?? new TestModel();
  const editor = new TestEditor();
  const hints = new TestHints();
  const notice = new TestNotice();
  const logs: string[] = [];
  const store = new SessionStore(options.storeFolder ?? tempSessionFolder(), { log: (w) => logs.push(w) });
  // The paper's sampling: on the bundled model a 2000-token budget then runs out before an end of text (the tests
  // that stop a long generation need it to still be running).
  const settings = { temperature: GENERATION_DEFAULTS.temperature, topP: GENERATION_DEFAULTS.topP, maxNewTokens: 16, thresholds: { low: 8, high: 20 }, insertPromptAsComment: true };
  const log = { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), error: (m: string) => logs.push(m) };
  const timing = { deltaBatchMs: 5, draftDebounceMs: 20, ...options.timing };
  const flow = new TurnFlow({ model, editor, hints, store, notice, log, settings: () => settings, program: options.program, timing });
  const posted: ToWebview[] = [];
  flow.attach({ post: (m) => posted.push(structuredClone(m)) });
  const waitFor = async (turnId: string, states: readonly string[], ms = 30_000): Promise<TurnRecord> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const turn = flow.turns().find((t) => t.id === turnId);
      if (turn && states.includes(turn.state)) return turn;
      if (Date.now() > deadline) throw new Error(`turn ${turnId} is ${turn?.state ?? 'missing'}, not ${states.join(' or ')}, after ${ms} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  return {
    flow, model, editor, hints, notice, store, posted, settings, logs, waitFor,
    dispose: async () => {
      flow.dispose();
      await flow.saved();
      if (!options.model) await model.client.dispose();
    },
  };
}
