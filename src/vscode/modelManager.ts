// The engine as the editor uses it: the local model in one EngineClient (it runs in a child process), or a
// completions server when codegenMt.server.url names one (serverBackend.ts); loaded lazily from the settings,
// reloaded when they change, with a status the status bar and the panel show (modelPicker.ts).
import * as path from 'node:path';
import * as vscode from 'vscode';
import { bundledModelDir } from '../engine/bundledModel';
import { chooseDraftModel } from '../download/draftChoice';
import { downloadedModelRoots, listDownloadedModels } from '../download/modelDownloader';
import { parseSpeculate, type Engine, type LoadOptions, type LoadProgress, type ModelInfo, type SpeculateOption } from '../protocol/engine';
import type { ModelStatusView } from '../protocol/webview';
import type { EngineClient } from '../worker/engineClient';
import { RemoteEngine } from '../engine/remote/remoteEngine';
import { serverEngineOptions, serverLabel, serverSettings, type ServerSettings } from './serverBackend';
import { RECOMMENDED_MODEL } from '../download/recommendedModel';
import type { ModelPort } from '../session/ports';
import { errorText, showEngineError } from './errors';
import { config, SETTING } from './settings';

/** The load options the settings ask for; compiled models go to the extension's global storage by default. */
export function settingsLoadOptions(globalStoragePath: string): LoadOptions {
  const c = config();
  const modelDir = c.get<string>(SETTING.modelPath, '').trim() || bundledModelDir();
  const variant = c.get<string>(SETTING.modelVariant, '').trim() || undefined;
  const threads = c.get<number>(SETTING.threads, 0);
  const compiledCache = c.get<string>(SETTING.compiledModelCache, '').trim() || path.join(globalStoragePath, 'compiled');
  const speculate = speculateSetting(c.get<string>(SETTING.speculate, 'auto'), modelDir, globalStoragePath);
  return { modelDir, variant, threads: threads > 0 ? threads : undefined, compile: c.get<boolean>(SETTING.compile, true), compiledCache, speculate };
}

/**
 * codegenMt.speculate: `auto` (the default) takes a downloaded CodeGen small enough to be the model's draft (with
 * prompt lookup), else prompt lookup alone; `off`, `lookup` or a draft folder as they are.
 */
export function speculateSetting(value: string, modelDir: string, globalStoragePath: string): SpeculateOption {
  if (value.trim() !== 'auto') return parseSpeculate(value);
  const downloaded = listDownloadedModels(downloadedModelRoots(globalStoragePath)).map((m) => m.modelDir);
  const draft = chooseDraftModel(modelDir, downloaded);
  return draft ? { draftModelDir: draft } : 'lookup';
}

/** The same key for the same load, however the options object was built (a validated folder is not loaded twice). */
function loadKey(o: LoadOptions): string {
  return JSON.stringify([path.resolve(o.modelDir), o.variant ?? '', o.threads ?? 0, o.compile !== false, o.compiledCache ?? '', o.speculate ?? 'lookup']);
}

/**
 * Shows a compile or a checkpoint's conversion (first load of a model and precision) as a notification with its
 * progress and a Cancel button, which stops the load (nothing half-written is kept; the next load starts over).
 */
function compileProgress(): { onProgress: (p: LoadProgress) => void; done: () => void; signal: AbortSignal } {
  let report: ((fraction: number, message: string) => void) | undefined;
  let finish: (() => void) | undefined;
  const controller = new AbortController();
  return {
    signal: controller.signal,
    onProgress: (p) => {
      if (p.phase !== 'compiling') return;
      if (!report) {
        let shown = 0;
        void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'CodeGen', cancellable: true }, (progress, token) => {
          token.onCancellationRequested(() => controller.abort());
          report = (fraction, message) => {
            progress.report({ message, increment: Math.max(0, fraction * 100 - shown) });
            shown = Math.max(shown, fraction * 100);
          };
          return new Promise<void>((resolve) => (finish = resolve));
        });
      }
      report?.(p.fraction, p.message);
    },
    done: () => finish?.(),
  };
}

/** What the status bar and the panel call the bundled model: it must never pass for a real one. */
export const TEST_MODEL_LABEL = 'random test model';

function isBundledModel(modelDir: string): boolean {
  return path.resolve(modelDir) === path.resolve(bundledModelDir());
}

export function modelLabel(modelDir: string, variant?: string): string {
  if (isBundledModel(modelDir)) return TEST_MODEL_LABEL;
  const name = path.basename(modelDir) || modelDir;
  return variant ? `${name} (${variant})` : name;
}

/** A status for the model in `modelDir`: with the test-model notice while that is the bundled random model. */
function statusFor(modelDir: string, status: Omit<ModelStatusView, 'label' | 'testModel'>, variant?: string): ModelStatusView {
  const testModel = isBundledModel(modelDir) ? { recommendedName: RECOMMENDED_MODEL.name, recommendedSize: RECOMMENDED_MODEL.size } : undefined;
  return { ...status, label: modelLabel(modelDir, variant), ...(testModel ? { testModel } : {}) };
}

/** The turn flow's model port (src/session/ports.ts) in VS Code. */
export class ModelManager implements ModelPort, vscode.Disposable {
  private readonly client: EngineClient;
  /** The server's engine while a completions server is the model; the local client otherwise. */
  private remote: { readonly engine: RemoteEngine; readonly info?: ModelInfo } | undefined;
  /** Bumped when the server's API key is stored or removed, so that the server is connected again. */
  private keyVersion = 0;
  private loading: Promise<ModelInfo> | undefined;
  private loadedKey: string | undefined;
  private current: ModelStatusView;
  private readonly changed = new vscode.EventEmitter<ModelStatusView>();
  readonly onDidChangeStatus = this.changed.event;

  constructor(
    private readonly log: vscode.LogOutputChannel,
    private readonly globalStoragePath: string,
    /** The engine process's client; its owner is this manager (it ends the process on dispose). */
    client: EngineClient,
    private readonly secrets: vscode.SecretStorage,
  ) {
    this.client = client;
    this.current = this.idleStatus();
  }

  /** The engine that runs the model now: the server's, or the local engine process. */
  get engine(): Engine {
    return this.remote?.engine ?? this.client;
  }

  /** Why prompts cannot be scored, when the model is a server that gives no log-probabilities. */
  get perplexityUnavailable(): string | undefined {
    const server = this.remote?.info?.server;
    return server?.promptLogprobs === 'none'
      ? `Prompt perplexity is not available from this server (${server.url}): it gives no log-probabilities of a prompt.`
      : undefined;
  }

  get status(): ModelStatusView {
    return this.current;
  }

  /** The model the settings name, loaded (once; again after the settings change): a server's, or a local folder. */
  ensureLoaded(): Promise<ModelInfo> {
    const server = serverSettings();
    const options = settingsLoadOptions(this.globalStoragePath);
    const key = this.settingsKey();
    if (this.loading && this.loadedKey === key) return this.loading;
    this.loadedKey = key;
    const status = (s: Omit<ModelStatusView, 'label' | 'testModel'>, info?: ModelInfo): ModelStatusView =>
      server ? { ...s, label: serverLabel(server.url, info?.server?.model ?? server.model ?? 'server') } : statusFor(info?.modelDir ?? options.modelDir, s, info?.variant ?? options.variant);
    this.setStatus(status({ state: 'loading' }));
    const loading = (server ? this.loadServer(server) : this.loadLocal(options)).then(
      (info) => {
        if (this.loading === loading) {
          this.setStatus(status({ state: 'ready', message: this.perplexityUnavailable }, info));
          this.log.info(`Loaded ${info.server ? `${info.server.model} from ${info.server.url} (prompt log-probabilities: ${info.server.promptLogprobs})` : info.onnxFile} in ${Math.round(info.loadMs)} ms (${info.layout} layout, ${info.nPositions} positions)`);
        }
        return info;
      },
      (err: unknown) => {
        if (this.loading === loading) {
          this.loading = undefined;
          this.loadedKey = undefined;
          this.setStatus(status({ state: 'error', message: errorText(err) }));
        }
        throw err;
      },
    );
    this.loading = loading;
    return loading;
  }

  private async loadLocal(options: LoadOptions): Promise<ModelInfo> {
    this.log.info(`Loading ${options.modelDir}${options.variant ? ` (${options.variant})` : ''}`);
    const compile = compileProgress();
    const info = await this.client.load(options, { onProgress: compile.onProgress, signal: compile.signal }).finally(compile.done);
    if (info.compiled?.compiledNow) this.log.info(`Compiled ${info.compiled.source} to ${info.onnxFile} in ${Math.round(info.compiled.compileMs)} ms`);
    this.remote = undefined;
    return info;
  }

  /** Connects to the server and probes it; the local engine process is left as it is (unused until it is the model again). */
  private async loadServer(settings: ServerSettings): Promise<ModelInfo> {
    this.log.info(`Connecting to the completions server ${settings.url}${settings.model ? ` (${settings.model})` : ''}`);
    const engine = new RemoteEngine(await serverEngineOptions(settings, this.secrets));
    const info = await engine.load();
    this.remote = { engine, info };
    return info;
  }

  /** What identifies the model the settings name: the server, or the local load options. */
  private settingsKey(): string {
    const server = serverSettings();
    return server ? JSON.stringify(['server', server, this.keyVersion]) : loadKey(settingsLoadOptions(this.globalStoragePath));
  }

  private idleStatus(): ModelStatusView {
    const server = serverSettings();
    if (server) return { state: 'none', label: serverLabel(server.url, server.model ?? 'server'), message: 'Connects on first use.' };
    const options = settingsLoadOptions(this.globalStoragePath);
    return statusFor(options.modelDir, { state: 'none', message: 'Loads on first use.' }, options.variant);
  }

  /** The server's API key was stored or removed: connect again with it, if the server is the model. */
  onServerKeyChanged(): void {
    this.keyVersion++;
    if (serverSettings()) this.onSettingsChanged();
  }

  /** Loads `options` to prove the folder works (the settings are not touched); the settings' model loads next time. */
  async validate(requested: LoadOptions): Promise<ModelInfo> {
    const { compile, compiledCache } = settingsLoadOptions(this.globalStoragePath);
    const options: LoadOptions = { compile, compiledCache, ...requested };
    this.loading = undefined;
    this.loadedKey = undefined;
    this.setStatus(statusFor(options.modelDir, { state: 'loading' }, options.variant));
    try {
      const compile = compileProgress();
      const info = await this.client.load(options, { onProgress: compile.onProgress, signal: compile.signal }).finally(compile.done);
      this.remote = undefined;
      this.loading = Promise.resolve(info);
      this.loadedKey = loadKey(options);
      this.setStatus(statusFor(info.modelDir, { state: 'ready' }, info.variant));
      return info;
    } catch (err) {
      this.setStatus(statusFor(options.modelDir, { state: 'error', message: errorText(err) }, options.variant));
      throw err;
    }
  }

  /** The settings changed: load the new model if one was loaded (or loading) before. */
  onSettingsChanged(): void {
    if (this.loadedKey === this.settingsKey()) return;
    const wasUsed = this.loading !== undefined || this.current.state === 'error';
    this.loading = undefined;
    this.loadedKey = undefined;
    if (wasUsed) this.ensureLoaded().catch((err: unknown) => showEngineError(err, 'Could not load the model', this.log));
    else this.setStatus(this.idleStatus());
  }

  setGenerating(tokensPerSecond?: number): void {
    this.setStatus({ ...this.current, state: 'generating', tokensPerSecond, message: undefined });
  }

  setIdle(): void {
    if (this.current.state === 'generating') this.setStatus({ ...this.current, state: 'ready', tokensPerSecond: undefined });
  }

  private setStatus(status: ModelStatusView): void {
    this.current = status;
    this.changed.fire(status);
  }

  private stopped: Promise<void> | undefined;

  dispose(): void {
    this.changed.dispose();
    void this.shutdown();
  }

  /** Ends the engine process (deactivate); once. */
  shutdown(): Promise<void> {
    this.stopped ??= this.client.dispose();
    return this.stopped;
  }
}
