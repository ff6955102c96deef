// The decode loop: logits -> processors -> sampler -> stopping criteria -> streamed text -> next step.
import type { StopReason, TokenId } from '../../protocol/engine';
import { StreamingDecoder, type CodeGenTokenizer } from '../tokenizer';
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
}

export interface GenerationOutput {
  /** The completion, truncated by the turn rules when stop is `turn`. */
  readonly text: string;
  /** Everything decoded. */
  readonly rawText: string;
  /** Kept tokens (EOS excluded). */
  readonly ids: readonly TokenId[];
  readonly stopReason: StopReason;
  /** performance.now() right after the first token was chosen, or at the loop's start if none was. */
  readonly firstTokenAt: number;
}

/** Lets the event loop run between decode steps (onnxruntime's run() blocks it), so a cancel can arrive. */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Generates from `source` until a stopping criterion fires; step() is never called after that. */
export async function generate(source: LogitsSource, pipeline: GenerationPipeline): Promise<GenerationOutput> {
  const { processors, sampler, stopping, decoder, stopper, onDelta } = pipeline;
  const emit = (delta: string): void => {
    if (delta) onDelta?.(delta);
  };
  const ids: TokenId[] = [];
  const state = (token: TokenId): GenerationState => ({ ids, token, contextLength: source.length });
  let firstTokenAt = performance.now();
  let stopReason: StopReason | undefined;

  while (true) {
    if ((stopReason = stopping.check('before-select', state(-1)))) break;
    const id = sampler.select(processors.process(source.nextLogits));
    if (ids.length === 0) firstTokenAt = performance.now();
    if ((stopReason = stopping.check('selected', state(id)))) break;
    ids.push(id);
    emit(stopper.push(decoder.push(id)));
    if ((stopReason = stopping.check('kept', state(id)))) break;
    await source.step(id);
    await yieldToEventLoop();
  }
  emit(stopper.push(decoder.flush()));
  emit(stopper.finish());
  return { text: stopper.text, rawText: stopper.rawText, ids, stopReason, firstTokenAt };
}

/** The engine's pipeline for one request. */
export function createGenerationPipeline(
  config: GenerationConfig,
  options: { readonly tokenizer: CodeGenTokenizer; readonly nPositions: number; readonly signal?: AbortSignal; readonly onDelta?: (delta: string) => void },
): GenerationPipeline {
  const stopper = new TurnStopper(config.stop);
  return {
    processors: createLogitsProcessors(config),
    sampler: createSampler(config, new SeededRandom(config.seed)),
    stopping: createStoppingCriteria({ signal: options.signal, stopper, maxNewTokens: config.maxNewTokens, nPositions: options.nPositions }),
    decoder: new StreamingDecoder(options.tokenizer),
    stopper,
    onDelta: options.onDelta,
  };
}
