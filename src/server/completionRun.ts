// One completion on the engine: the generation (raw continuation, stop 'none') with the request's stop sequences
// applied here, and then, when asked for, the log-probabilities of the returned text from one perplexity call.
//
// Log-probabilities: the returned text's tokens as the engine tokenizes that text (the prompt's context first,
// so the completion's tokens are conditioned on the prompt; the KV cache left by the generation makes the call
// cheap), each with -surprisal. A text's very first token has no predecessor: OpenAI reports it with null, and so
// does this server (the engine leaves it out; its text is whatever precedes the first scored token). top_logprobs
// are not computed (null): the engine gives the chosen tokens' surprisal only.
import type { CompletionFinishReason, CompletionLogprobs } from '../protocol/completions';
import type { Engine, GenerateResult, PromptContext, TokenSurprisal } from '../protocol/engine';
import { EngineError } from '../protocol/errors';
import type { CompletionJob } from './requestParse';
import { StopSequenceScanner } from './stopSequences';

export interface CompletionOutcome {
  /** The returned text: the completion, with the prompt before it when echoed. */
  readonly text: string;
  readonly finishReason: Exclude<CompletionFinishReason, null>;
  /** vLLM's stop_reason: the stop sequence that ended the completion, else null. */
  readonly stopSequence: string | null;
  readonly logprobs: CompletionLogprobs | null;
  readonly promptTokens: number;
  readonly completionTokens: number;
  /** The seed the sampler used (the request's when nothing was generated; undefined if it gave none). */
  readonly seed: number | undefined;
}

export interface RunHooks {
  /** Aborted when the client has gone: the generation stops at once and the run rejects with `cancelled`. */
  readonly signal: AbortSignal;
  /** Each piece of the completion that is safe to send (never past a stop sequence). */
  readonly onText?: (piece: string) => void;
}

interface Generated {
  readonly completion: string;
  readonly finishReason: Exclude<CompletionFinishReason, null>;
  readonly stopSequence: string | null;
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly seed: number | undefined;
}

export async function runCompletion(engine: Engine, job: CompletionJob, hooks: RunHooks): Promise<CompletionOutcome> {
  const generated = job.maxTokens === 0 ? await noGeneration(engine, job) : await generateWithStops(engine, job, hooks);
  const logprobs = job.logprobs === null ? null : await logprobsOf(engine, job, generated.completion, hooks.signal);
  if (hooks.signal.aborted) throw clientGone();
  return { ...generated, text: (job.echo ? job.prompt : '') + generated.completion, logprobs };
}

/** max_tokens 0: OpenAI's way of asking for the prompt's log-probabilities alone (with echo). */
async function noGeneration(engine: Engine, job: CompletionJob): Promise<Generated> {
  const promptTokens = (await engine.tokenize(job.prompt)).length;
  return { completion: '', finishReason: 'length', stopSequence: null, promptTokens, completionTokens: 0, seed: job.seed };
}

async function generateWithStops(engine: Engine, job: CompletionJob, hooks: RunHooks): Promise<Generated> {
  const scanner = new StopSequenceScanner(job.stop);
  const stopSeen = new AbortController();
  const onDelta = (delta: string): void => {
    const piece = scanner.push(delta);
    if (piece) hooks.onText?.(piece);
    if (scanner.stoppedBy !== undefined) stopSeen.abort(); // the rest would be cut anyway: free the engine
  };
  let result: GenerateResult | undefined;
  try {
    result = await engine.generate(
      { context: { header: '', turns: [], prompt: job.prompt }, maxNewTokens: job.maxTokens, temperature: job.temperature, topP: job.topP, seed: job.seed, stop: 'none' },
      { onDelta, signal: AbortSignal.any([hooks.signal, stopSeen.signal]) },
    );
  } catch (err) {
    // A cancel that the engine reports as an error (a worker that had to be replaced): fine once the stop was seen.
    if (!(isCancelled(err) && scanner.stoppedBy !== undefined && !hooks.signal.aborted)) throw err;
  }
  if (hooks.signal.aborted) throw clientGone(result?.ids.length);
  // The deltas add up to the text; anything the result has beyond them is scanned like a delta.
  if (result && scanner.stoppedBy === undefined && result.text.startsWith(scanner.text)) onDelta(result.text.slice(scanner.text.length));
  const rest = scanner.finish();
  if (rest) hooks.onText?.(rest);
  const stopSequence = scanner.stoppedBy ?? null;
  return {
    completion: scanner.text,
    finishReason: stopSequence !== null || result?.stopReason === 'eos' ? 'stop' : 'length',
    stopSequence,
    promptTokens: result?.promptTokens ?? (await engine.tokenize(job.prompt)).length,
    completionTokens: result?.ids.length ?? (await engine.tokenize(scanner.text)).length,
    seed: result?.seed ?? job.seed,
  };
}

/** The returned text's tokens with their log-probabilities, from one perplexity call. */
async function logprobsOf(engine: Engine, job: CompletionJob, completion: string, signal: AbortSignal): Promise<CompletionLogprobs> {
  const text = (job.echo ? job.prompt : '') + completion;
  if (text === '') return { tokens: [], token_logprobs: [], top_logprobs: null, text_offset: [] };
  // Echoed, the text is scored from its start; else the prompt is the context the completion is scored in.
  const context: PromptContext = job.echo ? { header: '', turns: [], prompt: text } : { header: job.prompt, turns: [], prompt: completion };
  if (signal.aborted) throw clientGone();
  const scored = await engine.perplexity({ context }, signal);
  return toCompletionLogprobs(text, scored.tokens);
}

/**
 * OpenAI's parallel arrays over `text` from the engine's scored tokens (spans in `text`). The tokens are laid end to
 * end so that they join to the text and each offset indexes it: a token whose span overlaps its predecessor's (two
 * tokens holding the bytes of one character) keeps only what its predecessor did not cover. What precedes the first
 * scored token is the text's first token, which has no predecessor and so no log-probability (null).
 */
export function toCompletionLogprobs(text: string, scored: readonly TokenSurprisal[]): CompletionLogprobs {
  const tokens: string[] = [];
  const logprobs: (number | null)[] = [];
  const offsets: number[] = [];
  let covered = 0;
  const add = (start: number, end: number, logprob: number | null): void => {
    const from = Math.min(Math.max(start, covered), text.length);
    tokens.push(text.slice(from, Math.max(from, end)));
    logprobs.push(logprob);
    offsets.push(from);
    covered = Math.max(covered, end);
  };
  const firstScored = scored.length > 0 ? scored[0].start : text.length;
  if (firstScored > 0) add(0, firstScored, null);
  for (const token of scored) add(token.start, token.end, -token.surprisal);
  if (covered < text.length && tokens.length > 0) tokens[tokens.length - 1] += text.slice(covered); // never expected
  return { tokens, token_logprobs: logprobs, top_logprobs: null, text_offset: offsets };
}

function isCancelled(err: unknown): boolean {
  return err instanceof EngineError && err.code === 'cancelled';
}

function clientGone(generatedTokens?: number): EngineError {
  const after = generatedTokens === undefined ? '' : ` after ${generatedTokens} generated tokens`;
  return new EngineError('cancelled', `the client went away${after}`);
}
