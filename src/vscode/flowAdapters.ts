// The turn flow's ports (src/session/ports.ts) in VS Code: hints through the HintManager, notices as
// notifications. The editor port is EditorTarget (editorTarget.ts), the model port the ModelManager, the store
// the SessionStore itself.
import * as vscode from 'vscode';
import { acceptedTurnHints } from '../session/hintLines';
import { scoreView } from '../session/perplexityView';
import type { HintPort, NoticePort } from '../session/ports';
import type { TurnRecord } from '../session/sessionFormat';
import { errorText, showEngineError } from './errors';
import { unavailableHint, type HintManager } from './hints';
import { perplexityThresholds } from './settings';

function openDocuments(uri: string): vscode.TextDocument[] {
  return vscode.workspace.textDocuments.filter((d) => d.uri.toString() === uri && !d.isClosed);
}

/**
 * Puts the hints of a session's accepted turns back on their prompt comments in `documents` that are the session's
 * (hints live only in memory, so a reload loses them). Only where a document has no hint yet: a fresher one (from
 * Score Prompt Comments) is kept.
 */
export function restoreTurnHints(hints: HintManager, documentUri: string, turns: readonly Readonly<TurnRecord>[], documents: readonly vscode.TextDocument[]): void {
  const thresholds = perplexityThresholds();
  for (const document of documents) {
    if (document.uri.toString() !== documentUri || document.isClosed) continue;
    const lines = Array.from({ length: document.lineCount }, (_, i) => document.lineAt(i).text);
    const taken = new Set(hints.hints(document).map((h) => h.line));
    const found = acceptedTurnHints(lines, turns).filter((h) => !taken.has(h.line));
    if (found.length > 0) hints.set(document, found.map((h) => ({ line: h.line, comment: h.comment, view: scoreView(h.view, thresholds) })));
  }
}

export function hintPort(hints: HintManager): HintPort {
  return {
    showAccepted(documentUri, hint) {
      const shown = hint.score
        ? { line: hint.line, comment: hint.comment, view: scoreView(hint.score, perplexityThresholds()) }
        : unavailableHint(hint.line, hint.comment, hint.unavailable ?? 'No perplexity for this prompt.');
      for (const document of openDocuments(documentUri)) hints.set(document, [shown]);
    },
    restore(documentUri, turns) {
      restoreTurnHints(hints, documentUri, turns, openDocuments(documentUri));
    },
  };
}

export function noticePort(log: vscode.LogOutputChannel): NoticePort {
  return {
    warn: (message) => void vscode.window.showWarningMessage(message),
    error: (message) => void vscode.window.showErrorMessage(message),
    // Not shown again if it is a model load failure already notified (the load was started by a settings change).
    engineFailed: (err, what) => void showEngineError(err, what, log),
    errorText,
  };
}
