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
