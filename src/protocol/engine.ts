// The engine's public contract: declared once, used by the in-process engine, the worker client,
// the worker itself, the session code, the CLI and (later) the extension host. Types only.

/** A token id of the CodeGen vocabulary (0 .. 50294 for text; the model's logits have 51200). */
export type TokenId = number;

/** How a completion ends. `turn`: the paper's MTPB turn rules; `none`: raw continuation. */
export type StopMode = 'turn' | 'none';

export type StopReason =
  | 'turn-end' // a turn stop rule fired; the text is truncated before it
  | 'eos' // the model produced <|endoftext|>
  | 'max-new-tokens' // the per-call token budget ran out
  | 'context-full' // n_positions reached
  | 'cancelled'; // the caller's AbortSignal fired

export interface LoadOptions {
  /** A folder in the Hugging Face layout: config.json and onnx/*.onnx. */
  readonly modelDir: string;
  /**
   * Which ONNX file of onnx/: its stem (`model`, `model_int8`, `decoder_model_merged_quantized`, ...) or a
   * short alias (`fp32`, `int8`, `quantized`, `q4`, `fp16`, `merged`, ...). Default: the best one present.
   */
  readonly variant?: string;
  /** onnxruntime intra-op threads; default: one per physical core. */
  readonly threads?: number;
  /**
   * Compile a published fp32 folder into the fast graph of the precision asked for (`fp32`, `fp16`, `int8`,
   * `int4`; fp32 when no variant is given), once, into `compiledCache`. Default true; false runs the published
   * files as they are.
   */
  readonly compile?: boolean;
  /** Where compiled graphs are kept; default $CODEGEN_MT_CACHE, else ~/.cache/codegen-mt/compiled. */
  readonly compiledCache?: string;
  /**
   * Speculative decoding: `lookup` (the default) guesses from the context's own n-grams, a draft model folder
   * (any CodeGen: they share the tokenizer) guesses with that model, `off` decodes one token per run. Greedy
   * output is the same either way; sampled output has the same distribution.
   */
  readonly speculate?: SpeculateOption;
}

export type SpeculateOption = 'off' | 'lookup' | { readonly draftModelDir: string; readonly draftVariant?: string };

/** `off`, `lookup` (also for an empty text) or a draft model's folder, as the CLI's --speculate and the setting say it. */
export function parseSpeculate(text: string): SpeculateOption {
  const value = text.trim();
  if (value === '' || value === 'lookup') return 'lookup';
  if (value === 'off') return 'off';
  return { draftModelDir: value };
}

export interface LoadProgress {
  /** `compiling` happens once per model and precision; `loading` every time. */
  readonly phase: 'compiling' | 'loading';
  /** 0..1 within the phase. */
  readonly fraction: number;
  readonly message: string;
}

export interface LoadCallbacks {
  readonly onProgress?: (progress: LoadProgress) => void;
  /** Cancels a load that is still compiling or converting (nothing half-written is left behind). */
  readonly signal?: AbortSignal;
}

export interface ModelInfo {
  readonly modelDir: string;
  readonly variant: string;
  readonly onnxFile: string;
  /**
   * `compiled`: a graph of codegen-mt's compiler; `newer`/`merged`: a published file's layout, run as it is;
   * `server`: a completions server runs the model (the shape fields are then 0: the server does not say).
   */
  readonly layout: 'compiled' | 'newer' | 'merged' | 'server';
  /** For a completions server: where it is, the model it serves, and how it gives prompt log-probabilities. */
  readonly server?: ServerModelInfo;
  readonly availableVariants: readonly string[];
  /** For compiled graphs: the precision, the published file it came from, and whether this load compiled it. */
  readonly compiled?: { readonly precision: 'fp32' | 'fp16' | 'int8' | 'int4'; readonly source: string; readonly compiledNow: boolean; readonly compileMs: number };
  readonly nLayer: number;
  readonly nHead: number;
  readonly headDim: number;
  readonly nPositions: number;
  readonly vocabSize: number;
  readonly kvType: 'float32' | 'float16';
  readonly loadMs: number;
  /** How generation guesses ahead: `off`, `lookup`, or `draft: FOLDER (variant)`; absent for a server. */
  readonly speculation?: string;
}

/** How a server gives a prompt's log-probabilities (probed once per server; `none`: it does not, so no perplexity). */
export type PromptLogprobsMethod = 'echo' | 'prompt_logprobs' | 'tgi' | 'none';

export interface ServerModelInfo {
  /** The API's base URL (…/v1). */
  readonly url: string;
  readonly model: string;
  readonly promptLogprobs: PromptLogprobsMethod;
}

/**
 * A prompt given its history, in the paper's format, as the pieces that may be dropped when the context is too
 * long. The model sees `header + turns.join('') + prompt` and continues after it.
 */
export interface PromptContext {
  /** Always kept (the paper's `# Import libraries.` block, or whatever precedes the first turn). */
  readonly header: string;
  /** Earlier turns, oldest first, each already formatted (`# prompt\n` + code + `\n\n`). Dropped oldest first. */
  readonly turns: readonly string[];
  /** The new turn's prompt as the model sees it (`# prompt\n`). Never cut. */
  readonly prompt: string;
}

/**
 * The defaults of a generation: the paper's sampling (temperature 0.2, nucleus 0.95) and per-turn budget (128 new
 * tokens, MTPB's usual max_gen_length). The one declaration: the engine, the settings, the CLI, MTPB and
 * HumanEval read it (package.json's setting defaults are checked against it by a test).
 */
export const GENERATION_DEFAULTS = { temperature: 0.2, topP: 0.95, maxNewTokens: 128, stop: 'turn' } as const;

export interface SamplingOptions {
  /** 0 means greedy. Default GENERATION_DEFAULTS.temperature. */
  readonly temperature?: number;
  /** Nucleus sampling mass. Default GENERATION_DEFAULTS.topP. */
  readonly topP?: number;
  /** Seed of the sampler's RNG: the same seed gives the same output. Default: a random seed, reported back. */
  readonly seed?: number;
}

export interface GenerateRequest extends SamplingOptions {
  readonly context: PromptContext;
  /** Budget of new tokens. Default GENERATION_DEFAULTS.maxNewTokens. */
  readonly maxNewTokens?: number;
  /** Default `turn`. */
  readonly stop?: StopMode;
  /**
   * Report the completion's meanLogprob (ranking candidates needs it). Off by default: it costs one more pass over
   * the vocabulary's logits at every decode step (about 1 ms here), which plain generation does not need.
   */
  readonly scoreTokens?: boolean;
}

export interface TokenSurprisal {
  /** The prompt text the token covers (a token holding part of a multi-byte character covers that character). */
  readonly text: string;
  /** -ln p(token | everything before it), in nats. */
  readonly surprisal: number;
  /** The token's character span in the prompt string [start, end). */
  readonly start: number;
  readonly end: number;
  /**
   * What the model expected instead, at this position: its top next-token candidates by logit (of the top 5,
   * those that are not this token, not only whitespace and whole UTF-8 on their own), best first. From the same
   * prefill as the surprisal; absent where not known (a completions server, which gives top_logprobs only sometimes).
   */
  readonly alternatives?: readonly TokenAlternative[];
}

export interface TokenAlternative {
  /** The candidate token's text. */
  readonly text: string;
  /** ln p(candidate | everything before), in nats. */
  readonly logprob: number;
}

export interface PromptScore {
  /** exp(mean surprisal) over the prompt's tokens. */
  readonly perplexity: number;
  readonly tokens: readonly TokenSurprisal[];
}

export interface ContextReport {
  /** Tokens the model was conditioned on (after any dropping). */
  readonly promptTokens: number;
  /** How many of the oldest turns were left out to fit n_positions. */
  readonly droppedTurns: number;
  /** Tokens whose keys and values came from the cache of an earlier call. */
  readonly reusedTokens: number;
}

export interface GenerateTimings {
  readonly tokenizeMs: number;
  /** Forward passes over the context tokens that were not in the cache. */
  readonly prefillMs: number;
  readonly prefillTokens: number;
  /** From the request's start to the first generated token. */
  readonly timeToFirstTokenMs: number;
  /** Sampling loop after the first token. */
  readonly decodeMs: number;
  readonly decodeTokens: number;
  readonly totalMs: number;
}

export interface GenerateResult extends ContextReport {
  /** The completion: truncated by the turn rules when stop is `turn`. */
  readonly text: string;
  /** Everything that was decoded before stopping (equals `text` when stop is `none`). */
  readonly rawText: string;
  /** Generated token ids (EOS excluded), including any beyond the turn's end that were decoded. */
  readonly ids: readonly TokenId[];
  readonly stopReason: StopReason;
  /**
   * The mean over `ids` of ln p(token | everything before it), in nats, under the model's raw distribution (the
   * log-softmax of its logits over the tokenizer's vocabulary, before temperature and top-p): the candidates'
   * ranking key. Only when the request asked for it (scoreTokens); undefined when no token was generated, and from
   * a completions server (RemoteEngine).
   */
  readonly meanLogprob?: number;
  readonly seed: number;
  /** The prompt's perplexity, from the same forward pass that prefilled it. */
  readonly prompt: PromptScore;
  readonly timings: GenerateTimings;
  /** What speculative decoding did: runs that checked guesses, tokens guessed and accepted. */
  readonly speculation?: SpeculationReport;
}

export interface SpeculationReport {
  /** `lookup` or `draft`. */
  readonly proposer: string;
  readonly verifies: number;
  readonly proposed: number;
  readonly accepted: number;
}

/** What speculative decoding did, in words: `lookup: 12 of 30 guessed tokens accepted in 9 checks`. */
export function describeSpeculation(s: SpeculationReport): string {
  return `${s.proposer}: ${s.accepted} of ${s.proposed} guessed tokens accepted in ${s.verifies} checks`;
}

export interface PerplexityRequest {
  readonly context: PromptContext;
}

export interface PerplexityResult extends PromptScore, ContextReport {
  readonly timings: { readonly tokenizeMs: number; readonly prefillMs: number; readonly totalMs: number };
}

export interface GenerateCallbacks {
  /** Called with each new piece of completion text, never half a character, never past a turn's end. */
  readonly onDelta?: (delta: string) => void;
  readonly signal?: AbortSignal;
}

/** The engine, in this process (CLI, tests) or behind a worker client (the extension). */
export interface Engine {
  load(options: LoadOptions, callbacks?: LoadCallbacks): Promise<ModelInfo>;
  tokenize(text: string): Promise<TokenId[]>;
  generate(request: GenerateRequest, callbacks?: GenerateCallbacks): Promise<GenerateResult>;
  perplexity(request: PerplexityRequest, signal?: AbortSignal): Promise<PerplexityResult>;
  dispose(): Promise<void>;
}
