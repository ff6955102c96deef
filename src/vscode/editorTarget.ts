// The editor a session writes into: the last active Python text editor. It gives the text above the cursor (the
// context of a new turn) and inserts accepted turns as one undoable edit.
import * as vscode from 'vscode';
import { editorPromptContext } from '../session/editorContext';
import { buildInsertion, insertionPoint, positionAfter, programAt } from '../session/insertion';
import type { PromptContext } from '../protocol/engine';
import type { EditorPort, InsertedTurn, PendingTurn } from '../session/ports';

export const PYTHON = 'python';

/** The session's editor port (src/session/ports.ts) in VS Code. */
export class EditorTarget implements EditorPort, vscode.Disposable {
  private last: vscode.TextEditor | undefined;
  private readonly subscription: vscode.Disposable;

  constructor() {
    this.remember(vscode.window.activeTextEditor);
    this.subscription = vscode.window.onDidChangeActiveTextEditor((e) => this.remember(e));
  }

  private remember(editor: vscode.TextEditor | undefined): void {
    if (editor && editor.document.languageId === PYTHON && !editor.document.isClosed) this.last = editor;
  }

  /** The target editor: the active Python editor, else the last one (re-shown if it was hidden); none if closed. */
  async editor(): Promise<vscode.TextEditor | undefined> {
    const active = vscode.window.activeTextEditor;
    if (active && active.document.languageId === PYTHON) return (this.last = active);
    const last = this.last;
    if (!last || last.document.isClosed) return undefined;
    const visible = vscode.window.visibleTextEditors.find((e) => e.document === last.document);
    if (visible) return visible;
    return (this.last = await vscode.window.showTextDocument(last.document, { preserveFocus: true, preview: false, selection: last.selection }));
  }

  /** The document (if any) whose text above the cursor is the context of a new turn, without showing anything. */
  private peek(): vscode.TextEditor | undefined {
    const active = vscode.window.activeTextEditor;
    if (active && active.document.languageId === PYTHON) return active;
    return this.last && !this.last.document.isClosed ? this.last : undefined;
  }

  /** The context of a new turn: the target document's text above the insertion point, then the prompt. */
  context(prompt: string): PromptContext {
    const editor = this.peek();
    if (!editor) return editorPromptContext('', prompt);
    const text = editor.document.getText();
    const point = insertionPoint(text, editor.document.offsetAt(editor.selection.active));
    return editorPromptContext(text.slice(0, point.offset), prompt);
  }

  /** The program so far: the target document's text above the insertion point (with `turn` inserted there). */
  programText(turn?: PendingTurn): string {
    const editor = this.peek();
    if (!editor) return programAt('', 0, turn);
    return programAt(editor.document.getText(), editor.document.offsetAt(editor.selection.active), turn);
  }

  /**
   * Inserts an accepted turn at the cursor of the target editor (a new untitled Python document if there is
   * none) as one undoable edit, and puts the cursor after it.
   */
  async insert(prompt: string, code: string, promptAsComment: boolean): Promise<InsertedTurn> {
    let editor = await this.editor();
    if (!editor) {
      const document = await vscode.workspace.openTextDocument({ language: PYTHON });
      editor = await vscode.window.showTextDocument(document, { preview: false });
      this.last = editor;
    }
    const document = editor.document;
    const text = document.getText();
    const point = insertionPoint(text, document.offsetAt(editor.selection.active));
    const insertion = buildInsertion({ above: text.slice(0, point.offset), prompt, code, indent: point.indent, promptAsComment });
    const start = document.positionAt(point.offset);
    const done = await editor.edit((edit) => edit.insert(start, insertion.text), { undoStopBefore: true, undoStopAfter: true });
    if (!done) throw new Error(`The editor of ${document.uri.toString(true)} refused the edit (is it read-only?).`);
    const end = positionAfter(start, insertion.text);
    const cursor = new vscode.Position(end.line, end.character);
    editor.selection = new vscode.Selection(cursor, cursor);
    editor.revealRange(new vscode.Range(cursor, cursor), vscode.TextEditorRevealType.InCenterIfOutsideViewport);
    return {
      documentUri: document.uri.toString(),
      promptLine: insertion.promptLine === undefined ? undefined : start.line + insertion.promptLine,
      promptComment: insertion.promptComment && (point.indent + insertion.promptComment).trim(),
    };
  }

  dispose(): void {
    this.subscription.dispose();
  }
}
