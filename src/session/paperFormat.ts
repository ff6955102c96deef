// The multi-turn format of the CodeGen paper (MTPB): a header, then for each turn `# {prompt}\n`, the turn's
// code and `\n\n`; the model continues after the newest `# {prompt}\n`. The one place that knows this format.
import type { PromptContext } from '../protocol/engine';

/** The paper's MTPB prefix. */
export const MTPB_HEADER = '# Import libraries.\n\nimport numpy as np\n\n';

export interface TurnText {
  readonly prompt: string;
  readonly code: string;
}

/** A prompt as the model sees it: `# prompt\n` (each line of a multi-line prompt becomes a comment line). */
export function formatPrompt(prompt: string): string {
  return prompt
    .split(/\r?\n/)
    .map((line) => `# ${line}`)
    .join('\n')
    .concat('\n');
}

/**
 * For each character of formatPrompt(prompt), the offset in `prompt` of the character it is, or -1 where the format
 * added it (each line's `# `, the newlines): how a span of the model's prompt maps back to the text the user typed.
 */
export function promptOffsets(prompt: string): Int32Array {
  const offsets = new Int32Array(formatPrompt(prompt).length).fill(-1);
  const breaks = /\r?\n/g;
  let out = 0;
  let lineStart = 0;
  for (;;) {
    const found = breaks.exec(prompt);
    const lineEnd = found ? found.index : prompt.length;
    out += 2; // `# `
    for (let i = lineStart; i < lineEnd; i++) offsets[out++] = i;
    out += 1; // the line's newline
    if (!found) return offsets;
    lineStart = found.index + found[0].length;
  }
}

export function formatTurn(turn: TurnText): string {
  return `${formatPrompt(turn.prompt)}${turn.code}\n\n`;
}

/** The context for a new prompt after the given (accepted) turns. */
export function promptContext(header: string, turns: readonly TurnText[], prompt: string): PromptContext {
  return { header, turns: turns.map(formatTurn), prompt: formatPrompt(prompt) };
}

/** The whole program: header and every turn, as the paper assembles it. */
export function assembleProgram(header: string, turns: readonly TurnText[]): string {
  return header + turns.map(formatTurn).join('');
}
