// The log-probabilities of a prompt's tokens, from whichever of the three shapes a server answers in, as one list
// of spans of the text; and the prompt's perplexity from them, as the local engine computes it (the tokens that
// overlap the prompt, each -ln p; a token with no predecessor has none and is left out).
import type { CompletionChoice, TgiGenerateResponse } from '../../protocol/completions';
import type { PromptScore } from '../../protocol/engine';

/** One token of the scored text: its span [start, end) and its log-probability (null for the first token). */
export interface ScoredSpan {
  readonly start: number;
  readonly end: number;
  readonly logprob: number | null;
}

/** OpenAI's legacy shape (`echo` + `logprobs`): parallel arrays with each token's offset in the echoed text. */
export function spansFromEcho(choice: CompletionChoice, textLength: number): ScoredSpan[] | undefined {
  const lp = choice.logprobs;
  if (!lp || !Array.isArray(lp.token_logprobs) || !Array.isArray(lp.text_offset)) return undefined;
  const spans: ScoredSpan[] = [];
  for (let i = 0; i < lp.text_offset.length; i++) {
    const start = lp.text_offset[i];
    if (start >= textLength) break; // the completion's tokens, after the prompt
    const end = Math.min(textLength, i + 1 < lp.text_offset.length ? lp.text_offset[i + 1] : textLength);
    spans.push({ start, end, logprob: finiteOrNull(lp.token_logprobs[i]) });
  }
  return spans.length > 0 ? spans : undefined;
}

/** vLLM's prompt_logprobs: per token {id: {logprob, decoded_token}}, the spans from the decoded tokens' lengths. */
export function spansFromVllm(choice: CompletionChoice, text: string): ScoredSpan[] | undefined {
  const entries = choice.prompt_logprobs;
  if (!Array.isArray(entries) || entries.length === 0) return undefined;
  type Entry = { readonly logprob: number; readonly decoded_token?: string | null };
  const pieces = entries.map((entry) => {
    const first: Entry | undefined = entry ? (Object.values(entry)[0] as Entry | undefined) : undefined;
    return { text: first?.decoded_token ?? undefined, logprob: first ? finiteOrNull(first.logprob) : null };
  });
  // The first entry is null (no predecessor), so its text is whatever the others leave at the start.
  return spansFromPieces(pieces, text);
}

/** TGI's /generate details: the prefill tokens with their texts and log-probabilities. */
export function spansFromTgi(response: TgiGenerateResponse, text: string): ScoredSpan[] | undefined {
  const prefill = response.details?.prefill;
  if (!Array.isArray(prefill) || prefill.length === 0) return undefined;
  return spansFromPieces(prefill.map((t) => ({ text: t.text, logprob: finiteOrNull(t.logprob) })), text);
}

/**
 * Spans from token texts laid end to end over `text`. Servers decode byte-level tokens one at a time, so a piece
 * may not be the text's exact characters (half of a multi-byte character): the spans are then laid from the end,
 * where the prompt is, and whatever is left over goes to the first token.
 */
function spansFromPieces(pieces: readonly { text: string | undefined; logprob: number | null }[], text: string): ScoredSpan[] {
  const spans: ScoredSpan[] = [];
  let end = text.length;
  for (let i = pieces.length - 1; i >= 0; i--) {
    const length = i === 0 ? end : Math.min(end, pieces[i].text?.length ?? 0);
    spans.push({ start: end - length, end, logprob: pieces[i].logprob });
    end -= length;
  }
  return spans.reverse();
}

/**
 * The prompt's perplexity: the spans that overlap text[promptStart..], relative to the prompt. No token gets
 * `alternatives`: servers give top_logprobs only sometimes (vLLM with logprobs > 1, not TGI's prefill), so the
 * rewordings stay a local engine's.
 */
export function scoreFromSpans(spans: readonly ScoredSpan[], text: string, promptStart: number): PromptScore {
  const prompt = text.slice(promptStart);
  const tokens = spans
    .filter((s) => s.end > promptStart && s.logprob !== null)
    .map((s) => {
      const start = Math.max(0, s.start - promptStart);
      const end = s.end - promptStart;
      return { text: prompt.slice(start, end), surprisal: -(s.logprob as number), start, end };
    });
  const mean = tokens.reduce((a, t) => a + t.surprisal, 0) / tokens.length;
  return { perplexity: tokens.length > 0 ? Math.exp(mean) : NaN, tokens };
}

function finiteOrNull(value: number | null | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
