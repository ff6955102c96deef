// The wire of OpenAI-compatible completions servers (vLLM, TGI's OpenAI layer, codegen-mt serve), declared once:
// the client (src/engine/remote/) sends and parses these, the server (src/server/) receives and answers them.
// Shapes as documented: OpenAI's legacy Completions API (https://platform.openai.com/docs/api-reference/completions),
// vLLM's extra parameters (prompt_logprobs), TGI's native /generate with details. Types only.

/** POST {base}/completions. */
export interface CompletionRequest {
  readonly model: string;
  readonly prompt: string;
  readonly max_tokens?: number;
  readonly temperature?: number;
  readonly top_p?: number;
  readonly seed?: number;
  /** Up to 4 sequences (OpenAI); the text ends before the first one generated. */
  readonly stop?: readonly string[];
  readonly stream?: boolean;
  /** How many top alternatives per token; with `echo`, the prompt's tokens get log-probabilities too. */
  readonly logprobs?: number | null;
  /** Return the prompt before the completion (with its log-probabilities when `logprobs` is set). */
  readonly echo?: boolean;
  /** vLLM: log-probabilities of the prompt's tokens, in `choices[i].prompt_logprobs`. */
  readonly prompt_logprobs?: number;
}

/** OpenAI's legacy logprobs object: parallel arrays, one entry per token (the prompt's first with null). */
export interface CompletionLogprobs {
  readonly tokens: readonly string[];
  readonly token_logprobs: readonly (number | null)[];
  readonly top_logprobs?: readonly (Readonly<Record<string, number>> | null)[] | null;
  /** Character offset of each token in the returned text (prompt included when echoed). */
  readonly text_offset: readonly number[];
}

/** vLLM's prompt_logprobs: per prompt token, null for the first, else {token id: {logprob, rank, decoded_token}}. */
export type VllmPromptLogprobs = readonly (Readonly<
  Record<string, { readonly logprob: number; readonly rank?: number | null; readonly decoded_token?: string | null }>
> | null)[];

export type CompletionFinishReason = 'stop' | 'length' | null;

export interface CompletionChoice {
  readonly index: number;
  readonly text: string;
  readonly logprobs: CompletionLogprobs | null;
  readonly finish_reason: CompletionFinishReason;
  /** vLLM: which stop sequence (or token id) ended the text, when one did. */
  readonly stop_reason?: string | number | null;
  readonly prompt_logprobs?: VllmPromptLogprobs | null;
}

export interface CompletionUsage {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens: number;
}

/** The whole answer (stream false), and each server-sent event's data (stream true; then `[DONE]`). */
export interface CompletionResponse {
  readonly id: string;
  readonly object: 'text_completion';
  readonly created: number;
  readonly model: string;
  readonly choices: readonly CompletionChoice[];
  /** Absent from stream chunks except (on some servers) the last. */
  readonly usage?: CompletionUsage | null;
  /** codegen-mt serve only: the seed the sampler used (so a run can be repeated). */
  readonly system_fingerprint?: string | null;
}

/** GET {base}/models. vLLM adds max_model_len (the context length); codegen-mt serve does too. */
export interface ModelList {
  readonly object: 'list';
  readonly data: readonly { readonly id: string; readonly object: 'model'; readonly owned_by?: string; readonly max_model_len?: number }[];
}

/** Errors in OpenAI's shape (vLLM and codegen-mt serve answer so; TGI answers {error, error_type}). */
export interface ErrorResponse {
  readonly error: {
    readonly message: string;
    readonly type: string;
    readonly param?: string | null;
    readonly code?: string | number | null;
  };
}

/** TGI's native POST {root}/generate with details: the prompt's tokens (prefill) with their log-probabilities. */
export interface TgiGenerateRequest {
  readonly inputs: string;
  readonly parameters: {
    readonly max_new_tokens: number;
    readonly details: true;
    readonly decoder_input_details: true;
    readonly do_sample?: boolean;
  };
}

export interface TgiGenerateResponse {
  readonly generated_text: string;
  readonly details?: {
    readonly finish_reason: string;
    readonly generated_tokens: number;
    readonly seed?: number | null;
    /** The prompt's tokens: the first has logprob null (NaN on older versions). */
    readonly prefill: readonly { readonly id: number; readonly text: string; readonly logprob: number | null }[];
    readonly tokens: readonly { readonly id: number; readonly text: string; readonly logprob: number; readonly special: boolean }[];
  };
}
