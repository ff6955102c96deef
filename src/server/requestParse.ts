// The completions server's door: reading a request body within a size limit, and checking a POST /v1/completions
// body field by field into what the server runs. Every refusal is an HttpError carrying OpenAI's error shape
// (ErrorResponse), with `param` naming the field at fault, so a client can tell what to fix.
import type { IncomingMessage } from 'node:http';
import { resolveGenerationConfig } from '../engine/generation/config';
import type { ErrorResponse } from '../protocol/completions';
import { EngineError } from '../protocol/errors';

/** A request refused: the status, OpenAI's error body, and any extra headers (Retry-After, Allow). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorResponse,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(body.error.message);
  }
}

/** A client's mistake (400 unless told), in OpenAI's shape. */
export function invalidRequest(message: string, param: string | null = null, status = 400, code: string | null = null): HttpError {
  return new HttpError(status, { error: { message, type: 'invalid_request_error', param, code } });
}

/** OpenAI's defaults for what a request leaves out (not the engine's, which are the CodeGen paper's). */
export const OPENAI_DEFAULTS = { maxTokens: 16, temperature: 1, topP: 1 } as const;
const MAX_STOP_SEQUENCES = 4;
const MAX_LOGPROBS = 5;

/** A checked POST /v1/completions body. */
export interface CompletionJob {
  readonly prompt: string;
  /** 0: no generation at all (the prompt's log-probabilities with echo, or nothing). */
  readonly maxTokens: number;
  readonly temperature: number;
  readonly topP: number;
  readonly seed?: number;
  readonly stop: readonly string[];
  readonly stream: boolean;
  /** null: no log-probabilities; else how many alternatives were asked for (none are computed: see the server). */
  readonly logprobs: number | null;
  readonly echo: boolean;
}

/** Reads the whole body, refusing (413) one longer than `limit` bytes without buffering past it. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = (): HttpError =>
    invalidRequest(`The request body is larger than this server's limit of ${limit} bytes.`, null, 413, 'request_too_large');
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > limit) {
        refused = true;
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
    // A client that goes away halfway through its body: no 'end' comes (a settled promise ignores this).
    req.on('close', () => reject(invalidRequest('The client went away before sending the whole body.')));
  });
}

/** The body as a JSON object, or 400. */
export function parseJsonObject(body: Buffer): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw invalidRequest(`The request body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidRequest('The request body must be a JSON object.');
  return value as Record<string, unknown>;
}

/**
 * Checks a completions body against the model served. The sampling values are also checked here by the engine's
 * own rules (the same function, the same messages), so a request the engine would refuse is refused before it
 * waits in the queue; the rules that need the model (the context length) stay with the engine.
 */
export function parseCompletionRequest(body: Record<string, unknown>, servedModel: string): CompletionJob {
  const model = body.model;
  if (typeof model !== 'string') throw invalidRequest('model is required: a string, the id of the served model (GET /v1/models).', 'model');
  if (model !== servedModel) {
    throw invalidRequest(`The model \`${model}\` does not exist; this server serves \`${servedModel}\`.`, 'model', 404, 'model_not_found');
  }
  const job: CompletionJob = {
    prompt: promptOf(body.prompt),
    maxTokens: optional(body, 'max_tokens', isWholeAtLeastZero, 'a whole number >= 0') ?? OPENAI_DEFAULTS.maxTokens,
    temperature: optional(body, 'temperature', isNumber, 'a number') ?? OPENAI_DEFAULTS.temperature,
    topP: optional(body, 'top_p', isNumber, 'a number') ?? OPENAI_DEFAULTS.topP,
    seed: optional(body, 'seed', isNumber, 'a whole number'),
    stop: stopOf(body.stop),
    stream: optional(body, 'stream', isBoolean, 'true or false') ?? false,
    logprobs: optional(body, 'logprobs', isLogprobsCount, `null or a whole number 0..${MAX_LOGPROBS}`) ?? null,
    echo: optional(body, 'echo', isBoolean, 'true or false') ?? false,
  };
  if (job.prompt === '' && job.maxTokens > 0) {
    throw invalidRequest('prompt must not be empty: the model continues a text, and has no start-of-text token to begin from.', 'prompt');
  }
  const n = optional(body, 'n', isNumber, 'a number');
  if (n !== undefined && n !== 1) throw invalidRequest(`n must be 1: this server makes one completion per request, got ${n}.`, 'n');
  checkSampling(job);
  return job;
}

function promptOf(prompt: unknown): string {
  if (typeof prompt === 'string') return prompt;
  if (prompt === undefined || prompt === null) throw invalidRequest('prompt is required: a string.', 'prompt');
  if (Array.isArray(prompt)) {
    throw invalidRequest('prompt must be one string: this server takes one prompt per request (no lists of prompts or token ids).', 'prompt');
  }
  throw invalidRequest(`prompt must be a string, got ${describe(prompt)}.`, 'prompt');
}

function stopOf(stop: unknown): readonly string[] {
  if (stop === undefined || stop === null) return [];
  const list = typeof stop === 'string' ? [stop] : stop;
  const expected = `a string or a list of at most ${MAX_STOP_SEQUENCES} non-empty strings`;
  if (!Array.isArray(list) || list.length > MAX_STOP_SEQUENCES || !list.every((s) => typeof s === 'string' && s !== '')) {
    throw invalidRequest(`stop must be ${expected}, got ${describe(stop)}.`, 'stop');
  }
  return list as string[];
}

/** A field that may be absent (or null, as OpenAI's clients send): its value, or 400 naming it. */
function optional<T>(body: Record<string, unknown>, name: string, is: (v: unknown) => v is T, expected: string): T | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (!is(value)) throw invalidRequest(`${name} must be ${expected}, got ${describe(value)}.`, name);
  return value;
}

/** The engine's rules for temperature, top_p and seed (max_tokens 0 is the server's: it runs no generation). */
function checkSampling(job: CompletionJob): void {
  try {
    const request = { context: { header: '', turns: [], prompt: '' }, temperature: job.temperature, topP: job.topP, seed: job.seed };
    resolveGenerationConfig({ ...request, maxNewTokens: Math.max(1, job.maxTokens) }, () => 0);
  } catch (err) {
    if (!(err instanceof EngineError)) throw err;
    throw invalidRequest(err.message, paramNamed(err.message));
  }
}

/** Which request field an engine message is about (its messages begin with the engine's name for it). */
function paramNamed(message: string): string | null {
  if (message.startsWith('temperature')) return 'temperature';
  if (message.startsWith('top-p')) return 'top_p';
  if (message.startsWith('seed')) return 'seed';
  if (message.startsWith('max new tokens')) return 'max_tokens';
  return null;
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
const isWholeAtLeastZero = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const isLogprobsCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_LOGPROBS;

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
