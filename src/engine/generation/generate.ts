// The decode loop: logits -> processors -> sampler -> stopping criteria -> streamed text -> next step.
import type { StopReason, TokenId } from '../../protocol/engine';
import { StreamingDecoder, TOKENIZER_VOCAB_SIZE, type CodeGenTokenizer } from '../tokenizer';
import type { GenerationConfig } from './config';
import { createLogitsProcessors, type LogitsProcessor } from './logitsProcessors';
import { createSampler, SeededRandom, type Sampler } from './sampler';
import { createStoppingCriteria, type GenerationState, type StoppingCriteriaList } from './stoppingCriteria';
import type { Speculation, SpeculationStats } from './speculation';
import { TurnStopper } from './turnStop';

/** Where next-token logits come from: the KV cache (ContextCache) or, in tests, a script. */
export interface LogitsSource {
  /** Logits of the token after the ones fed so far. */
  readonly nextLogits: Float32Array;
  /** Tokens fed so far. */
  readonly length: number;
  /** Feeds one token; nextLogits then holds the logits after it. */
  step(id: TokenId): Promise<void>;
}

/** A source that can check guessed tokens in one run (speculative decoding). */
export interface VerifyingSource extends LogitsSource {
  /** The tokens fed so far (the proposers read them). */
  readonly ids: readonly TokenId[];
  /** Whether verify() works (the decoder gives every fed position's logits). */
  readonly verifies: boolean;
  /** Feeds `ids` in one run; rows[j] holds the logits after ids[0..j]. */
  verify(ids: readonly TokenId[]): Promise<Float32Array[]>;
  /** Keeps the first `length` tokens fed (a rollback), `next` the logits after them. */
  keep(length: number, next: Float32Array): void;
}

/** Token ids to text, holding back incomplete UTF-8 (StreamingDecoder). */
export interface TokenTextDecoder {
  push(id: TokenId): string;
  flush(): string;
}

export interface GenerationPipeline {
  readonly processors: LogitsProcessor;
  readonly sampler: Sampler;
  readonly stopping: StoppingCriteriaList;
  readonly decoder: TokenTextDecoder;
  /** Holds back what a turn rule could still cut; the stopping criteria may read it. */
  readonly stopper: TurnStopper;
  /** Called with each non-empty piece of text as it may be shown. */
  readonly onDelta?: (delta: string) => void;
  /** Whether to compute meanLogprob (one more pass over each row of logits). */
  readonly scoreTokens?: boolean;
  /** Guess tokens and check them in one run (the source must verify); absent: plain decoding. */
  readonly speculation?: Speculation;
  /** The budget of new tokens and the model's positions (what a guess may not go past). */
  readonly maxNewTokens?: number;
  readonly nPositions?: number;
}

export interface GenerationOutput {
  /** The completion, truncated by the turn rules when stop is `turn`. */
  readonly text: string;
  /** Everything decoded. */
  readonly rawText: string;
  /** Kept tokens (EOS excluded). */
  readonly ids: readonly TokenId[];
  readonly stopReason: StopReason;
  /**
   * The mean over `ids` of ln p(token | before) under the model's raw distribution (the log-softmax of the raw
   * logits over the tokenizer's vocabulary, before temperature and top-p); undefined when no token was kept.
   */
  readonly meanLogprob?: number;
  /** performance.now() right after the first token was chosen, or at the loop's start if none was. */
  readonly firstTokenAt: number;
  /** What speculation did, when it was on. */
  readonly speculation?: SpeculationStats;
}

/** Lets the event loop run between decode steps (onnxruntime's run() blocks it), so a cancel can arrive. */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Generates from `source` until a stopping criterion fires; step() is never called after that. With speculation,
 * after each chosen token the proposer's guesses are fed with it in one run and walked as plain decoding would
 * choose (the sampler's verify()): the tokens, the stops, the stream and the cache left behind are those of plain
 * decoding under greedy, and plain decoding's distribution under sampling.
 */
export async function generate(source: LogitsSource | VerifyingSource, pipeline: GenerationPipeline): Promise<GenerationOutput> {
  const { processors, sampler, stopping, decoder, stopper, onDelta, scoreTokens } = pipeline;
  const speculation = pipeline.speculation && 'verifies' in source && source.verifies ? pipeline.speculation : undefined;
  const emit = (delta: string): void => {
    if (delta) onDelta?.(delta);
  };
  const ids: TokenId[] = [];
  const base = source.length;
  /** Generated tokens that plain decoding would have fed by now (the context-full rule reads it). */
  let fed = 0;
  const state = (token: TokenId): GenerationState => ({ ids, token, contextLength: base + fed });
  let firstTokenAt = performance.now();
  let logprobSum = 0;

  /** Keeps a chosen token (from `row`): the criteria, the score and the stream; the stop reason if one fired. */
  const take = (id: TokenId, row: Float32Array): StopReason | undefined => {
    if (ids.length === 0) firstTokenAt = performance.now();
    const selected = stopping.check('selected', state(id));
    if (selected) return selected;
    if (scoreTokens) logprobSum += logprobOf(row, id);
    ids.push(id);
    emit(stopper.push(decoder.push(id)));
    return stopping.check('kept', state(id));
  };

  let stopReason: StopReason | undefined;
  /** A token taken but not fed yet. */
  let pending: TokenId | undefined;
  while (true) {
    if (pending === undefined) {
      if ((stopReason = stopping.check('before-select', state(-1)))) break;
      const row = source.nextLogits;
      const id = sampler.select(processors.process(row));
      if ((stopReason = take(id, row))) break;
      pending = id;
    }
    const guess = speculation ? await propose(source as VerifyingSource, pipeline, speculation, pending, ids.length) : [];
    if (guess.length === 0) {
      await source.step(pending);
      fed++;
      pending = undefined;
    } else {
      const walked = await walkGuess(source as VerifyingSource, speculation!, pending, guess, {
        before: () => stopping.check('before-select', state(-1)),
        choose: (row, proposed) => sampler.verify(processors.process(row), proposed),
        take,
        fed: () => fed++,
      });
      if ((stopReason = walked.stop)) break;
      pending = walked.pending;
    }
    await yieldToEventLoop();
  }
  emit(stopper.push(decoder.flush()));
  emit(stopper.finish());
  const meanLogprob = scoreTokens && ids.length > 0 ? logprobSum / ids.length : undefined;
  return {
    text: stopper.text,
    rawText: stopper.rawText,
    ids,
    stopReason,
    ...(meanLogprob !== undefined ? { meanLogprob } : {}),
    firstTokenAt,
    ...(speculation ? { speculation: { ...speculation.stats } } : {}),
  };
}

/** The guess after `pending`, at most as long as the budget and the positions allow (no guess: plain step). */
async function propose(source: VerifyingSource, pipeline: GenerationPipeline, speculation: Speculation, pending: TokenId, kept: number): Promise<TokenId[]> {
  const roomInContext = (pipeline.nPositions ?? Infinity) - source.length - 1;
  const roomInBudget = (pipeline.maxNewTokens ?? Infinity) - kept;
  const k = Math.min(speculation.length.k, roomInContext, roomInBudget);
  if (k <= 0 || !speculation.length.shouldGuess()) return [];
  const guess = await speculation.proposer.propose([...source.ids, pending], k);
  return guess.slice(0, k);
}

interface WalkSteps {
  /** The before-select criteria (cancellation). */
  readonly before: () => StopReason | undefined;
  /** The token plain decoding would take at a position whose guess was `proposed`. */
  readonly choose: (row: Float32Array, proposed: TokenId) => TokenId;
  readonly take: (id: TokenId, row: Float32Array) => StopReason | undefined;
  /** One more generated token counts as fed. */
  readonly fed: () => void;
}

/**
 * Feeds `pending` and the guess in one run, then decides position by position as plain decoding would: a guess
 * the sampler keeps is taken; the first it does not is replaced by the sampler's token (taken, not fed) and the
 * cache forgets the rest of the guess; a stop keeps the cache as plain decoding would have left it.
 */
async function walkGuess(source: VerifyingSource, speculation: Speculation, pending: TokenId, guess: readonly TokenId[], steps: WalkSteps): Promise<{ stop?: StopReason; pending?: TokenId }> {
  const start = source.length;
  const rows = await source.verify([pending, ...guess]);
  steps.fed();
  const { stats, length } = speculation;
  stats.verifies++;
  stats.proposed += guess.length;
  for (let j = 0; j < guess.length; j++) {
    // Here plain decoding has fed `pending` and guess[0..j) and chooses from rows[j].
    const row = rows[j];
    const before = steps.before();
    if (before) {
      source.keep(start + 1 + j, row);
      length.update(j, guess.length);
      return { stop: before };
    }
    const chosen = steps.choose(row, guess[j]);
    if (chosen !== guess[j]) {
      source.keep(start + 1 + j, row);
      length.update(j, guess.length);
      return { stop: steps.take(chosen, row), pending: chosen };
    }
    stats.accepted++;
    const stop = steps.take(chosen, row);
    if (stop) {
      source.keep(start + 1 + j, row);
      length.update(j + 1, guess.length);
      return { stop };
    }
    steps.fed();
  }
  length.update(guess.length, guess.length);
  return {};
}

/**
 * ln p(id) under a row of raw logits, normalised over the tokenizer's vocabulary (as the prompt's surprisals are):
 * one pass, an online log-sum-exp (the running sum rescaled whenever the maximum grows).
 */
export function logprobOf(row: Float32Array, id: TokenId): number {
  const n = Math.min(row.length, TOKENIZER_VOCAB_SIZE);
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = row[i];
    if (v > max) {
      sum = sum * Math.exp(max - v) + 1;
      max = v;
    } else {
      sum += Math.exp(v - max);
    }
  }
  return row[id] - max - Math.log(sum);
}

/** The engine's pipeline for one request. */
export function createGenerationPipeline(
  config: GenerationConfig,
  options: {
    readonly tokenizer: CodeGenTokenizer;
    readonly nPositions: number;
    readonly signal?: AbortSignal;
    readonly onDelta?: (delta: string) => void;
    readonly scoreTokens?: boolean;
    readonly speculation?: Speculation;
  },
): GenerationPipeline {
  const stopper = new TurnStopper(config.stop);
  return {
    processors: createLogitsProcessors(config),
    sampler: createSampler(config, new SeededRandom(config.seed)),
    stopping: createStoppingCriteria({ signal: options.signal, stopper, maxNewTokens: config.maxNewTokens, nPositions: options.nPositions }),
    decoder: new StreamingDecoder(options.tokenizer),
    stopper,
    onDelta: options.onDelta,
    scoreTokens: options.scoreTokens,
    speculation: options.speculation,
    maxNewTokens: config.maxNewTokens,
    nPositions: options.nPositions,
  };
}
