// Perplexity hints follow their comment lines through edits: each edit shifts the hints below it, and a hint
// whose line no longer holds its comment is dropped. Plain data, so the editor glue stays thin.
import { countNewlines, type TextPosition } from './insertion';

export interface LineHint {
  readonly line: number;
  /** The comment line's text (trimmed) when the hint was made. */
  readonly comment: string;
}

export interface LineChange {
  readonly start: TextPosition;
  readonly end: TextPosition;
  readonly text: string;
}

/** One change applied to a hint's line, or undefined if the change swallowed the line. */
export function shiftLine(line: number, change: LineChange): number | undefined {
  const added = countNewlines(change.text);
  const delta = added - (change.end.line - change.start.line);
  if (line > change.end.line) return line + delta;
  if (line < change.start.line) return line;
  // Text inserted at the very start of the line pushes it down.
  if (line === change.start.line && change.start.character === 0 && change.end.line === line && change.end.character === 0) {
    return line + added;
  }
  if (line === change.start.line) return line;
  // Inside a replaced range: the line may survive at the end of the replacement (a line joined with its
  // predecessor); let the text check decide.
  return change.start.line + added;
}

/** Hints after a list of changes (applied in order, as VS Code reports them), then checked against the text. */
export function updateHints<T extends LineHint>(
  hints: readonly T[],
  changes: readonly LineChange[],
  lineText: (line: number) => string | undefined,
): T[] {
  const result: T[] = [];
  for (const hint of hints) {
    let line: number | undefined = hint.line;
    for (const change of changes) {
      if (line === undefined) break;
      line = shiftLine(line, change);
    }
    if (line === undefined) continue;
    if (lineText(line)?.trim() !== hint.comment) continue;
    result.push({ ...hint, line });
  }
  return result;
}
