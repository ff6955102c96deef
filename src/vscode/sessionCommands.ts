// The session in VS Code: the turn flow (src/session/turnFlow.ts) wired to its adapters, the panel's messages that
// are commands of the host (choose or download a model, export), and the session commands. The flow itself (the
// turns, the stream, the saves) is not here.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { RECOMMENDED_MODEL } from '../download/recommendedModel';
import { describeSpeculation } from '../protocol/engine';
import type { FromWebview } from '../protocol/webview';
import type { PanelPort } from '../session/ports';
import type { SessionStore } from '../session/sessionStore';
import { TurnFlow, type FlowMessage, type GenerationInfo, type TurnAction } from '../session/turnFlow';
import { TurnTransitionError } from '../session/turnMachine';
import { COMMAND } from './contributes';
import { PYTHON, type EditorTarget } from './editorTarget';
import { hintPort, noticePort, restoreTurnHints } from './flowAdapters';
import type { HintManager } from './hints';
import type { DownloadModelArgs } from './modelDownload';
import type { ModelManager } from './modelManager';
import { registerProgramRunCommands, SandboxProgramRunner } from './programRunner';
import { candidatesPerTurn } from '../session/turnCandidates';
import { flowSettings, fullKey, SETTING, updateEffective } from './settings';

export interface SessionDeps {
  readonly store: SessionStore;
  readonly model: ModelManager;
  readonly target: EditorTarget;
  readonly hints: HintManager;
  readonly log: vscode.LogOutputChannel;
}

/** The panel's messages that run a command of the host rather than a step of the flow. */
type HostMessage = Exclude<FromWebview, FlowMessage>;

function isHostMessage(message: FromWebview): message is HostMessage {
  const host: readonly string[] = ['exportSession', 'chooseModel', 'downloadModel', 'downloadRecommendedModel', 'setCandidatesPerTurn'];
  return host.includes(message.type);
}

/** Every valid message from the panel: to the flow, or to the command it stands for. */
export async function handlePanelMessage(flow: TurnFlow, message: FromWebview): Promise<void> {
  if (!isHostMessage(message)) return flow.handle(message);
  switch (message.type) {
    case 'exportSession':
      await vscode.commands.executeCommand(COMMAND.exportSession);
      return;
    case 'chooseModel':
      await vscode.commands.executeCommand(COMMAND.selectModel);
      return;
    case 'downloadModel':
      await vscode.commands.executeCommand(COMMAND.downloadModel);
      return;
    case 'downloadRecommendedModel': {
      const args: DownloadModelArgs = { repo: RECOMMENDED_MODEL.repo, preferVariants: RECOMMENDED_MODEL.variants };
      await vscode.commands.executeCommand(COMMAND.downloadModel, args);
      return;
    }
    case 'setCandidatesPerTurn':
      // The panel hears back through the configuration change, as it does for an edit in the settings.
      await updateEffective(SETTING.candidatesPerTurn, message.count);
      return;
    default: {
      const unreachable: never = message;
      throw new Error(`Unhandled panel message ${JSON.stringify(unreachable)}`);
    }
  }
}

/** The log line of a finished generation. */
function describeGeneration(g: GenerationInfo): string {
  const s = g.speculation;
  const guesses = s ? `, ${describeSpeculation(s)}` : '';
  return `Turn ${g.turnId}: ${g.stopReason}, ${g.tokens} tokens, seed ${g.seed}, ${g.promptTokens} context tokens (${g.reusedTokens} reused, ${g.droppedTurns} turns dropped), ${Math.round(g.totalMs ?? 0)} ms${guesses}`;
}

async function pickSession(flow: TurnFlow, store: SessionStore): Promise<void> {
  const sessions = await store.list();
  const pick = await vscode.window.showQuickPick(
    sessions.map((s) => ({
      label: s.title,
      description: `${s.turnCount} turn${s.turnCount === 1 ? '' : 's'}${s.id === flow.sessionId ? ' (current)' : ''}`,
      detail: new Date(s.updatedAt).toLocaleString(),
      id: s.id,
    })),
    { title: 'CodeGen: Open Past Session', placeHolder: sessions.length ? 'Sessions of this workspace' : 'No past sessions yet' },
  );
  if (pick) await flow.openSession(pick.id);
}

/** The session's program: its document's text if that document is open, else the accepted turns. */
function sessionProgram(flow: TurnFlow): string {
  const uri = flow.documentUri;
  const document = uri ? vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri) : undefined;
  return document ? document.getText() : flow.acceptedProgram();
}

/** Writes the session's program to `target` (asked for with a save dialog if not given); where it went. */
async function exportSession(flow: TurnFlow, target?: vscode.Uri): Promise<vscode.Uri | undefined> {
  const program = sessionProgram(flow);
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const name = `${flow.title.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '').slice(0, 40) || 'session'}.py`;
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

/** Runs a flow action; a refused one (TurnTransitionError) is a warning, not an error. */
async function warnIfRefused<T>(run: () => Promise<T> | T): Promise<T | undefined> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof TurnTransitionError) void vscode.window.showWarningMessage(err.message);
    else throw err;
    return undefined;
  }
}

function registerTurnCommands(flow: TurnFlow): vscode.Disposable[] {
  // Each acts on the turn whose id is the argument, if one is given, else on the newest turn it applies to.
  const onTurn = (action: TurnAction, run: (id: string) => unknown) => async (arg?: unknown) => {
    const id = typeof arg === 'string' ? arg : flow.newestTurnId(action);
    if (!id) {
      void vscode.window.showInformationMessage(`There is no turn to ${action}.`);
      return;
    }
    await warnIfRefused(() => run(id));
  };
  return [
    // With a prompt argument (a string) no input box is shown; resolves to the new turn's id.
    vscode.commands.registerCommand(COMMAND.submitPrompt, async (arg?: unknown): Promise<string | undefined> => {
      let prompt: string | undefined = typeof arg === 'string' ? arg : flow.draft.trim() ? flow.draft : undefined;
      prompt ??= await vscode.window.showInputBox({ title: 'CodeGen: what should the next step do?', placeHolder: 'e.g. Read the CSV file data.csv into a list of rows.', ignoreFocusOut: true });
      if (!prompt?.trim()) return undefined;
      return warnIfRefused(() => flow.submit(prompt));
    }),
    vscode.commands.registerCommand(COMMAND.acceptTurn, onTurn('accept', (id) => flow.accept(id))),
    vscode.commands.registerCommand(COMMAND.runProgram, () => flow.runProgram()),
    vscode.commands.registerCommand(COMMAND.rejectTurn, onTurn('reject', (id) => flow.reject(id))),
    vscode.commands.registerCommand(COMMAND.regenerateTurn, onTurn('regenerate', (id) => flow.regenerate(id))),
    vscode.commands.registerCommand(COMMAND.stopGeneration, onTurn('stop', (id) => flow.stop(id))),
  ];
}

function registerSessionCommands(flow: TurnFlow, store: SessionStore): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand(COMMAND.newSession, () => flow.newSession()),
    // With a session id (a string) no pick is shown.
    vscode.commands.registerCommand(COMMAND.openSession, (arg?: unknown) => (typeof arg === 'string' ? flow.openSession(arg) : pickSession(flow, store))),
    // With a target (a Uri or a file path) no save dialog is shown; resolves to where the program was written.
    vscode.commands.registerCommand(COMMAND.exportSession, (arg?: unknown) =>
      exportSession(flow, arg instanceof vscode.Uri ? arg : typeof arg === 'string' && arg ? vscode.Uri.file(arg) : undefined),
    ),
  ];
}

/** The turn flow on VS Code's adapters, the session commands, and the session restored from the store. */
export function registerSessions(context: vscode.ExtensionContext, deps: SessionDeps, panel: PanelPort): TurnFlow {
  const runner = new SandboxProgramRunner(context.workspaceState);
  const flow = new TurnFlow({
    program: runner.port,
    model: deps.model,
    editor: deps.target,
    hints: hintPort(deps.hints),
    store: deps.store,
    notice: noticePort(deps.log),
    log: deps.log,
    settings: flowSettings,
  });
  flow.attach(panel);
  const restored = flow.restore();
  // The session's hints come back whenever its Python document is opened or shown again.
  const restoreHints = (documents: readonly vscode.TextDocument[]): void => {
    const python = documents.filter((d) => d.languageId === PYTHON);
    if (python.length === 0) return;
    void restored.then(() => {
      const uri = flow.documentUri;
      if (uri) restoreTurnHints(deps.hints, uri, flow.turns(), python);
    });
  };
  const stopLogging = flow.onGeneration((g) => g.stopReason !== undefined && deps.log.info(describeGeneration(g)));
  context.subscriptions.push(
    { dispose: () => (stopLogging(), flow.dispose()) },
    deps.model.onDidChangeStatus((model) => panel.post({ type: 'model', model })),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(fullKey(SETTING.candidatesPerTurn))) panel.post({ type: 'candidatesPerTurn', count: candidatesPerTurn(flowSettings()) });
    }),
    vscode.workspace.onDidOpenTextDocument((d) => restoreHints([d])),
    vscode.window.onDidChangeVisibleTextEditors((editors) => restoreHints(editors.map((e) => e.document))),
    ...registerTurnCommands(flow),
    ...registerSessionCommands(flow, deps.store),
    ...registerProgramRunCommands(runner),
  );
  return flow;
}
