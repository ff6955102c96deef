// The engine as the editor uses it: one EngineClient (the model runs in a child process), loaded lazily from the
// settings, reloaded when they change, its state in the status bar, and the Select Model command.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { BUNDLED_MODEL_NAME, bundledModelDir } from '../engine/bundledModel';
import type { Engine, LoadOptions, LoadProgress, ModelInfo } from '../protocol/engine';
import type { ModelStatusView } from '../protocol/webview';
import { EngineClient } from '../worker/engineClient';
import { listDownloadedModels } from '../download/modelDownloader';
import { RECOMMENDED_MODEL } from '../download/recommendedModel';
import { errorText, SELECT_MODEL_COMMAND, showEngineError } from './errors';
import { DOWNLOAD_MODEL_COMMAND, downloadedModelRoots } from './modelDownload';
import { config, MODEL_SETTINGS, fullKey, SETTING } from './settings';

export { SELECT_MODEL_COMMAND };

/** The load options the settings ask for; compiled models go to the extension's global storage by default. */
export function settingsLoadOptions(globalStoragePath: string): LoadOptions {
  const c = config();
  const modelDir = c.get<string>(SETTING.modelPath, '').trim() || bundledModelDir();
  const variant = c.get<string>(SETTING.modelVariant, '').trim() || undefined;
  const threads = c.get<number>(SETTING.threads, 0);
  const compiledCache = c.get<string>(SETTING.compiledModelCache, '').trim() || path.join(globalStoragePath, 'compiled');
  return { modelDir, variant, threads: threads > 0 ? threads : undefined, compile: c.get<boolean>(SETTING.compile, true), compiledCache };
}

/** The same key for the same load, however the options object was built (a validated folder is not loaded twice). */
function loadKey(o: LoadOptions): string {
  return JSON.stringify([path.resolve(o.modelDir), o.variant ?? '', o.threads ?? 0, o.compile !== false, o.compiledCache ?? '']);
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

export class ModelManager implements vscode.Disposable {
  readonly engine: Engine;
  private readonly client: EngineClient;
  private loading: Promise<ModelInfo> | undefined;
  private loadedKey: string | undefined;
  private current: ModelStatusView;
  private readonly changed = new vscode.EventEmitter<ModelStatusView>();
  readonly onDidChangeStatus = this.changed.event;

  constructor(
    private readonly log: vscode.LogOutputChannel,
    private readonly globalStoragePath: string,
  ) {
    this.client = new EngineClient({ log: (line) => log.info(line) });
    this.engine = this.client;
    const options = settingsLoadOptions(this.globalStoragePath);
    this.current = statusFor(options.modelDir, { state: 'none', message: 'Loads on first use.' }, options.variant);
  }

  get status(): ModelStatusView {
    return this.current;
  }

  /** The engine process's pid, if one is running (for the log and the test API). */
  get enginePid(): number | undefined {
    return this.client.pid;
  }

  /** The model the settings name, loaded (once; again after the settings change). */
  ensureLoaded(): Promise<ModelInfo> {
    const options = settingsLoadOptions(this.globalStoragePath);
    const key = loadKey(options);
    if (this.loading && this.loadedKey === key) return this.loading;
    this.loadedKey = key;
    this.setStatus(statusFor(options.modelDir, { state: 'loading' }, options.variant));
    this.log.info(`Loading ${options.modelDir}${options.variant ? ` (${options.variant})` : ''}`);
    const compile = compileProgress();
    const loading = this.client.load(options, { onProgress: compile.onProgress, signal: compile.signal }).finally(compile.done).then(
      (info) => {
        if (info.compiled?.compiledNow) this.log.info(`Compiled ${info.compiled.source} to ${info.onnxFile} in ${Math.round(info.compiled.compileMs)} ms`);
        if (this.loading === loading) {
          this.setStatus(statusFor(info.modelDir, { state: 'ready' }, info.variant));
          this.log.info(`Loaded ${info.onnxFile} in ${Math.round(info.loadMs)} ms (${info.layout} layout, ${info.nPositions} positions)`);
        }
        return info;
      },
      (err: unknown) => {
        if (this.loading === loading) {
          this.loading = undefined;
          this.loadedKey = undefined;
          this.setStatus(statusFor(options.modelDir, { state: 'error', message: errorText(err) }, options.variant));
        }
        throw err;
      },
    );
    this.loading = loading;
    return loading;
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
    const options = settingsLoadOptions(this.globalStoragePath);
    if (this.loadedKey === loadKey(options)) return;
    const wasUsed = this.loading !== undefined || this.current.state === 'error';
    this.loading = undefined;
    this.loadedKey = undefined;
    if (wasUsed) this.ensureLoaded().catch((err: unknown) => showEngineError(err, 'Could not load the model', this.log));
    else this.setStatus(statusFor(options.modelDir, { state: 'none', message: 'Loads on first use.' }, options.variant));
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

/** The status bar item: the model and its state; click to select a model. */
export function statusBarText(status: ModelStatusView): { text: string; tooltip: string } {
  const { text, tooltip } = statusBarParts(status);
  if (!status.testModel) return { text, tooltip };
  return { text, tooltip: `${tooltip}\nThe bundled test model has random weights: it writes gibberish. Click to download ${status.testModel.recommendedName} or choose another model.` };
}

function statusBarParts(status: ModelStatusView): { text: string; tooltip: string } {
  switch (status.state) {
    case 'none':
      return { text: `$(hubot) ${status.label}`, tooltip: `CodeGen: ${status.label} (not loaded yet). Click to select a model.` };
    case 'loading':
      return { text: `$(loading~spin) ${status.label}`, tooltip: `CodeGen: loading ${status.label}...` };
    case 'ready':
      return { text: `$(hubot) ${status.label}`, tooltip: `CodeGen: ${status.label} is ready. Click to select a model.` };
    case 'generating': {
      const speed = status.tokensPerSecond ? ` ${status.tokensPerSecond.toFixed(0)} tok/s` : '';
      return { text: `$(sync~spin) ${status.label}${speed}`, tooltip: `CodeGen: generating with ${status.label}` };
    }
    case 'error':
      return { text: `$(error) ${status.label}`, tooltip: `CodeGen: ${status.message ?? 'the model failed to load'}. Click to select a model.` };
    default: {
      const unreachable: never = status.state;
      return unreachable;
    }
  }
}

interface ModelPick extends vscode.QuickPickItem {
  readonly dir?: string;
  readonly command?: string;
}

async function selectModel(manager: ModelManager, log: vscode.LogOutputChannel, globalStoragePath: string): Promise<void> {
  const current = config().get<string>(SETTING.modelPath, '').trim();
  const bundled = bundledModelDir();
  const items: ModelPick[] = [
    { label: `$(package) ${BUNDLED_MODEL_NAME}`, description: current ? '' : '(current)', detail: 'The bundled test model: random weights, writes gibberish.', dir: '' },
  ];
  if (current) items.push({ label: `$(folder) ${path.basename(current)}`, description: '(current)', detail: current, dir: current });
  for (const m of listDownloadedModels(downloadedModelRoots(globalStoragePath))) {
    if (path.resolve(current || bundled) === m.modelDir) continue;
    items.push({ label: `$(cloud-download) ${m.name}`, description: m.variants.join(', '), detail: m.modelDir, dir: m.modelDir });
  }
  items.push({ label: '$(cloud-download) Download model...', detail: 'From the Hugging Face hub: pick a variant (sizes shown); it is verified before use.', command: DOWNLOAD_MODEL_COMMAND });
  items.push({ label: '$(folder-opened) Choose folder...', detail: 'A CodeGen ONNX export: config.json and onnx/*.onnx (e.g. Xenova/codegen-350M-mono).' });
  const pick = await vscode.window.showQuickPick(items, { title: 'CodeGen: Select Model', placeHolder: 'Which model writes the code?' });
  if (!pick) return;
  if (pick.command) {
    await vscode.commands.executeCommand(pick.command);
    return;
  }
  let dir = pick.dir;
  if (dir === undefined) {
    const folders = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false, openLabel: 'Use This Model' });
    if (!folders?.[0]) return;
    dir = folders[0].fsPath;
  }
  const variant = config().get<string>(SETTING.modelVariant, '').trim() || undefined;
  const threads = config().get<number>(SETTING.threads, 0) || undefined;
  const modelDir = dir || bundled;
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `CodeGen: loading ${path.basename(modelDir)}...` },
    async () => {
      let usedVariant = variant;
      try {
        try {
          await manager.validate({ modelDir, variant, threads });
        } catch (err) {
          if (!variant) throw err;
          // The configured variant may not exist in the new folder: fall back to its best one.
          log.warn(`Variant ${variant} did not load from ${modelDir}; trying the folder's default.`);
          await manager.validate({ modelDir, threads });
          usedVariant = undefined;
        }
      } catch (err) {
        await showEngineError(err, `Could not use ${modelDir} as a model`, log);
        return;
      }
      await config().update(SETTING.modelPath, dir, vscode.ConfigurationTarget.Global);
      if (usedVariant !== variant) await config().update(SETTING.modelVariant, '', vscode.ConfigurationTarget.Global);
    },
  );
}

/** The model manager, its status bar item, the Select Model command and the reload on settings changes. */
export function registerModel(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): ModelManager {
  const manager = new ModelManager(log, context.globalStorageUri.fsPath);
  const item = vscode.window.createStatusBarItem('codegenMt.model', vscode.StatusBarAlignment.Right, 100);
  item.name = 'CodeGen Model';
  item.command = SELECT_MODEL_COMMAND;
  const render = (status: ModelStatusView): void => {
    const { text, tooltip } = statusBarText(status);
    item.text = text;
    item.tooltip = tooltip;
    item.backgroundColor = status.state === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
  };
  render(manager.status);
  item.show();
  context.subscriptions.push(
    manager,
    item,
    manager.onDidChangeStatus(render),
    vscode.commands.registerCommand(SELECT_MODEL_COMMAND, () => selectModel(manager, log, context.globalStorageUri.fsPath)),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (MODEL_SETTINGS.some((key) => e.affectsConfiguration(fullKey(key)))) manager.onSettingsChanged();
    }),
  );
  return manager;
}
