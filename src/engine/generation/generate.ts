// The decode loop: logits -> processors -> sampler -> stopping criteria -> streamed text -> next step.
import type { StopReason, TokenId } from '../../protocol/engine';
import { StreamingDecoder, TOKENIZER_VOCAB_SIZE, type CodeGenTokenizer } from '../tokenizer';
import type { GenerationConfig } from './config';
import { createLogitsProcessors, type LogitsProcessor } from './logitsProcessors';
import { createSampler, SeededRandom, type Sampler } from './sampler';
import { createStoppingCriteria, type GenerationState, type StoppingCriteriaList } from './stoppingCriteria';
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
}

/** Lets the event loop run between decode steps (onnxruntime's run() blocks it), so a cancel can arrive. */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Generates from `source` until a stopping criterion fires; step() is never called after that. */
export async function generate(source: LogitsSource, pipeline: GenerationPipeline): Promise<GenerationOutput> {
  const { processors, sampler, stopping, decoder, stopper, onDelta, scoreTokens } = pipeline;
  const emit = (delta: string): void => {
    if (delta) onDelta?.(delta);
  };
  const ids: TokenId[] = [];
  const state = (token: TokenId): GenerationState => ({ ids, token, contextLength: source.length });
  let firstTokenAt = performance.now();
  let stopReason: StopReason | undefined;
  let logprobSum = 0;

  while (true) {
    if ((stopReason = stopping.check('before-select', state(-1)))) break;
    const row = source.nextLogits;
    const id = sampler.select(processors.process(row));
    if (ids.length === 0) firstTokenAt = performance.now();
    if ((stopReason = stopping.check('selected', state(id)))) break;
    if (scoreTokens) logprobSum += logprobOf(row, id);
    ids.push(id);
    emit(stopper.push(decoder.push(id)));
    if ((stopReason = stopping.check('kept', state(id)))) break;
    await source.step(id);
    await yieldToEventLoop();
  }
  emit(stopper.push(decoder.flush()));
  emit(stopper.finish());
  const meanLogprob = scoreTokens && ids.length > 0 ? logprobSum / ids.length : undefined;
  return { text: stopper.text, rawText: stopper.rawText, ids, stopReason, ...(meanLogprob !== undefined ? { meanLogprob } : {}), firstTokenAt };
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
  };
}
