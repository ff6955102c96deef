// The context of a new turn, taken from the program as it stands in the editor: everything above the insertion
// point (earlier prompts as `#` comments, their accepted code, and whatever the user edited or wrote by hand),
// then the new prompt in the paper's format. The text above is split into a header (kept) and turns (dropped
// oldest first when the context is too long) at top-level comment lines that start a block.
import type { PromptContext } from '../protocol/engine';
import { separatorBefore } from './insertion';
import { formatPrompt } from './paperFormat';

/** Offsets where a droppable block starts: a column-0 `#` line (not the first line) after a blank line. */
export function blockStarts(text: string): number[] {
  const starts: number[] = [];
  let previousBlank = false;
  let offset = 0;
  for (const line of text.split('\n')) {
    if (offset > 0 && previousBlank && line.startsWith('#')) starts.push(offset);
    previousBlank = /^[ \t\r]*$/.test(line);
    offset += line.length + 1;
  }
  return starts.filter((s) => s < text.length);
}

/** `text` as header + turns: `header + turns.join('') === text`. */
export function splitHistory(text: string): { header: string; turns: string[] } {
  const starts = blockStarts(text);
  if (starts.length === 0) return { header: text, turns: [] };
  const turns: string[] = [];
  for (let i = 0; i < starts.length; i++) turns.push(text.slice(starts[i], starts[i + 1] ?? text.length));
  return { header: text.slice(0, starts[0]), turns };
}

/**
 * The context for `prompt` inserted below `above` (the document's text above the insertion point):
 * `header + turns.join('') + prompt` is exactly the text the editor holds after the turn is accepted, up to
 * and including the prompt's comment line (for a prompt at column 0; see insertion.ts).
 */
export function editorPromptContext(above: string, prompt: string): PromptContext {
  const { header, turns } = splitHistory(above + separatorBefore(above));
  return { header, turns, prompt: formatPrompt(prompt) };
}

export interface CommentToScore {
  /** Zero-based line of the comment in the text. */
  readonly line: number;
  /** The comment line as it stands (with its indentation). */
  readonly text: string;
  /** Everything above the comment line. */
  readonly above: string;
}

/**
 * Every comment line (at any indentation) whose next non-blank line is code, not another comment; the first
 * line's `#!` and comments with no words are left out. Each with the text above it, for scoring.
 */
export function commentLinesToScore(text: string): CommentToScore[] {
  const lines = text.split('\n');
  const result: CommentToScore[] = [];
  let offset = 0;
  const isComment = (l: string): boolean => /^[ \t]*#/.test(l);
  const isBlank = (l: string): boolean => /^[ \t\r]*$/.test(l);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, '');
    const start = offset;
    offset += lines[i].length + 1;
    if (!isComment(line) || (i === 0 && line.startsWith('#!')) || !/[^#\s]/.test(line)) continue;
    let j = i + 1;
    while (j < lines.length && isBlank(lines[j])) j++;
    if (j >= lines.length || isComment(lines[j])) continue;
    result.push({ line: i, text: line, above: text.slice(0, start) });
  }
  return result;
}

/** The context that scores a comment line as a prompt given the text above it (the line as it stands + `\n`). */
export function commentPromptContext(comment: CommentToScore): PromptContext {
  const { header, turns } = splitHistory(comment.above);
  return { header, turns, prompt: `${comment.text}\n` };
}
