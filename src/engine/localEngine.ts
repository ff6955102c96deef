// The engine in this process: model loading, prefix-reusing KV cache, generation and prompt perplexity.
// The extension runs it inside the worker process; the CLI and the tests use it directly.
import { randomInt } from 'node:crypto';
import * as path from 'node:path';
import type {
  Engine,
  GenerateCallbacks,
  GenerateRequest,
  GenerateResult,
  LoadCallbacks,
  LoadOptions,
  ModelInfo,
  PerplexityRequest,
  PerplexityResult,
  TokenId,
} from '../protocol/engine';
import { EngineError } from '../protocol/errors';
import { ContextCache } from './contextCache';
import { resolveGenerationConfig } from './generation/config';
import { createGenerationPipeline, generate } from './generation/generate';
import type { Decoder } from './decoder';
import type { CodeGenConfig } from './modelFolder';
import { openModel } from './modelLoader';
import { fitContext, scorePrompt, tokenAlternatives, type FittedContext } from './promptFit';
import { DraftModel } from './draftModel';
import { createSpeculation, FirstGuess, PromptLookup, type Proposer } from './generation/speculation';
import { CodeGenTokenizer } from './tokenizer';

interface LoadedModel {
  readonly info: ModelInfo;
  readonly config: CodeGenConfig;
  readonly decoder: Decoder;
  readonly cache: ContextCache;
  /** Guesses ahead for speculative decoding; undefined: off (or a graph that cannot check guesses). */
  readonly proposer?: Proposer;
  /** The draft model among the proposers, if any (disposed with the model). */
  readonly draft?: DraftModel;
}

export class LocalEngine implements Engine {
  private readonly tokenizer = new CodeGenTokenizer();
  private model: LoadedModel | undefined;
  /** Requests run one at a time: they share one KV cache. */
  private queue: Promise<unknown> = Promise.resolve();

  load(options: LoadOptions, callbacks?: LoadCallbacks): Promise<ModelInfo> {
    return this.serialize(async () => {
      const started = performance.now();
      const opened = await openModel(options, callbacks);
      await this.disposeModel();
      const { config, decoder } = opened;
      const speculation = await openProposer(options, decoder, callbacks).catch(async (err: unknown) => {
        await decoder.dispose();
        throw err;
      });
      const info: ModelInfo = {
        modelDir: opened.modelDir,
        variant: opened.variant,
        onnxFile: opened.onnxFile,
        layout: decoder.layout,
        availableVariants: opened.availableVariants,
        ...(opened.compiled ? { compiled: opened.compiled } : {}),
        nLayer: config.nLayer,
        nHead: config.nHead,
        headDim: config.headDim,
        nPositions: config.nPositions,
        vocabSize: config.vocabSize,
        kvType: decoder.kvType,
        loadMs: performance.now() - started,
        speculation: speculation.description,
      };
      this.model = { info, config, decoder, cache: new ContextCache(decoder), proposer: speculation.proposer, draft: speculation.draft };
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
      const sync = await model.cache.sync(fitted.ids, signal, fitted.promptFirstToken);
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
    await this.serialize(() => this.disposeModel());
  }

  private async disposeModel(): Promise<void> {
    const model = this.model;
    this.model = undefined;
    await model?.decoder.dispose();
    await model?.draft?.dispose();
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
    const sync = await cache.sync(fitted.ids, signal, fitted.promptFirstToken).catch((err: unknown) => {
      // Cancelled during the prefill: an empty, well-formed result rather than an error.
      if (err instanceof EngineError && err.code === 'cancelled') return undefined;
      throw err;
    });
    const prompt = sync ? this.promptScore(model, fitted, request.context.prompt) : { perplexity: NaN, tokens: [] };

    const speculation = model.proposer && createSpeculation(model.proposer);
    const pipeline = createGenerationPipeline(config, {
      tokenizer: this.tokenizer,
      nPositions: model.config.nPositions,
      signal,
      onDelta,
      scoreTokens: request.scoreTokens,
      speculation,
    });
    const { text, rawText, ids, stopReason, meanLogprob, firstTokenAt } = sync
      ? await generate(cache, pipeline)
      : { text: '', rawText: '', ids: [], stopReason: 'cancelled' as const, meanLogprob: undefined, firstTokenAt: performance.now() };

    const finished = performance.now();
    return {
      text,
      rawText,
      ids,
      stopReason,
      ...(meanLogprob !== undefined ? { meanLogprob } : {}),
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
      ...(speculation ? { speculation: { proposer: speculation.proposer.name, ...speculation.stats } } : {}),
    };
  }

  private promptScore(model: LoadedModel, fitted: FittedContext, prompt: string) {
    const surprisals = model.cache.surprisalsOf(fitted.promptFirstToken, fitted.ids.length);
    const ranked = model.cache.alternativesOf(fitted.promptFirstToken, fitted.ids.length);
    const alternatives = ranked.map((top, i) => top && tokenAlternatives(this.tokenizer, top, fitted.promptTokens[i].id));
    return scorePrompt(prompt, fitted.promptTokens, surprisals, alternatives);
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

/** The proposer the load options ask for, and how the model line describes it. */
async function openProposer(options: LoadOptions, decoder: Decoder, callbacks?: LoadCallbacks): Promise<{ proposer?: Proposer; draft?: DraftModel; description: string }> {
  const speculate = options.speculate ?? 'lookup';
  if (speculate === 'off') return { description: 'off' };
  if (!decoder.givesRowLogits) return { description: 'off (this graph cannot check guesses: compile it again with codegen-mt optimize)' };
  if (speculate === 'lookup') return { proposer: new PromptLookup(), description: 'lookup' };
  const opened = await openModel(
    { modelDir: speculate.draftModelDir, variant: speculate.draftVariant, threads: options.threads, compile: options.compile, compiledCache: options.compiledCache },
    { signal: callbacks?.signal, onProgress: (p) => callbacks?.onProgress?.({ ...p, message: `Draft model: ${p.message}` }) },
  );
  const label = `${path.basename(opened.modelDir)} (${opened.variant})`;
  try {
    const draft = new DraftModel(opened.decoder, opened.config, label);
    // Prompt lookup first where the text repeats a 2- or 3-gram (free and often right), the draft elsewhere.
    return { proposer: new FirstGuess([new PromptLookup(3, 2), draft]), draft, description: `lookup + draft: ${label}` };
  } catch (err) {
    await opened.decoder.dispose();
    throw err;
  }
}
