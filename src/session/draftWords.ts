// The draft's surprising words as the panel offers to reword them: each token of the model's prompt (`# draft\n`,
// paperFormat.ts) mapped back to its span in the text the user typed, with the model's alternatives at that
// position turned into replacements of that span. Words that are not the user's (the `#`, the newline) are dropped.
import type { TokenSurprisal } from '../protocol/engine';
import type { SurprisingWord } from '../protocol/webview';
import { formatPrompt, promptOffsets } from './paperFormat';

/** How a scored prompt lies over the draft it was formatted from. */
export interface DraftMap {
  readonly draft: string;
  /** formatPrompt(draft): the prompt string the token spans are in. */
  readonly prompt: string;
  readonly offsets: Int32Array;
}

export function draftMap(draft: string): DraftMap {
  return { draft, prompt: formatPrompt(draft), offsets: promptOffsets(draft) };
}

/** The token as a word of the draft (its visible text, span and replacements), or undefined if it is not in the draft. */
export function draftWord(token: TokenSurprisal, map: DraftMap): SurprisingWord | undefined {
  const { offsets } = map;
  const text = token.text.trim();
  const visibleStart = token.start + (token.text.length - token.text.trimStart().length);
  const visibleEnd = visibleStart + text.length;
  if (text === '' || visibleEnd > offsets.length) return undefined;
  const first = offsets[visibleStart];
  // The visible text must be the draft's own characters, in one piece (not the `# `, not across a line break).
  if (first < 0 || offsets[visibleEnd - 1] !== first + text.length - 1) return undefined;
  // The token's whitespace around the word, as far as it is the draft's (the space after `# ` is the format's).
  let start = visibleStart;
  while (start > token.start && offsets[start - 1] >= 0 && offsets[start - 1] === offsets[start] - 1) start--;
  let end = visibleEnd;
  while (end < token.end && offsets[end] >= 0 && offsets[end] === offsets[end - 1] + 1) end++;
  const span = { start: offsets[start], end: offsets[end - 1] + 1 };
  const replaced = map.draft.slice(span.start, span.end);
  const format = { before: map.prompt.slice(token.start, start), after: map.prompt.slice(end, token.end) };
  const alternatives = replacements(token, replaced, format);
  return { text, surprisal: token.surprisal, ...span, ...(alternatives.length > 0 ? { alternatives } : {}) };
}

/**
 * The token's alternatives as replacements of its span in the draft: only those that stand as words where it
 * stands (a space before them exactly when the token has one: a piece that would glue onto the word before is not
 * a rewording), without what the format adds around the span, on one line, each once, none the same as the span.
 */
function replacements(token: TokenSurprisal, replaced: string, format: { before: string; after: string }): string[] {
  const spaced = /^\s/.test(token.text);
  const out: string[] = [];
  for (const alternative of token.alternatives ?? []) {
    if (/^\s/.test(alternative.text) !== spaced) continue;
    let text = alternative.text;
    if (format.before && text.startsWith(format.before)) text = text.slice(format.before.length);
    if (format.after && text.endsWith(format.after)) text = text.slice(0, text.length - format.after.length);
    if (text.trim() === '' || /[\r\n]/.test(text) || text === replaced || out.includes(text)) continue;
    out.push(text);
  }
  return out;
}
