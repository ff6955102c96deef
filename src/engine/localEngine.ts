// The engine in this process: model loading, prefix-reusing KV cache, generation and prompt perplexity.
// The extension runs it inside the worker process; the CLI and the tests use it directly.
import { randomInt } from 'node:crypto';
import type {
  Engine,
  GenerateCallbacks,
  GenerateRequest,
  GenerateResult,
  LoadOptions,
  ModelInfo,
  PerplexityRequest,
  PerplexityResult,
  StopReason,
  TokenId,
} from '../protocol/engine';
import { EngineError } from '../protocol/errors';
import { ContextCache } from './contextCache';
import { resolveGenerationConfig } from './generation/config';
import { SeededRandom, TokenSampler } from './generation/sampler';
import { TurnStopper } from './generation/turnStop';
import { resolveModelFolder, type CodeGenConfig } from './modelFolder';
import { OnnxDecoder } from './onnx';
import { fitContext, scorePrompt, type FittedContext } from './promptFit';
import { CodeGenTokenizer, EOS_ID, StreamingDecoder } from './tokenizer';

interface LoadedModel {
  readonly info: ModelInfo;
  readonly config: CodeGenConfig;
  readonly decoder: OnnxDecoder;
  readonly cache: ContextCache;
}

/** Lets the event loop run between decode steps (onnxruntime's run() blocks it), so a cancel can arrive. */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class LocalEngine implements Engine {
  private readonly tokenizer = new CodeGenTokenizer();
  private model: LoadedModel | undefined;
  /** Requests run one at a time: they share one KV cache. */
  private queue: Promise<unknown> = Promise.resolve();

  load(options: LoadOptions): Promise<ModelInfo> {
    return this.serialize(async () => {
      const started = performance.now();
      const folder = resolveModelFolder(options.modelDir, options.variant);
      const decoder = await OnnxDecoder.open(folder.onnxFile, folder.config, options.threads);
      await this.model?.decoder.dispose();
      const { config } = folder;
      const info: ModelInfo = {
        modelDir: folder.modelDir,
        variant: folder.variant,
        onnxFile: folder.onnxFile,
        layout: decoder.layout,
        availableVariants: folder.availableVariants,
        nLayer: config.nLayer,
        nHead: config.nHead,
        headDim: config.headDim,
        nPositions: config.nPositions,
        vocabSize: config.vocabSize,
        kvType: decoder.kvType,
        loadMs: performance.now() - started,
      };
      this.model = { info, config, decoder, cache: new ContextCache(decoder, config.vocabSize) };
      return info;
    });
  }

  async tokenize(text: string): Promise<TokenId[]> {
    return this.tokenizer.encode(text);
  }

  get tokenizerInstance(): CodeGenTokenizer {
    return this.tokenizer;
  }

  get modelInfo(): ModelInfo | undefined {
    return this.model?.info;
  }

  generate(request: GenerateRequest, callbacks: GenerateCallbacks = {}): Promise<GenerateResult> {
    return this.serialize(() => this.runGenerate(request, callbacks));
  }

  perplexity(request: PerplexityRequest, signal?: AbortSignal): Promise<PerplexityResult> {
    return this.serialize(async () => {
      const model = this.requireModel();
      const started = performance.now();
      if (signal?.aborted) throw new EngineError('cancelled', 'Cancelled.');
      const fitted = fitContext(this.tokenizer, request.context, model.config.nPositions, 0);
      const tokenizeMs = performance.now() - started;
      const sync = await model.cache.sync(fitted.ids, signal);
      return {
        ...this.promptScore(model, fitted, request.context.prompt),
        promptTokens: fitted.ids.length,
        droppedTurns: fitted.droppedTurns,
        reusedTokens: sync.reusedTokens,
        timings: { tokenizeMs, prefillMs: sync.prefillMs, totalMs: performance.now() - started },
      };
    });
  }

  /** Forgets the KV cache so that the next call prefills from scratch (benchmarks compare the two). */
  clearCache(): void {
    this.model?.cache.reset();
  }

  async dispose(): Promise<void> {
    await this.serialize(async () => {
      await this.model?.decoder.dispose();
      this.model = undefined;
    });
  }

  private async runGenerate(request: GenerateRequest, { onDelta, signal }: GenerateCallbacks): Promise<GenerateResult> {
    const model = this.requireModel();
    const started = performance.now();
    const config = resolveGenerationConfig(request, () => randomInt(0, 0xffffffff));
    if (config.maxNewTokens >= model.config.nPositions) {
      throw new EngineError('invalid-request', `max new tokens (${config.maxNewTokens}) must be below the model's ${model.config.nPositions} positions.`);
    }
    const fitted = fitContext(this.tokenizer, request.context, model.config.nPositions, config.maxNewTokens);
    const tokenizeMs = performance.now() - started;

    const { cache } = model;
    const sync = await cache.sync(fitted.ids, signal).catch((err: unknown) => {
      // Cancelled during the prefill: an empty, well-formed result rather than an error.
      if (err instanceof EngineError && err.code === 'cancelled') return undefined;
      throw err;
    });
    const prompt = sync ? this.promptScore(model, fitted, request.context.prompt) : { perplexity: NaN, tokens: [] };

    const sampler = new TokenSampler(config, new SeededRandom(config.seed));
    const decoder = new StreamingDecoder(this.tokenizer);
    const stopper = new TurnStopper(config.stop);
    const ids: TokenId[] = [];
    let stopReason: StopReason | undefined = sync ? undefined : 'cancelled';
    let firstTokenAt = performance.now();
    const emit = (delta: string): void => {
      if (delta) onDelta?.(delta);
    };

    while (!stopReason) {
      if (signal?.aborted) {
        stopReason = 'cancelled';
        break;
      }
      const id = sampler.select(cache.nextLogits);
      if (ids.length === 0) firstTokenAt = performance.now();
      if (id === EOS_ID) {
        stopReason = 'eos';
        break;
      }
      ids.push(id);
      emit(stopper.push(decoder.push(id)));
      if (stopper.ended) stopReason = 'turn-end';
      else if (ids.length >= config.maxNewTokens) stopReason = 'max-new-tokens';
      else if (cache.length >= model.config.nPositions) stopReason = 'context-full';
      else {
        await cache.step(id);
        await yieldToEventLoop();
      }
    }
    emit(stopper.push(decoder.flush()));
    emit(stopper.finish());

    const finished = performance.now();
    return {
      text: stopper.text,
      rawText: stopper.rawText,
      ids,
      stopReason,
      seed: config.seed,
      prompt,
      promptTokens: fitted.ids.length,
      droppedTurns: fitted.droppedTurns,
      reusedTokens: sync?.reusedTokens ?? 0,
      timings: {
        tokenizeMs,
        prefillMs: sync?.prefillMs ?? 0,
        prefillTokens: sync?.prefillTokens ?? 0,
        timeToFirstTokenMs: (ids.length > 0 || stopReason === 'eos' ? firstTokenAt : finished) - started,
        decodeMs: finished - firstTokenAt,
        decodeTokens: Math.max(0, ids.length - 1),
        totalMs: finished - started,
      },
    };
  }

  private promptScore(model: LoadedModel, fitted: FittedContext, prompt: string) {
    const surprisals = model.cache.surprisalsOf(fitted.promptFirstToken, fitted.ids.length);
    return scorePrompt(prompt, fitted.promptTokens, surprisals);
  }

  private requireModel(): LoadedModel {
    if (!this.model) throw new EngineError('model-not-loaded', 'No model is loaded: load a model folder first.');
    return this.model;
  }

  private serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
