// Errors that cross process boundaries: a closed set of codes, so each side can decide what to do with them.

export type EngineErrorCode =
  | 'model-not-found' // the folder or a file in it does not exist
  | 'invalid-model' // the folder exists but is not a usable CodeGen model
  | 'model-not-loaded' // a request came before a successful load
  | 'context-too-long' // header + prompt + budget exceed n_positions even with every old turn dropped
  | 'invalid-request' // a request field is out of range
  | 'cancelled' // the caller aborted
  | 'engine-crashed' // the engine process died; the next request starts a fresh one
  | 'server-unreachable' // a completions server did not answer (refused, timed out, busy after the retries)
  | 'server-error' // a completions server answered with an error (its status and message are in the text)
  | 'unsupported' // the server cannot do this (e.g. no log-probabilities, so no perplexity)
  | 'internal'; // anything else (a bug): the message says what

export class EngineError extends Error {
  constructor(
    readonly code: EngineErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }

  /** The plain object that travels over the wire. */
  toJSON(): SerializedEngineError {
    return { code: this.code, message: this.message };
  }

  static fromJSON(data: unknown): EngineError {
    const d = data as Partial<SerializedEngineError> | undefined;
    const code = d && typeof d.code === 'string' && isEngineErrorCode(d.code) ? d.code : 'internal';
    const message = d && typeof d.message === 'string' ? d.message : String(data);
    return new EngineError(code, message);
  }
}

export interface SerializedEngineError {
  readonly code: EngineErrorCode;
  readonly message: string;
}

const CODES: ReadonlySet<string> = new Set<EngineErrorCode>([
  'model-not-found',
  'invalid-model',
  'model-not-loaded',
  'context-too-long',
  'invalid-request',
  'cancelled',
  'engine-crashed',
  'server-unreachable',
  'server-error',
  'unsupported',
  'internal',
]);

export function isEngineErrorCode(code: string): code is EngineErrorCode {
  return CODES.has(code);
}

/** Any thrown value as an EngineError (non-engine errors become `internal`, keeping their message). */
export function toEngineError(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  if (err instanceof Error) return new EngineError('internal', err.message);
  return new EngineError('internal', String(err));
}
