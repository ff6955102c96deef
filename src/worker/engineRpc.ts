// The host <-> worker wire: each method declared once, typed, named `area/verb`. Streaming deltas travel as
// notifications tagged with the id the client chose for that generation; Stop is `$/cancelRequest`.
import { NotificationType, RequestType, RequestType0 } from 'vscode-jsonrpc/node';
import type {
  GenerateRequest,
  GenerateResult,
  LoadOptions,
  LoadProgress,
  ModelInfo,
  PerplexityRequest,
  PerplexityResult,
  TokenId,
} from '../protocol/engine';
import type { SerializedEngineError } from '../protocol/errors';

export interface GenerateParams {
  readonly streamId: number;
  readonly request: GenerateRequest;
}

export interface DeltaParams {
  readonly streamId: number;
  readonly delta: string;
}

export interface LoadParams extends LoadOptions {
  /** Tags the LoadProgressNotifications of this load. */
  readonly progressId?: number;
}

export interface LoadProgressParams {
  readonly progressId: number;
  readonly progress: LoadProgress;
}

export interface FatalParams {
  readonly message: string;
}

export const LoadRequest = new RequestType<LoadParams, ModelInfo, SerializedEngineError>('engine/load');
export const LoadProgressNotification = new NotificationType<LoadProgressParams>('engine/loadProgress');
export const TokenizeRequest = new RequestType<{ text: string }, TokenId[], SerializedEngineError>('engine/tokenize');
export const GenerateRpc = new RequestType<GenerateParams, GenerateResult, SerializedEngineError>('engine/generate');
export const PerplexityRpc = new RequestType<PerplexityRequest, PerplexityResult, SerializedEngineError>('engine/perplexity');
export const DisposeRequest = new RequestType0<void, SerializedEngineError>('engine/dispose');
export const DeltaNotification = new NotificationType<DeltaParams>('engine/delta');
/**
 * Sent by the worker as it takes up each request, with how many it has taken up so far. Requests are taken up in
 * the order they were sent, so the client knows which requests a process that died had never seen: those are
 * sent again to a fresh process instead of failing.
 */
export const ReceivedNotification = new NotificationType<{ readonly count: number }>('engine/received');
/** The worker's own uncaught exception, sent just before it exits. */
export const FatalNotification = new NotificationType<FatalParams>('engine/fatal');

/** JSON-RPC error code under which EngineErrors travel (in the server-defined range). */
export const ENGINE_ERROR_CODE = -32001;
