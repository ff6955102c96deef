// Perplexity hints follow their comment lines through edits: each edit shifts the hints below it, and a hint
// whose line no longer holds its comment is dropped. Plain data, so the editor glue stays thin.
import { countNewlines, type TextPosition } from './insertion';
import { formatPrompt } from './paperFormat';

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

/**
 * Where the prompt comments of a session's accepted turns stand in a document (to put their hints back after a
 * reload): each comment (trimmed, as LineHint.comment) is looked for below the previous one found, first match
 * wins; a comment that is no longer there gets undefined and the next one is looked for from the same place.
 */
export function findCommentLines(lines: readonly string[], comments: readonly string[]): (number | undefined)[] {
  const trimmed = lines.map((l) => l.trim());
  let from = 0;
  return comments.map((comment) => {
    const wanted = comment.trim();
    if (wanted === '') return undefined;
    const line = trimmed.indexOf(wanted, from);
    if (line === -1) return undefined;
    from = line + 1;
    return line;
  });
}

/** The comment line a turn's prompt starts with in the editor (its first `# ...` line, trimmed). */
export function promptCommentLine(prompt: string): string {
  return formatPrompt(prompt).split('\n')[0].trim();
}

export interface TurnForHint<V> {
  readonly prompt: string;
  readonly state: string;
  readonly perplexity?: V;
}

/**
 * The hints of a session's accepted turns in a document's lines: every accepted turn's prompt comment is
 * looked for in order (findCommentLines), and those found whose perplexity is known get a hint on their line.
 */
export function acceptedTurnHints<V>(lines: readonly string[], turns: readonly TurnForHint<V>[]): (LineHint & { readonly view: V })[] {
  const accepted = turns.filter((t) => t.state === 'accepted');
  const comments = accepted.map((t) => promptCommentLine(t.prompt));
  const found = findCommentLines(lines, comments);
  const hints: (LineHint & { readonly view: V })[] = [];
  accepted.forEach((turn, i) => {
    const line = found[i];
    if (line !== undefined && turn.perplexity !== undefined) hints.push({ line, comment: comments[i], view: turn.perplexity });
  });
  return hints;
}
