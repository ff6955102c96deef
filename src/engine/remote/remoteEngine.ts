// The engine on a completions server (vLLM, TGI, codegen-mt serve): the same `Engine` contract as the local one,
// so the panel, sessions, hints, CLI and benchmarks run unchanged on it. What stays on this machine: CodeGen's
// tokenizer (every CodeGen checkpoint shares it), which fits a context into the server's positions exactly as
// the local engine does, and the turn stop rules, applied to the streamed text whatever the server did with the
// stop sequences it was sent, so a turn ends as it does locally.
import { randomInt } from 'node:crypto';
import type { CompletionChoice, CompletionResponse, CompletionRequest, ModelList, TgiGenerateResponse } from '../../protocol/completions';
import type {
  Engine,
  GenerateCallbacks,
  GenerateRequest,
  GenerateResult,
  ModelInfo,
  PerplexityRequest,
  PerplexityResult,
  PromptLogprobsMethod,
  PromptScore,
  StopReason,
  TokenId,
} from '../../protocol/engine';
import { EngineError } from '../../protocol/errors';
import { resolveGenerationConfig, type GenerationConfig } from '../generation/config';
import { TurnStopper } from '../generation/turnStop';
import { fitContext, type FittedContext } from '../promptFit';
import { CodeGenTokenizer } from '../tokenizer';
import { scoreFromSpans, spansFromEcho, spansFromTgi, spansFromVllm, type ScoredSpan } from './promptLogprobs';
import { ServerHttp, type ServerOptions } from './serverHttp';

export interface RemoteEngineOptions extends ServerOptions {
  /** The served model to use; default: the first the server lists. */
  readonly model?: string;
  /** The context length when the server does not say (default 2048, CodeGen's). */
  readonly nPositions?: number;
}

/**
 * Sent as `stop` in turn mode: the turn rules that are plain strings (a line starting with `#`, `'''` or `"""`,
 * three newlines; OpenAI takes at most four). The rest (a second top-level print or def) is applied here.
 */
export const TURN_STOP_SEQUENCES: readonly string[] = ['\n#', "\n'''", '\n"""', '\n\n\n'];

/** A short prompt for probing how the server gives log-probabilities. */
const PROBE_TEXT = '# Add two numbers.\ndef add(a, b):\n    return a + b\n';
const CODEGEN_POSITIONS = 2048;

interface Served {
  readonly model: string;
  readonly nPositions: number;
  readonly promptLogprobs: PromptLogprobsMethod;
}

export class RemoteEngine implements Engine {
  private readonly http: ServerHttp;
  private readonly tokenizer = new CodeGenTokenizer();
  private served: Served | undefined;
  private info: ModelInfo | undefined;

  constructor(private readonly options: RemoteEngineOptions) {
    this.http = new ServerHttp(options);
  }

  get url(): string {
    return this.http.base;
  }

  /** What load() found, once it has run. */
  get modelInfo(): ModelInfo | undefined {
    return this.info;
  }

  /** Finds the model on the server and probes it once; the folder options are the local engine's and unused. */
  async load(_options?: unknown, callbacks?: { signal?: AbortSignal }): Promise<ModelInfo> {
    const started = performance.now();
    const { model, nPositions } = await this.discover(callbacks?.signal);
    const promptLogprobs = await this.probeLogprobs(model, callbacks?.signal);
    this.served = { model, nPositions, promptLogprobs };
    this.info = {
      modelDir: this.http.base,
      variant: model,
      onnxFile: '',
      layout: 'server',
      server: { url: this.http.base, model, promptLogprobs },
      availableVariants: [model],
      nLayer: 0,
      nHead: 0,
      headDim: 0,
      nPositions,
      vocabSize: 0,
      kvType: 'float32',
      loadMs: performance.now() - started,
    };
    return this.info;
  }

  async tokenize(text: string): Promise<TokenId[]> {
    return this.tokenizer.encode(text);
  }

  async generate(request: GenerateRequest, { onDelta, signal }: GenerateCallbacks = {}): Promise<GenerateResult> {
    const served = this.requireServed();
    const started = performance.now();
    const config = resolveGenerationConfig(request, () => randomInt(0, 0xffffffff));
    if (config.maxNewTokens >= served.nPositions) {
      throw new EngineError('invalid-request', `max new tokens (${config.maxNewTokens}) must be below the model's ${served.nPositions} positions.`);
    }
    const fitted = fitContext(this.tokenizer, request.context, served.nPositions, config.maxNewTokens);
    const { text, promptStart } = fittedText(request, fitted);
    const tokenizeMs = performance.now() - started;
    const scoring = served.promptLogprobs === 'none' ? Promise.resolve(noScore()) : this.score(text, promptStart, signal).catch(() => noScore());
    const streamed = await this.stream(served, text, config, { onDelta, signal });
    const finished = performance.now();
    const ids = this.tokenizer.encode(streamed.rawText);
    const firstTokenAt = streamed.firstTokenAt ?? finished;
    return {
      text: streamed.text,
      rawText: streamed.rawText,
      ids,
      // No meanLogprob: the stream asks for no token log-probabilities (and not every server gives them).
      stopReason: streamed.finish === 'length' && fitted.ids.length + ids.length >= served.nPositions ? 'context-full' : streamed.stopReason,
      seed: config.seed,
      prompt: await scoring,
      promptTokens: fitted.ids.length,
      droppedTurns: fitted.droppedTurns,
      reusedTokens: 0,
      timings: {
        tokenizeMs,
        prefillMs: firstTokenAt - started - tokenizeMs,
        prefillTokens: fitted.ids.length,
        timeToFirstTokenMs: firstTokenAt - started,
        decodeMs: finished - firstTokenAt,
        decodeTokens: Math.max(0, ids.length - 1),
        totalMs: finished - started,
      },
    };
  }

  async perplexity(request: PerplexityRequest, signal?: AbortSignal): Promise<PerplexityResult> {
    const served = this.requireServed();
    const started = performance.now();
    if (served.promptLogprobs === 'none') {
      throw new EngineError('unsupported', `Prompt perplexity is not available from this server (${this.http.base}): it gives no log-probabilities of a prompt.`);
    }
    // One position for the token the scoring request generates (max_tokens 1): servers refuse prompt + 1 > positions.
    const fitted = fitContext(this.tokenizer, request.context, served.nPositions, 1);
    const { text, promptStart } = fittedText(request, fitted);
    const tokenizeMs = performance.now() - started;
    const score = await this.score(text, promptStart, signal);
    const totalMs = performance.now() - started;
    return {
      ...score,
      promptTokens: fitted.ids.length,
      droppedTurns: fitted.droppedTurns,
      reusedTokens: 0,
      timings: { tokenizeMs, prefillMs: totalMs - tokenizeMs, totalMs },
    };
  }

  async dispose(): Promise<void> {
    this.served = undefined;
  }

  /** Streams the completion through the turn stop rules; ends the stream as soon as a turn rule fires. */
  private async stream(
    served: Served,
    text: string,
    config: GenerationConfig,
    { onDelta, signal }: GenerateCallbacks,
  ): Promise<{ text: string; rawText: string; stopReason: StopReason; finish: string | null; firstTokenAt?: number }> {
    const stopper = new TurnStopper(config.stop);
    const turnEnded = new AbortController();
    const both = AbortSignal.any([turnEnded.signal, ...(signal ? [signal] : [])]);
    let finish: string | null = null;
    let stopSequence: string | undefined;
    let firstTokenAt: number | undefined;
    const body: CompletionRequest = {
      model: served.model,
      prompt: text,
      max_tokens: config.maxNewTokens,
      temperature: config.temperature,
      // Not sent when it cannot matter (greedy, or 1: no nucleus): TGI rejects top_p 1 and samples a greedy request
      // that has one (router/src/validation.rs, server/text_generation_server/utils/tokens.py).
      ...(config.temperature > 0 && config.topP < 1 ? { top_p: config.topP } : {}),
      seed: config.seed,
      stream: true,
      ...(config.stop === 'turn' ? { stop: TURN_STOP_SEQUENCES } : {}),
    };
    const onData = (data: string): void => {
      const choice = parseChunk(data);
      if (choice.text) {
        firstTokenAt ??= performance.now();
        const shown = stopper.push(choice.text);
        if (shown) onDelta?.(shown);
        if (stopper.ended) turnEnded.abort();
      }
      if (choice.finish_reason) {
        finish = choice.finish_reason;
        if (typeof choice.stop_reason === 'string') stopSequence = choice.stop_reason;
      }
    };
    try {
      await this.http.postStream(`${this.http.base}/completions`, body, onData, both);
    } catch (err) {
      if (!(err instanceof EngineError && err.code === 'cancelled')) throw err;
      if (!turnEnded.signal.aborted && !signal?.aborted) throw err;
    }
    const cancelled = signal?.aborted === true && !stopper.ended;
    if (!cancelled && !stopper.ended && finish === null) {
      throw new EngineError('server-error', `The server ${this.http.base} ended the stream before the completion finished.`);
    }
    // A stop sequence the server cut: the rules see it, so the turn ends where it ends locally.
    if (stopSequence !== undefined && !stopper.ended) {
      const shown = stopper.push(stopSequence);
      if (shown) onDelta?.(shown);
    }
    const stopReason: StopReason = stopper.ended ? 'turn-end' : cancelled ? 'cancelled' : finish === 'length' ? 'max-new-tokens' : 'eos';
    const rest = stopper.finish();
    if (rest) onDelta?.(rest);
    return { text: stopper.text, rawText: stopper.rawText, stopReason, finish, firstTokenAt };
  }

  /** The prompt's perplexity from the server's log-probabilities of `text`, in the way the probe found. */
  private async score(text: string, promptStart: number, signal?: AbortSignal): Promise<PromptScore> {
    const served = this.requireServed();
    const spans = await this.promptSpans(served.promptLogprobs, served.model, text, signal);
    if (!spans) throw new EngineError('unsupported', `The server ${this.http.base} returned no log-probabilities for the prompt.`);
    return scoreFromSpans(spans, text, promptStart);
  }

  private async promptSpans(method: PromptLogprobsMethod, model: string, text: string, signal?: AbortSignal): Promise<ScoredSpan[] | undefined> {
    const completions = `${this.http.base}/completions`;
    const base = { model, prompt: text, max_tokens: 1, temperature: 0 };
    switch (method) {
      case 'echo': {
        const r = await this.http.postJson<CompletionResponse>(completions, { ...base, echo: true, logprobs: 1 }, signal);
        return firstChoice(r) ? spansFromEcho(firstChoice(r) as CompletionChoice, text.length) : undefined;
      }
      case 'prompt_logprobs': {
        const r = await this.http.postJson<CompletionResponse>(completions, { ...base, prompt_logprobs: 0 }, signal);
        return firstChoice(r) ? spansFromVllm(firstChoice(r) as CompletionChoice, text) : undefined;
      }
      case 'tgi': {
        const parameters = { max_new_tokens: 1, details: true, decoder_input_details: true };
        const r = await this.http.postJson<TgiGenerateResponse>(`${this.http.root}/generate`, { inputs: text, parameters }, signal);
        return spansFromTgi(r, text);
      }
      case 'none':
        return undefined;
    }
  }

  /** The model to use and its context length: from /models (vLLM, OpenAI), else TGI's /info. */
  private async discover(signal?: AbortSignal): Promise<{ model: string; nPositions: number }> {
    const fallback = this.options.nPositions ?? CODEGEN_POSITIONS;
    let list: ModelList | undefined;
    try {
      list = await this.http.getJson<ModelList>(`${this.http.base}/models`, signal);
    } catch (err) {
      if (!(err instanceof EngineError && err.code === 'server-error')) throw err;
      const info = await this.http.getJson<{ model_id?: string; max_total_tokens?: number }>(`${this.http.root}/info`, signal).catch(() => {
        throw err;
      });
      return { model: this.options.model ?? info.model_id ?? 'tgi', nPositions: info.max_total_tokens ?? fallback };
    }
    const models = Array.isArray(list?.data) ? list.data : [];
    const wanted = this.options.model ?? models[0]?.id;
    const entry = models.find((m) => m.id === wanted);
    if (!wanted || (!entry && models.length > 0)) {
      const names = models.map((m) => m.id).join(', ') || 'none';
      throw new EngineError('invalid-request', `The server ${this.http.base} does not serve "${wanted ?? ''}" (it serves: ${names}). Set the server model to one of them.`);
    }
    if (typeof entry?.max_model_len === 'number') return { model: wanted, nPositions: entry.max_model_len };
    // TGI (2.3 and later) lists its model without a context length: that is max_total_tokens in its /info.
    const info = await this.http.getJson<{ max_total_tokens?: number }>(`${this.http.root}/info`, signal).catch(() => undefined);
    return { model: wanted, nPositions: typeof info?.max_total_tokens === 'number' ? info.max_total_tokens : fallback };
  }

  /** The first way of getting a prompt's log-probabilities that this server answers; `none` if it has none. */
  private async probeLogprobs(model: string, signal?: AbortSignal): Promise<PromptLogprobsMethod> {
    for (const method of ['echo', 'prompt_logprobs', 'tgi'] as const) {
      try {
        const spans = await this.promptSpans(method, model, PROBE_TEXT, signal);
        if (spans?.some((s) => s.logprob !== null)) return method;
      } catch (err) {
        if (err instanceof EngineError && (err.code === 'cancelled' || err.code === 'server-unreachable')) throw err;
        // This server does not take that form: try the next.
      }
    }
    return 'none';
  }

  private requireServed(): Served {
    if (!this.served) throw new EngineError('model-not-loaded', `Not connected to the server ${this.http.base} yet: load first.`);
    return this.served;
  }
}

function fittedText(request: { context: GenerateRequest['context'] }, fitted: FittedContext): { text: string; promptStart: number } {
  const history = request.context.header + request.context.turns.slice(fitted.droppedTurns).join('');
  return { text: history + request.context.prompt, promptStart: history.length };
}

function noScore(): PromptScore {
  return { perplexity: NaN, tokens: [] };
}

function firstChoice(response: CompletionResponse): CompletionChoice | undefined {
  return Array.isArray(response?.choices) ? response.choices[0] : undefined;
}

function parseChunk(data: string): CompletionChoice {
  let chunk: CompletionResponse;
  try {
    chunk = JSON.parse(data) as CompletionResponse;
  } catch {
    throw new EngineError('server-error', `The server sent a stream event that is not JSON: ${data.slice(0, 120)}`);
  }
  const choice = firstChoice(chunk);
  if (chunk && (chunk as unknown as { error?: unknown }).error) {
    const error = (chunk as unknown as { error: { message?: string } | string }).error;
    throw new EngineError('server-error', `The server failed mid-stream: ${typeof error === 'string' ? error : error.message ?? 'unknown error'}`);
  }
  return choice ?? { index: 0, text: '', logprobs: null, finish_reason: null };
}
