// Perplexity hints in the editor: each scored prompt comment shows `ppl N` after its line, coloured by level, with
// a hover that explains it. Hints follow their lines through edits (hintLines.ts) and are off when
// `codegenMt.hints.enabled` is false. Also the Score Prompt Comments and Toggle Hints commands.
import * as vscode from 'vscode';
import type { Engine } from '../protocol/engine';
import { EngineError } from '../protocol/errors';
import type { PerplexityLevel, PromptPerplexityView } from '../protocol/webview';
import { commentLinesToScore, commentPromptContext } from '../session/editorContext';
import { updateHints, type LineHint } from '../session/hintLines';
import { formatPerplexity, perplexityExplanation, perplexityView } from '../session/perplexityView';
import { COMMAND } from './contributes';
import { showEngineError } from './errors';
import { fullKey, hintsEnabled, perplexityThresholds, SETTING, updateEffective } from './settings';
import { PYTHON } from './editorTarget';


export interface PerplexityHint extends LineHint {
  readonly view: PromptPerplexityView;
  /** Set when the model could not score the prompt (a server without log-probabilities): why; shown as `ppl n/a`. */
  readonly unavailable?: string;
}

/** The hint of a prompt the model cannot score: `ppl n/a`, its hover saying why. */
export function unavailableHint(line: number, comment: string, reason: string): PerplexityHint {
  return { line, comment, view: { perplexity: NaN, level: 'medium', surprising: [] }, unavailable: reason };
}

/** Puts one level's hint decorations on an editor (replacing that level's previous ones). */
export type HintDecorator = (
  editor: vscode.TextEditor,
  type: vscode.TextEditorDecorationType,
  level: PerplexityLevel,
  options: readonly vscode.DecorationOptions[],
) => void;

const setDecorations: HintDecorator = (editor, type, _level, options) => editor.setDecorations(type, options);

const COLORS: { readonly [L in PerplexityLevel]: string } = {
  low: 'testing.iconPassed',
  medium: 'editorWarning.foreground',
  high: 'editorError.foreground',
};

export class HintManager implements vscode.Disposable {
  private readonly byDocument = new Map<string, PerplexityHint[]>();
  private readonly types: { readonly [L in PerplexityLevel]: vscode.TextEditorDecorationType };
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly decorate: HintDecorator = setDecorations) {
    const type = (level: PerplexityLevel): vscode.TextEditorDecorationType =>
      vscode.window.createTextEditorDecorationType({
        after: { color: new vscode.ThemeColor(COLORS[level]), margin: '0 0 0 1em', fontStyle: 'italic' },
        rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
      });
    this.types = { low: type('low'), medium: type('medium'), high: type('high') };
    this.subscriptions.push(
      vscode.workspace.onDidChangeTextDocument((e) => this.onChange(e)),
      vscode.workspace.onDidCloseTextDocument((d) => this.byDocument.delete(d.uri.toString())),
      vscode.window.onDidChangeVisibleTextEditors((editors) => editors.forEach((e) => this.render(e))),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(fullKey(SETTING.hintsEnabled))) this.renderAll();
      }),
    );
  }

  /** Adds (or replaces) the hints on these lines of the document. */
  set(document: vscode.TextDocument, hints: readonly PerplexityHint[]): void {
    const key = document.uri.toString();
    const lines = new Set(hints.map((h) => h.line));
    const kept = (this.byDocument.get(key) ?? []).filter((h) => !lines.has(h.line));
    this.byDocument.set(key, [...kept, ...hints]);
    this.renderDocument(document);
  }

  /** Drops every hint of the document (the test API uses it to stand for a reload). */
  clear(document: vscode.TextDocument): void {
    this.byDocument.delete(document.uri.toString());
    this.renderDocument(document);
  }

  hints(document: vscode.TextDocument): readonly PerplexityHint[] {
    return this.byDocument.get(document.uri.toString()) ?? [];
  }

  private onChange(e: vscode.TextDocumentChangeEvent): void {
    const key = e.document.uri.toString();
    const hints = this.byDocument.get(key);
    if (!hints?.length || e.contentChanges.length === 0) return;
    const changes = e.contentChanges.map((c) => ({ start: c.range.start, end: c.range.end, text: c.text }));
    const lineCount = e.document.lineCount;
    const updated = updateHints(hints, changes, (line) => (line < lineCount ? e.document.lineAt(line).text : undefined));
    this.byDocument.set(key, updated);
    this.renderDocument(e.document);
  }

  private renderAll(): void {
    for (const editor of vscode.window.visibleTextEditors) this.render(editor);
  }

  private renderDocument(document: vscode.TextDocument): void {
    for (const editor of vscode.window.visibleTextEditors) if (editor.document === document) this.render(editor);
  }

  private render(editor: vscode.TextEditor): void {
    const hints = hintsEnabled() ? (this.byDocument.get(editor.document.uri.toString()) ?? []) : [];
    for (const level of ['low', 'medium', 'high'] as const) {
      const options = hints
        .filter((h) => h.view.level === level && h.line < editor.document.lineCount)
        .map((h): vscode.DecorationOptions => {
          const hover = new vscode.MarkdownString(h.unavailable ?? perplexityExplanation(h.view));
          const text = h.unavailable ? 'ppl n/a' : formatPerplexity(h.view.perplexity);
          return {
            range: editor.document.lineAt(h.line).range,
            hoverMessage: hover,
            renderOptions: { after: { contentText: `  ${text}` } },
          };
        });
      this.decorate(editor, this.types[level], level, options);
    }
  }

  dispose(): void {
    for (const d of this.subscriptions) d.dispose();
    for (const t of Object.values(this.types)) t.dispose();
    this.byDocument.clear();
  }
}

async function scorePromptComments(hints: HintManager, engine: () => Promise<Engine>, log: vscode.LogOutputChannel): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.languageId !== PYTHON) {
    void vscode.window.showInformationMessage('Open a Python file to score its prompt comments.');
    return;
  }
  const document = editor.document;
  const version = document.version;
  const comments = commentLinesToScore(document.getText());
  if (comments.length === 0) {
    void vscode.window.showInformationMessage('No prompt comments here: a prompt comment is a # line followed by code.');
    return;
  }
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'CodeGen: scoring prompt comments', cancellable: true },
    async (progress, token) => {
      const controller = new AbortController();
      const cancel = token.onCancellationRequested(() => controller.abort());
      const scored: PerplexityHint[] = [];
      try {
        const model = await engine();
        for (const [i, comment] of comments.entries()) {
          if (token.isCancellationRequested) break;
          progress.report({ message: `${i + 1} of ${comments.length}`, increment: 100 / comments.length });
          const result = await model.perplexity({ context: commentPromptContext(comment) }, controller.signal);
          scored.push({ line: comment.line, comment: comment.text.trim(), view: perplexityView(result, perplexityThresholds()) });
        }
      } catch (err) {
        if (err instanceof EngineError && err.code === 'unsupported') {
          // The server cannot score prompts: every comment says so, and why.
          scored.splice(0, scored.length, ...comments.map((c) => unavailableHint(c.line, c.text.trim(), err.message)));
          void vscode.window.showInformationMessage(err.message);
        } else if (!token.isCancellationRequested) await showEngineError(err, 'Could not score the prompt comments', log);
      } finally {
        cancel.dispose();
      }
      // Lines moved while scoring: the hints would land on the wrong lines.
      if (document.version !== version) {
        void vscode.window.showWarningMessage('The file changed while its comments were scored: run the command again.');
        return;
      }
      hints.set(document, scored);
      if (!hintsEnabled() && scored.length > 0) {
        const show = await vscode.window.showInformationMessage(`Scored ${scored.length} prompt comments; hints are turned off.`, 'Turn On Hints');
        if (show) await updateEffective(SETTING.hintsEnabled, true);
      }
    },
  );
}

/** The hint manager and its two commands. */
export function registerHints(
  context: vscode.ExtensionContext,
  engine: () => Promise<Engine>,
  log: vscode.LogOutputChannel,
  decorate?: HintDecorator,
): HintManager {
  const hints = new HintManager(decorate);
  context.subscriptions.push(
    hints,
    vscode.commands.registerCommand(COMMAND.scorePromptComments, () => scorePromptComments(hints, engine, log)),
    vscode.commands.registerCommand(COMMAND.toggleHints, () => updateEffective(SETTING.hintsEnabled, !hintsEnabled())),
  );
  return hints;
}
