// The one place that turns engine errors into UI: a message for the panel, and a notification with the action
// that fixes it (a missing or invalid model offers to choose a folder).
import * as vscode from 'vscode';
import { toEngineError, type EngineError, type EngineErrorCode } from '../protocol/errors';
import { COMMAND } from './contributes';

export const CHOOSE_FOLDER = 'Choose Folder...';
export const SHOW_LOG = 'Show Log';
export const USE_LOCAL_MODEL = 'Use Local Model';

/** An error notification as it was shown: its text and its action buttons. */
export interface ShownError {
  readonly message: string;
  readonly actions: readonly string[];
}

const shownErrors = new vscode.EventEmitter<ShownError>();
/** Fires for every notification showEngineError shows (the test API records them; the UI never listens). */
export const onDidShowEngineError = shownErrors.event;

interface ErrorUi {
  /** Short advice appended to the engine's message. */
  readonly advice: string;
  /** Whether a notification is worth showing (a cancel is not). */
  readonly notify: boolean;
  readonly action?: typeof CHOOSE_FOLDER | typeof SHOW_LOG | typeof USE_LOCAL_MODEL;
}

export function errorUi(code: EngineErrorCode): ErrorUi {
  switch (code) {
    case 'model-not-found':
    case 'invalid-model':
      return { advice: 'Choose a CodeGen ONNX model folder (config.json + onnx/*.onnx).', notify: true, action: CHOOSE_FOLDER };
    case 'model-not-loaded':
      return { advice: 'The model is not loaded: choose a model folder.', notify: true, action: CHOOSE_FOLDER };
    case 'context-too-long':
      return { advice: 'Shorten the prompt or the code before the first prompt comment, or lower codegenMt.maxNewTokens.', notify: true };
    case 'invalid-request':
      return { advice: 'Check the CodeGen settings (temperature, top-p, token budget).', notify: true };
    case 'cancelled':
      return { advice: '', notify: false };
    case 'engine-crashed':
      return { advice: 'Retry starts a fresh engine process.', notify: true, action: SHOW_LOG };
    case 'server-unreachable':
    case 'server-error':
      return { advice: 'Check codegenMt.server.url and the server, or use the local model.', notify: true, action: USE_LOCAL_MODEL };
    case 'unsupported':
      return { advice: '', notify: false };
    case 'internal':
      return { advice: 'See the CodeGen log for details.', notify: true, action: SHOW_LOG };
    default: {
      const unreachable: never = code;
      return unreachable;
    }
  }
}

/** The text the panel shows for a failed turn or model. */
export function errorText(err: unknown): string {
  const e = toEngineError(err);
  const ui = errorUi(e.code);
  return ui.advice ? `${e.message} ${ui.advice}` : e.message;
}

/**
 * One cause, one notification. The errors already notified: one failure reaches several callers (a model load
 * that fails rejects both the settings-change reload and the turn waiting on that same load). And the model
 * errors (Choose Folder...) whose notification is still on screen, by code and message: a turn that fails on the
 * same bad folder just after the reload did gets no second notification (the turn shows its error in the panel).
 */
const notified = new WeakSet<object>();
const openModelErrors = new Set<string>();

/** Logs the error and shows it with its action, if it is worth a notification and was not shown already. */
export async function showEngineError(err: unknown, what: string, log: vscode.LogOutputChannel): Promise<void> {
  const e: EngineError = toEngineError(err);
  log.error(`${what}: [${e.code}] ${e.message}`);
  const ui = errorUi(e.code);
  if (!ui.notify) return;
  if (notified.has(e) || (typeof err === 'object' && err !== null && notified.has(err))) return;
  const cause = ui.action === CHOOSE_FOLDER ? `${e.code}\n${e.message}` : undefined;
  if (cause !== undefined && openModelErrors.has(cause)) return;
  notified.add(e);
  if (typeof err === 'object' && err !== null) notified.add(err);
  const message = `${what}: ${errorText(e)}`;
  shownErrors.fire({ message, actions: ui.action ? [ui.action] : [] });
  if (cause !== undefined) openModelErrors.add(cause);
  let choice: string | undefined;
  try {
    choice = await (ui.action ? vscode.window.showErrorMessage(message, ui.action) : vscode.window.showErrorMessage(message));
  } finally {
    if (cause !== undefined) openModelErrors.delete(cause);
  }
  if (choice === CHOOSE_FOLDER) await vscode.commands.executeCommand(COMMAND.selectModel);
  else if (choice === SHOW_LOG) log.show(true);
  else if (choice === USE_LOCAL_MODEL) await vscode.commands.executeCommand(COMMAND.useLocalModel);
}
