// The Engine as seen from the editor's process: every call goes to a child process running the engine.
//
// - If that process dies, the calls it was working on fail with `engine-crashed`, and the next call starts a fresh
//   one (reloading the last model that loaded). Calls it had not yet taken up (sent in the moment before the client
//   saw it die) go to the fresh process instead: nothing the user did is lost to the race.
// - A wedged process (stopped, deadlocked) is found and killed: when a cancelled call does not end within
//   `cancelGraceMs`, or a quick call (tokenize) gets no answer within `quickCallMs`, the client watches the
//   process's CPU time; one that makes no progress is killed and replaced. A busy one (a long prefill blocks its
//   event loop) is left to finish, but a cancelled call never waits more than `cancelHardLimitMs`.
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import {
  CancellationTokenSource,
  createMessageConnection,
  IPCMessageReader,
  IPCMessageWriter,
  ResponseError,
  type CancellationToken,
  type MessageConnection,
} from 'vscode-jsonrpc/node';
import type {
  Engine,
  GenerateCallbacks,
  GenerateRequest,
  GenerateResult,
  LoadCallbacks,
  LoadOptions,
  LoadProgress,
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
  LoadProgressNotification,
  LoadRequest,
  PerplexityRpc,
  ReceivedNotification,
  TokenizeRequest,
} from './engineRpc';
import { measureProgress } from './liveness';
import { NODE_FLAGS } from './nodeFlags';

export interface EngineClientOptions {
  /** The worker script; default: engineWorker.js next to this module (both in dist/ or out/). */
  readonly workerPath?: string;
  /** Where the worker's stderr, stdout and fatal reports go. */
  readonly log?: (line: string) => void;
  /** How long a cancelled call may take to end before the process is checked for progress. Default 3000 ms. */
  readonly cancelGraceMs?: number;
  /** How long a quick call (tokenize) may go unanswered before the same check. Default 10000 ms. */
  readonly quickCallMs?: number;
  /** The longest a cancelled call waits for a busy process before it is killed anyway. Default 30000 ms. */
  readonly cancelHardLimitMs?: number;
}

/** How long the process's CPU time is watched to tell busy from stuck. */
const PROGRESS_WINDOW_MS = 1000;
/** After the process has exited, how long to wait for its last messages (the IPC channel's end). */
const LAST_MESSAGES_MS = 2000;

interface PendingCall {
  /** Its place among the requests sent to this process (1-based), to compare with what the process took up. */
  readonly ordinal: number;
  cancelled: boolean;
  settled: boolean;
  /** Settles the call when its process has died. */
  readonly onDeath: (outcome: DeathOutcome) => void;
}

type DeathOutcome = { readonly kind: 'cancelled' | 'unseen' | 'crashed'; readonly error: EngineError };

interface WorkerHandle {
  readonly child: ChildProcess;
  readonly connection: MessageConnection;
  readonly pending: Set<PendingCall>;
  /** Requests sent to this process, and how many it has taken up (ReceivedNotification). */
  sent: number;
  received: number;
  loaded: boolean;
  dead: boolean;
  fatal?: string;
  /** Why the client killed it, when it did. */
  killedBecause?: string;
}

type Send<T> = (connection: MessageConnection, token: CancellationToken) => Promise<T>;

class UnseenByDeadWorker extends Error {
  constructor(readonly error: EngineError) {
    super(error.message);
  }
}

export class EngineClient implements Engine {
  private worker: WorkerHandle | undefined;
  private lastLoad: LoadOptions | undefined;
  private nextStreamId = 1;
  private readonly deltaListeners = new Map<number, (delta: string) => void>();
  private readonly progressListeners = new Map<number, (progress: LoadProgress) => void>();
  private readonly cancelGraceMs: number;
  private readonly quickCallMs: number;
  private readonly cancelHardLimitMs: number;
  private readonly log: (line: string) => void;

  constructor(private readonly options: EngineClientOptions = {}) {
    this.log = options.log ?? (() => undefined);
    this.cancelGraceMs = options.cancelGraceMs ?? 3000;
    this.quickCallMs = options.quickCallMs ?? 10_000;
    this.cancelHardLimitMs = options.cancelHardLimitMs ?? 30_000;
  }

  /** The worker's pid (for diagnostics and tests), if one is running. */
  get pid(): number | undefined {
    return this.worker?.child.pid;
  }

  async load(options: LoadOptions, { onProgress, signal }: LoadCallbacks = {}): Promise<ModelInfo> {
    const progressId = this.nextStreamId++;
    if (onProgress) this.progressListeners.set(progressId, onProgress);
    let info: ModelInfo;
    try {
      info = await this.request((c, token) => c.sendRequest(LoadRequest, { ...options, progressId }, token), { needsModel: false, markLoaded: true, signal });
    } finally {
      this.progressListeners.delete(progressId);
    }
    this.lastLoad = options;
    return info;
  }

  tokenize(text: string): Promise<TokenId[]> {
    return this.request((c) => c.sendRequest(TokenizeRequest, { text }), { needsModel: false, quick: true });
  }

  async generate(request: GenerateRequest, { onDelta, signal }: GenerateCallbacks = {}): Promise<GenerateResult> {
    const streamId = this.nextStreamId++;
    if (onDelta) this.deltaListeners.set(streamId, onDelta);
    try {
      return await this.request((c, token) => c.sendRequest(GenerateRpc, { streamId, request }, token), { needsModel: true, signal });
    } finally {
      this.deltaListeners.delete(streamId);
    }
  }

  perplexity(request: PerplexityRequest, signal?: AbortSignal): Promise<PerplexityResult> {
    return this.request((c, token) => c.sendRequest(PerplexityRpc, request, token), { needsModel: true, signal });
  }

  async dispose(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    try {
      await Promise.race([this.callOnce(worker, (c) => c.sendRequest(DisposeRequest), {}), new Promise((resolve) => setTimeout(resolve, 2000))]);
    } catch {
      // It is going away regardless.
    }
    worker.connection.dispose();
    worker.child.kill();
  }

  /**
   * Sends a request to a live worker (with the last model loaded when `needsModel`). A request the worker died
   * without taking up is sent once more, to a fresh worker, unless it was cancelled meanwhile.
   */
  private async request<T>(send: Send<T>, options: { needsModel: boolean; quick?: boolean; signal?: AbortSignal; markLoaded?: boolean }): Promise<T> {
    return this.onceMoreIfUnseen(async () => {
      // readyWorker() never throws UnseenByDeadWorker: it has already sent its own reload once more.
      const worker = options.needsModel ? await this.readyWorker() : this.ensureWorker();
      const value = await this.callOnce(worker, send, options);
      if (options.markLoaded) worker.loaded = true;
      return value;
    }, () => !options.signal?.aborted);
  }

  /** A worker with the last successfully loaded model in it (restarted and reloaded after a crash). */
  private readyWorker(): Promise<WorkerHandle> {
    return this.onceMoreIfUnseen(async () => {
      const worker = this.ensureWorker();
      if (worker.loaded || !this.lastLoad) return worker;
      await this.callOnce(worker, (c) => c.sendRequest(LoadRequest, this.lastLoad!), {});
      worker.loaded = true;
      return worker;
    });
  }

  /** Runs `attempt`; if a worker died without taking up its request, runs it once more (when `mayRetry` says so). */
  private async onceMoreIfUnseen<T>(attempt: () => Promise<T>, mayRetry: () => boolean = () => true): Promise<T> {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof UnseenByDeadWorker)) throw err;
      if (!mayRetry()) throw err.error;
      try {
        return await attempt();
      } catch (again) {
        throw again instanceof UnseenByDeadWorker ? again.error : again;
      }
    }
  }

  private ensureWorker(): WorkerHandle {
    if (this.worker && !this.worker.dead) return this.worker;
    const workerPath = this.options.workerPath ?? path.join(__dirname, 'engineWorker.js');
    const child = fork(workerPath, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], execArgv: [...NODE_FLAGS] });
    const connection = createMessageConnection(new IPCMessageReader(child), new IPCMessageWriter(child));
    const worker: WorkerHandle = { child, connection, pending: new Set(), sent: 0, received: 0, loaded: false, dead: false };
    const log = this.log;
    child.stdout?.on('data', (d: Buffer) => log(`[engine] ${d.toString().trimEnd()}`));
    child.stderr?.on('data', (d: Buffer) => log(`[engine] ${d.toString().trimEnd()}`));
    // Read from the raw channel, not through the connection's queue: it must be counted before the exit is handled.
    child.on('message', (message: { method?: string; params?: { count?: unknown } }) => {
      if (message?.method === ReceivedNotification.method && typeof message.params?.count === 'number') worker.received = message.params.count;
    });
    connection.onNotification(DeltaNotification, ({ streamId, delta }) => this.deltaListeners.get(streamId)?.(delta));
    connection.onNotification(LoadProgressNotification, ({ progressId, progress }) => this.progressListeners.get(progressId)?.(progress));
    connection.onNotification(FatalNotification, ({ message }) => {
      worker.fatal = message.split('\n')[0];
      log(`[engine] fatal: ${message}`);
    });
    connection.onError(([err]) => log(`[engine] connection error: ${err.message}`));
    const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exit code ${code}`)));
    const disconnected = new Promise<void>((resolve) => child.once('disconnect', () => resolve()));
    void exited.then(async (how) => {
      worker.dead = true;
      if (this.worker === worker) this.worker = undefined;
      // Its last messages (which requests it took up) arrive before the channel closes.
      await Promise.race([disconnected, new Promise((resolve) => setTimeout(resolve, LAST_MESSAGES_MS))]);
      this.settleAfterDeath(worker, how);
      connection.dispose();
    });
    child.on('error', (err) => log(`[engine] process error: ${err.message}`));
    connection.listen();
    this.worker = worker;
    return worker;
  }

  private settleAfterDeath(worker: WorkerHandle, how: string): void {
    const why = worker.killedBecause
      ? `The engine process stopped responding (${worker.killedBecause}), so it was ended. The next request starts a fresh one.`
      : `The engine process stopped unexpectedly (${how})${worker.fatal ? `: ${worker.fatal}` : ''}. The next request starts a fresh one.`;
    for (const call of [...worker.pending]) {
      if (call.cancelled) call.onDeath({ kind: 'cancelled', error: new EngineError('cancelled', `Stopped. ${why}`) });
      else if (call.ordinal > worker.received) call.onDeath({ kind: 'unseen', error: new EngineError('engine-crashed', why) });
      else call.onDeath({ kind: 'crashed', error: new EngineError('engine-crashed', why) });
    }
    worker.pending.clear();
  }

  /** Ends a worker that the watchdog found wedged; its calls are settled when it has exited. */
  private kill(worker: WorkerHandle, reason: string): void {
    if (worker.dead || worker.killedBecause) return;
    worker.killedBecause = reason;
    this.log(`[engine] ending the engine process ${worker.child.pid}: ${reason}`);
    if (this.worker === worker) this.worker = undefined;
    worker.child.kill('SIGKILL');
  }

  /**
   * Sends one request to one worker; maps wire errors back to EngineErrors. If the worker dies first, a call it
   * had not taken up rejects with UnseenByDeadWorker (the caller may send it again), a cancelled one with
   * `cancelled`, any other with `engine-crashed`.
   */
  private callOnce<T>(worker: WorkerHandle, send: Send<T>, options: { quick?: boolean; signal?: AbortSignal }): Promise<T> {
    const { signal } = options;
    return new Promise<T>((resolve, reject) => {
      const cts = new CancellationTokenSource();
      const timers: NodeJS.Timeout[] = [];
      const call: PendingCall = {
        ordinal: ++worker.sent,
        cancelled: false,
        settled: false,
        onDeath: ({ kind, error }) => finish(() => reject(kind === 'unseen' ? new UnseenByDeadWorker(error) : error)),
      };
      const finish = (settle: () => void): void => {
        if (call.settled) return;
        call.settled = true;
        worker.pending.delete(call);
        signal?.removeEventListener('abort', onAbort);
        for (const timer of timers) clearTimeout(timer);
        cts.dispose();
        settle();
      };
      const onAbort = (): void => {
        if (call.cancelled) return;
        call.cancelled = true;
        cts.cancel();
        const since = Date.now();
        timers.push(setTimeout(() => void this.watch(worker, call, 'after Stop', since, true), this.cancelGraceMs));
      };
      worker.pending.add(call);
      signal?.addEventListener('abort', onAbort);
      if (signal?.aborted) onAbort();
      if (options.quick) {
        const since = Date.now();
        timers.push(setTimeout(() => void this.watch(worker, call, 'while a quick request waited', since, false), this.quickCallMs));
      }
      send(worker.connection, cts.token).then(
        (value) => finish(() => resolve(value)),
        (err: unknown) => {
          if (err instanceof ResponseError) finish(() => reject(EngineError.fromJSON(err.data)));
          // The transport failed: the process is dying or its channel broke. Either way the death settles the call.
          else this.kill(worker, `lost the connection to it: ${err instanceof Error ? err.message : String(err)}`);
        },
      );
    });
  }

  /** Until the call settles: kills the worker if it makes no progress, or (for a cancelled call) if it takes too long. */
  private async watch(worker: WorkerHandle, call: PendingCall, what: string, since: number, cancelled: boolean): Promise<void> {
    while (!call.settled && !worker.dead && worker.child.pid !== undefined) {
      const progress = await measureProgress(worker.child.pid, PROGRESS_WINDOW_MS);
      if (call.settled || worker.dead) return;
      const waited = ((Date.now() - since) / 1000).toFixed(1);
      if (progress === 'stuck') return this.kill(worker, `it made no progress ${what} (waited ${waited} s)`);
      // Busy with a long computation (or no way to tell, off Linux): a cancelled call waits only so long.
      const limitReached = Date.now() - since >= this.cancelHardLimitMs;
      if (limitReached && (cancelled || progress === 'unknown')) return this.kill(worker, `it was still busy ${what} after ${waited} s`);
      if (progress === 'unknown') await new Promise((resolve) => setTimeout(resolve, PROGRESS_WINDOW_MS));
    }
  }
}
