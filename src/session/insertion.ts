// Where an accepted turn goes in the editor and exactly what text is inserted there. The one rule shared with
// editorContext.ts: the context the model saw for a turn is the text the editor holds after the turn is inserted
// (up to the prompt), so that the next turn is conditioned on the program as it really stands.
import { formatPrompt } from './paperFormat';

/** A place in a document, in the editor's terms (zero-based line, UTF-16 character). */
export interface TextPosition {
  readonly line: number;
  readonly character: number;
}

/** Where a turn is inserted: an offset into the document's text, and the indentation its lines get. */
export interface InsertionPoint {
  readonly offset: number;
  readonly indent: string;
}

/**
 * The insertion point for a cursor: the start of the cursor's line if only whitespace precedes the cursor on it
 * (that whitespace becomes the indentation), else the start of the next line with the indentation of the
 * cursor's line (the end of the document if there is no next line). A turn never splits a line.
 */
export function insertionPoint(text: string, cursorOffset: number): InsertionPoint {
  const cursor = Math.max(0, Math.min(cursorOffset, text.length));
  const lineStart = text.lastIndexOf('\n', cursor - 1) + 1;
  const before = text.slice(lineStart, cursor);
  if (/^[ \t]*$/.test(before)) return { offset: lineStart, indent: before };
  const indent = /^[ \t]*/.exec(before)![0];
  const newline = text.indexOf('\n', cursor);
  return { offset: newline === -1 ? text.length : newline + 1, indent };
}

/**
 * What goes between the text above the insertion point and a new prompt so that the prompt starts a block the
 * way the paper's format does (`...code\n\n# prompt\n`): nothing for an empty document or one that already ends
 * in a blank line, `\n` after a line end, `\n\n` after a line without one.
 */
export function separatorBefore(above: string): string {
  if (above === '') return '';
  if (!above.endsWith('\n')) return '\n\n';
  const withoutLast = above.slice(0, -1);
  const lastLine = withoutLast.slice(withoutLast.lastIndexOf('\n') + 1);
  // A document that is only line ends, or whose last line is blank, already separates.
  return withoutLast === '' || /^[ \t\r]*$/.test(lastLine) ? '' : '\n';
}

/** Every non-empty line of `text` prefixed with `indent` (blank lines stay empty). */
export function indentLines(text: string, indent: string): string {
  if (!indent) return text;
  return text
    .split('\n')
    .map((line) => (line.trim() === '' ? line.replace(/[ \t]+$/, '') : indent + line))
    .join('\n');
}

/** The model's code without the blank lines and trailing whitespace at its end (the turn adds its own `\n\n`). */
export function normalizeCode(code: string): string {
  return code.replace(/\r\n?/g, '\n').replace(/\s+$/, '');
}

export interface InsertionRequest {
  /** The document's text above the insertion point. */
  readonly above: string;
  readonly prompt: string;
  readonly code: string;
  readonly indent: string;
  /** Insert the prompt as `# ...` comment lines above the code (setting `codegenMt.insertPromptAsComment`). */
  readonly promptAsComment: boolean;
}

export interface Insertion {
  /** The text to insert at the insertion point. */
  readonly text: string;
  /** The line, counted from the insertion point's line, of the prompt's first comment line (none without one). */
  readonly promptLine?: number;
  /** The prompt's comment text as it stands in the document on promptLine (without indentation). */
  readonly promptComment?: string;
}

/**
 * The text of an accepted turn: separator, the prompt as comment lines (optional), the code, and `\n\n`, so
 * that the next turn's context ends `...code\n\n` as in the paper. Every line gets the insertion point's
 * indentation (the model writes column-0 Python).
 */
export function buildInsertion(request: InsertionRequest): Insertion {
  const separator = separatorBefore(request.above);
  const comment = request.promptAsComment ? indentLines(formatPrompt(request.prompt), request.indent) : '';
  const code = normalizeCode(request.code);
  const body = code === '' ? '' : `${indentLines(code, request.indent)}\n`;
  const text = `${separator}${comment}${body}\n`;
  if (!request.promptAsComment) return { text };
  const promptLine = countNewlines(separator);
  return { text, promptLine, promptComment: formatPrompt(request.prompt).split('\n')[0] };
}

/** The document's text above the insertion point for `cursorOffset`, with `turn` inserted there if given. */
export function programAt(text: string, cursorOffset: number, turn?: { prompt: string; code: string; promptAsComment: boolean }): string {
  const point = insertionPoint(text, cursorOffset);
  const above = text.slice(0, point.offset);
  return turn ? above + buildInsertion({ above, indent: point.indent, ...turn }).text : above;
}

export function countNewlines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** Where the cursor is after inserting `text` at `start` (line ends counted as `\n`, whatever the document's EOL). */
export function positionAfter(start: TextPosition, text: string): TextPosition {
  const lines = countNewlines(text);
  const last = text.length - (text.lastIndexOf('\n') + 1);
  return lines === 0 ? { line: start.line, character: start.character + last } : { line: start.line + lines, character: last };
}
