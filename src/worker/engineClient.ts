// The Engine as seen from the editor's process: every call goes to a child process running the engine. If that
// process dies, the pending calls fail with `engine-crashed` and the next call starts a fresh one (reloading
// the last model that loaded).
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import {
  CancellationTokenSource,
  createMessageConnection,
  IPCMessageReader,
  IPCMessageWriter,
  ResponseError,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import type {
  Engine,
  GenerateCallbacks,
  GenerateRequest,
  GenerateResult,
  LoadOptions,
  ModelInfo,
  PerplexityRequest,
  PerplexityResult,
  TokenId,
} from '../protocol/engine';
import { EngineError } from '../protocol/errors';
import {
  DeltaNotification,
  DisposeRequest,
  FatalNotification,
  GenerateRpc,
  LoadRequest,
  PerplexityRpc,
  TokenizeRequest,
} from './engineRpc';

export interface EngineClientOptions {
  /** The worker script; default: engineWorker.js next to this module (both in dist/ or out/). */
  readonly workerPath?: string;
  /** Where the worker's stderr, stdout and fatal reports go. */
  readonly log?: (line: string) => void;
}

interface WorkerHandle {
  readonly child: ChildProcess;
  readonly connection: MessageConnection;
  /** Rejecters of calls in flight, failed together if the process dies. */
  readonly pending: Set<(err: EngineError) => void>;
  loaded: boolean;
  fatal?: string;
}

export class EngineClient implements Engine {
  private worker: WorkerHandle | undefined;
  private lastLoad: LoadOptions | undefined;
  private nextStreamId = 1;
  private readonly deltaListeners = new Map<number, (delta: string) => void>();

  constructor(private readonly options: EngineClientOptions = {}) {}

  /** The worker's pid (for diagnostics and tests), if one is running. */
  get pid(): number | undefined {
    return this.worker?.child.pid;
  }

  async load(options: LoadOptions): Promise<ModelInfo> {
    const worker = this.ensureWorker();
    const info = await this.call(worker, (c) => c.sendRequest(LoadRequest, options));
    worker.loaded = true;
    this.lastLoad = options;
    return info;
  }

  async tokenize(text: string): Promise<TokenId[]> {
    return this.call(this.ensureWorker(), (c) => c.sendRequest(TokenizeRequest, { text }));
  }

  async generate(request: GenerateRequest, { onDelta, signal }: GenerateCallbacks = {}): Promise<GenerateResult> {
    const worker = await this.readyWorker();
    const streamId = this.nextStreamId++;
    if (onDelta) this.deltaListeners.set(streamId, onDelta);
    try {
      return await this.call(worker, (c, token) => c.sendRequest(GenerateRpc, { streamId, request }, token), signal);
    } finally {
      this.deltaListeners.delete(streamId);
    }
  }

  async perplexity(request: PerplexityRequest, signal?: AbortSignal): Promise<PerplexityResult> {
    const worker = await this.readyWorker();
    return this.call(worker, (c, token) => c.sendRequest(PerplexityRpc, request, token), signal);
  }

  async dispose(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    try {
      await Promise.race([
        this.call(worker, (c) => c.sendRequest(DisposeRequest)),
        new Promise((resolve) => setTimeout(resolve, 2000)),
      ]);
    } catch {
      // It is going away regardless.
    }
    this.worker = undefined;
    worker.connection.dispose();
    worker.child.kill();
  }

  /** A worker with the last successfully loaded model in it (restarted and reloaded after a crash). */
  private async readyWorker(): Promise<WorkerHandle> {
    const worker = this.ensureWorker();
    if (!worker.loaded && this.lastLoad) {
      await this.call(worker, (c) => c.sendRequest(LoadRequest, this.lastLoad!));
      worker.loaded = true;
    }
    return worker;
  }

  private ensureWorker(): WorkerHandle {
    if (this.worker) return this.worker;
    const workerPath = this.options.workerPath ?? path.join(__dirname, 'engineWorker.js');
    const child = fork(workerPath, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: [] });
    const connection = createMessageConnection(new IPCMessageReader(child), new IPCMessageWriter(child));
    const worker: WorkerHandle = { child, connection, pending: new Set(), loaded: false };
    const log = this.options.log ?? (() => undefined);
    child.stdout?.on('data', (d: Buffer) => log(`[engine] ${d.toString().trimEnd()}`));
    child.stderr?.on('data', (d: Buffer) => log(`[engine] ${d.toString().trimEnd()}`));
    connection.onNotification(DeltaNotification, ({ streamId, delta }) => this.deltaListeners.get(streamId)?.(delta));
    connection.onNotification(FatalNotification, ({ message }) => {
      worker.fatal = message.split('\n')[0];
      log(`[engine] fatal: ${message}`);
    });
    connection.onError(([err]) => log(`[engine] connection error: ${err.message}`));
    child.on('exit', (code, signal) => {
      if (this.worker === worker) this.worker = undefined;
      const how = signal ? `killed by ${signal}` : `exit code ${code}`;
      const why = worker.fatal ? `: ${worker.fatal}` : '';
      const error = new EngineError(
        'engine-crashed',
        `The engine process stopped unexpectedly (${how})${why}. The next request starts a fresh one.`,
      );
      for (const reject of worker.pending) reject(error);
      worker.pending.clear();
      connection.dispose();
    });
    child.on('error', (err) => log(`[engine] process error: ${err.message}`));
    connection.listen();
    this.worker = worker;
    return worker;
  }

  /** Sends one request; maps wire errors back to EngineErrors; fails it if the process dies first. */
  private call<T>(
    worker: WorkerHandle,
    send: (connection: MessageConnection, token?: import('vscode-jsonrpc/node').CancellationToken) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const cts = new CancellationTokenSource();
      const onAbort = (): void => cts.cancel();
      signal?.addEventListener('abort', onAbort);
      if (signal?.aborted) cts.cancel();
      const settle = (): void => {
        worker.pending.delete(reject);
        signal?.removeEventListener('abort', onAbort);
        cts.dispose();
      };
      worker.pending.add(reject);
      send(worker.connection, cts.token).then(
        (value) => {
          settle();
          resolve(value);
        },
        (err: unknown) => {
          settle();
          reject(err instanceof ResponseError ? EngineError.fromJSON(err.data) : toCrash(err));
        },
      );
    });
  }
}

function toCrash(err: unknown): EngineError {
  const message = err instanceof Error ? err.message : String(err);
  return new EngineError('engine-crashed', `Lost the connection to the engine process (${message}).`);
}
