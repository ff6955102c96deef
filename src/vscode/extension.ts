// The extension's entry point: activate() only wires the parts together; each part registers its own commands
// and listeners and puts every disposable into context.subscriptions.
import * as vscode from 'vscode';
import { SessionStore } from '../session/sessionStore';
import type { TurnFlow } from '../session/turnFlow';
import { EngineClient } from '../worker/engineClient';
import { EditorTarget } from './editorTarget';
import { registerHints } from './hints';
import { registerModelDownload } from './modelDownload';
import { COMMAND } from './contributes';
import { registerMtpbCommand } from './mtpbCommand';
import type { ModelManager } from './modelManager';
import { registerModel } from './modelPicker';
import { PanelProvider } from './panelProvider';
import { handlePanelMessage, registerSessions } from './sessionCommands';
import { Observations, TestApi, type CodegenMtApi } from './testApi';

export type { CodegenMtApi };

export const LOG_CHANNEL_NAME = 'CodeGen';

/** Kept only so that deactivate() can finish the session's saves, end the engine process and wait for both. */
let activeModel: ModelManager | undefined;
let activeFlow: TurnFlow | undefined;

/** Returns the test API (src/vscode/testApi.ts) that the integration tests drive the extension with. */
export function activate(context: vscode.ExtensionContext): CodegenMtApi {
  const log = vscode.window.createOutputChannel(LOG_CHANNEL_NAME, { log: true });
  context.subscriptions.push(log);
  const observed = new Observations();
  const engine = new EngineClient({ log: (line) => log.info(line) });
  const model = registerModel(context, log, engine);
  activeModel = model;
  registerModelDownload(context, model, log);
  registerMtpbCommand(context, model, log);
  const hints = registerHints(context, () => model.ensureLoaded().then(() => model.engine), log, observed.decorator);
  const target = new EditorTarget();
  context.subscriptions.push(target);
  const store = new SessionStore((context.storageUri ?? context.globalStorageUri).fsPath, { log: (w) => log.warn(w) });
  let flow: TurnFlow | undefined;
  const panel = registerPanel(context, observed.messages((message) => void (flow && handlePanelMessage(flow, message))), log, observed);
  flow = registerSessions(context, { store, model, target, hints, log }, panel);
  activeFlow = flow;
  const api = new TestApi({ flow, hints, model, engine, observed, globalStoragePath: context.globalStorageUri.fsPath });
  context.subscriptions.push(api);
  flow.attach(api.observe(panel));
  return api;
}

function registerPanel(
  context: vscode.ExtensionContext,
  onMessage: ConstructorParameters<typeof PanelProvider>[1],
  log: vscode.LogOutputChannel,
  observed: Observations,
): PanelProvider {
  const panel = new PanelProvider(context.extensionUri, onMessage, log);
  context.subscriptions.push(
    panel,
    vscode.window.registerWebviewViewProvider(PanelProvider.viewType, observed.provider(panel)),
    vscode.commands.registerCommand(COMMAND.focusPanel, () => panel.focus()),
  );
  return panel;
}

export async function deactivate(): Promise<void> {
  await activeFlow?.saved();
  activeFlow = undefined;
  await activeModel?.shutdown();
  activeModel = undefined;
}
