// Fits a prompt and its history into the model's positions: the oldest turns go first, the header and the
// prompt are never cut; and finds which tokens are the prompt's, for its perplexity.
import type { PromptContext, PromptScore, TokenId } from '../protocol/engine';
import { EngineError } from '../protocol/errors';
import type { CodeGenTokenizer, TokenWithSpan } from './tokenizer';

export interface FittedContext {
  readonly ids: TokenId[];
  readonly droppedTurns: number;
  /** Index of the first token that overlaps the prompt. */
  readonly promptFirstToken: number;
  /** The prompt's tokens with spans relative to the prompt string. */
  readonly promptTokens: readonly TokenWithSpan[];
}

export function fitContext(
  tokenizer: CodeGenTokenizer,
  context: PromptContext,
  nPositions: number,
  reservedForGeneration: number,
): FittedContext {
  const limit = nPositions - reservedForGeneration;
  // Per-turn counts give a first guess of how many turns to drop; the exact count comes from the whole text,
  // since tokens can merge across the joins.
  const turnTokens = context.turns.map((t) => tokenizer.encode(t).length);
  const fixedTokens = tokenizer.encode(context.header).length + tokenizer.encode(context.prompt).length;
  let total = fixedTokens + turnTokens.reduce((a, b) => a + b, 0);
  let dropped = 0;
  while (dropped < context.turns.length && total > limit) total -= turnTokens[dropped++];

  for (; dropped <= context.turns.length; dropped++) {
    const history = context.header + context.turns.slice(dropped).join('');
    const tokens = tokenizer.encodeWithSpans(history + context.prompt);
    if (tokens.length <= limit) return locatePrompt(tokens, history.length, dropped);
  }
  const alone = tokenizer.encode(context.header + context.prompt).length;
  throw new EngineError(
    'context-too-long',
    `The prompt with its header takes ${alone} tokens; with ${reservedForGeneration} tokens reserved for the answer that ` +
      `exceeds the model's ${nPositions} positions even with every earlier turn left out. Shorten the prompt or lower the token budget.`,
  );
}

function locatePrompt(tokens: TokenWithSpan[], promptStart: number, droppedTurns: number): FittedContext {
  let first = tokens.length;
  while (first > 0 && tokens[first - 1].end > promptStart) first--;
  const promptTokens = tokens.slice(first).map((t) => ({
    id: t.id,
    start: Math.max(0, t.start - promptStart),
    end: t.end - promptStart,
  }));
  return { ids: tokens.map((t) => t.id), droppedTurns, promptFirstToken: first, promptTokens };
}

/** Perplexity of the prompt from its tokens' surprisals (a token with no predecessor has none and is skipped). */
export function scorePrompt(
  prompt: string,
  tokens: readonly TokenWithSpan[],
  surprisals: readonly number[],
): PromptScore {
  const scored = tokens.map((t, i) => ({
    text: prompt.slice(t.start, t.end),
    surprisal: surprisals[i],
    start: t.start,
    end: t.end,
  }));
  const known = scored.filter((t) => Number.isFinite(t.surprisal));
  const mean = known.reduce((a, t) => a + t.surprisal, 0) / known.length;
  return { perplexity: known.length > 0 ? Math.exp(mean) : NaN, tokens: known };
}
