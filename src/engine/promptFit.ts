// Fits a prompt and its history into the model's positions: the oldest turns go first, the header and the
// prompt are never cut; and finds which tokens are the prompt's, for its perplexity.
//
// Old turns are dropped in chunks, not one at a time: dropping exactly what no longer fits would shift the kept
// history by a turn at every new turn, so the KV cache could reuse nothing past the header. Instead the dropped
// part is rounded up to the next multiple of DROP_CHUNK_FRACTION of the positions, counted in tokens from the
// first turn; a growing session then keeps the same first kept turn (and its cached prefix) until its history
// has grown by a chunk. Stateless: the same context always fits the same way.
import type { PromptContext, PromptScore, TokenAlternative, TokenId } from '../protocol/engine';
import { EngineError } from '../protocol/errors';
import type { TopAlternatives } from './decoder';
import type { CodeGenTokenizer, TokenWithSpan } from './tokenizer';

export interface FittedContext {
  readonly ids: TokenId[];
  readonly droppedTurns: number;
  /** Index of the first token that overlaps the prompt. */
  readonly promptFirstToken: number;
  /** The prompt's tokens with spans relative to the prompt string. */
  readonly promptTokens: readonly TokenWithSpan[];
}

/** Old turns are dropped in chunks of this share of the model's positions (512 tokens of 2048). */
export const DROP_CHUNK_FRACTION = 0.25;

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
  let fewest = 0;
  while (fewest < context.turns.length && total > limit) total -= turnTokens[fewest++];
  const chunk = Math.max(1, Math.floor(nPositions * DROP_CHUNK_FRACTION));
  for (let dropped = chunkedDrop(turnTokens, fewest, chunk); dropped <= context.turns.length; dropped = chunkedDrop(turnTokens, dropped + 1, chunk)) {
    const history = context.header + context.turns.slice(dropped).join('');
    const tokens = tokenizer.encodeWithSpans(history + context.prompt);
    if (tokens.length <= limit) return locatePrompt(tokens, history.length, dropped);
  }
  const alone = tokenizer.encode(context.header + context.prompt).length;
  const reserved = reservedForGeneration > 0 ? `; with ${reservedForGeneration} tokens reserved for the answer that` : ', which';
  const fix = reservedForGeneration > 0 ? 'Shorten the prompt or the header, or lower the token budget.' : 'Shorten the prompt or the header.';
  throw new EngineError(
    'context-too-long',
    `The prompt with its header (the text before the first turn, which is never left out) takes ${alone} tokens${reserved} ` +
      `exceeds the model's ${nPositions} positions even with every earlier turn left out. ${fix}`,
  );
}

/**
 * How many of the oldest turns to drop when at least `fewest` must go: up to the first turn boundary at or past
 * the next multiple of `chunk` tokens (counted from the first turn), but never the newest turn unless `fewest` says so.
 */
function chunkedDrop(turnTokens: readonly number[], fewest: number, chunk: number): number {
  if (fewest === 0 || fewest >= turnTokens.length) return fewest;
  let cumulative = 0;
  for (let i = 0; i < fewest; i++) cumulative += turnTokens[i];
  const target = Math.ceil(cumulative / chunk) * chunk;
  let dropped = fewest;
  while (dropped < turnTokens.length - 1 && cumulative < target) cumulative += turnTokens[dropped++];
  return dropped;
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

/**
 * Perplexity of the prompt from its tokens' surprisals (a token with no predecessor has none and is skipped), each
 * token with the model's alternatives at its position where they are known.
 */
export function scorePrompt(
  prompt: string,
  tokens: readonly TokenWithSpan[],
  surprisals: readonly number[],
  alternatives: readonly (readonly TokenAlternative[] | undefined)[] = [],
): PromptScore {
  const scored = tokens.map((t, i) => ({
    text: prompt.slice(t.start, t.end),
    surprisal: surprisals[i],
    start: t.start,
    end: t.end,
    ...(alternatives[i] ? { alternatives: alternatives[i] } : {}),
  }));
  const known = scored.filter((t) => Number.isFinite(t.surprisal));
  const mean = known.reduce((a, t) => a + t.surprisal, 0) / known.length;
  return { perplexity: known.length > 0 ? Math.exp(mean) : NaN, tokens: known };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The ranked candidates at a token's position as text, best first: without the token itself, and without those
 * that are only whitespace or not whole UTF-8 characters on their own (half of a multi-byte character).
 */
export function tokenAlternatives(tokenizer: CodeGenTokenizer, top: TopAlternatives, actual: TokenId): TokenAlternative[] {
  const out: TokenAlternative[] = [];
  top.ids.forEach((id, k) => {
    if (id === actual) return;
    let text: string;
    try {
      text = strictUtf8.decode(tokenizer.tokenBytes(id));
    } catch {
      return;
    }
    if (text.trim() !== '') out.push({ text, logprob: top.logprobs[k] });
  });
  return out;
}
