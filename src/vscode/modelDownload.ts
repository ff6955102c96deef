// "CodeGen: Download Model...": pick a model from the catalog (Salesforce's twelve checkpoints and the ONNX export,
// each with its download size and what it needs here) or another Hugging Face repository; then one of the ONNX
// variants it has (with sizes), or for a checkpoint the precision to convert it to (disk, RAM, expected speed).
// A model that will not fit in this machine's memory is warned about first. It is downloaded into the extension's
// global storage with a cancellable progress notification, then loaded (a checkpoint is converted then, with the
// load's progress) and made the model. HF_ENDPOINT and HF_TOKEN are honoured; a token asked for here is kept in
// SecretStorage. VS Code's http.proxy (and http.noProxy) wins over HTTPS_PROXY / NO_PROXY. Given `{ repo,
// variant? }` (tests, other extensions) it asks nothing and resolves to the model it made current.
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { CATALOG, catalogEntry, measureMemoryBandwidth, memoryWarning, onnxVariantPrecision, precisionPickItem, repoPickItem, type SizedModel } from '../download/catalog';
import { checkpointPrecision, precisionFor, remoteCheckpoint, remoteCodeGenConfig } from '../download/checkpointPlan';
import { listVariants, type CodeGenConfig } from '../engine/modelFolder';
import { PRECISIONS, type Precision } from '../engine/compiler/graphBuilder';
import { DownloadError } from '../download/downloadError';
import { DEFAULT_REVISION, fetchRepoSnapshot, hubSettingsFromEnv, normalizeRepoId, type HubSettings, type RepoSnapshot } from '../download/hubApi';
import { downloadedModelRoots, downloadModel, manualSteps, modelFolderName, remoteVariants, smallFiles, type RemoteVariant } from '../download/modelDownloader';
import { describeProgress, formatBytes } from '../download/progressMeter';
import { explicitProxy } from '../download/proxy';
import { COMMAND } from './contributes';
import { showEngineError } from './errors';
import type { ModelManager } from './modelManager';
import { config, SETTING } from './settings';

export const HF_TOKEN_SECRET = 'codegenMt.huggingFaceToken';
/** The repositories the picker offers: the catalog's, the recommended ONNX export first. */
export const SUGGESTED_REPOS: readonly string[] = CATALOG.map((e) => e.repo);

/**
 * The arguments that skip the command's pickers: the repository and the variant, or the first of `preferVariants`
 * the repository has (default: the engine's).
 */
export interface DownloadModelArgs {
  readonly repo: string;
  readonly variant?: string;
  readonly preferVariants?: readonly string[];
}

/** What the command resolves to when the model was downloaded, loaded and made the model in the settings. */
export interface DownloadedModel {
  readonly modelDir: string;
  readonly variant: string;
}

const VARIANT_NOTES: Readonly<Record<string, string>> = {
  model: 'full precision (fp32): best output, largest',
  model_quantized: '8-bit: about a quarter of fp32, small quality loss',
  model_int8: '8-bit: about a quarter of fp32, small quality loss',
  model_uint8: '8-bit: about a quarter of fp32, small quality loss',
  model_fp16: 'half precision',
  model_q4: '4-bit weights',
  model_q4f16: '4-bit weights, fp16 activations: smallest',
  model_bnb4: '4-bit (bitsandbytes)',
  decoder_model_merged: 'older export layout, full precision',
  decoder_model_merged_quantized: 'older export layout, 8-bit',
};

function hubSettings(token: string | undefined): HubSettings {
  const env = hubSettingsFromEnv();
  const http = vscode.workspace.getConfiguration('http');
  const proxy = http.get<string>('proxy', '').trim();
  const noProxy = http.get<string[]>('noProxy', []);
  return { ...env, token: token ?? env.token, proxy: proxy ? explicitProxy(proxy, noProxy) : env.proxy };
}

async function pickRepo(): Promise<string | undefined> {
  const other = '$(edit) Other repository...';
  const bandwidth = measureMemoryBandwidth();
  const totalmem = os.totalmem();
  const pick = await vscode.window.showQuickPick(
    [
      ...CATALOG.map((entry) => repoPickItem(entry, bandwidth, totalmem)),
      { label: other, description: '', detail: 'A Hugging Face model id (owner/name) with config.json and onnx/*.onnx or a CodeGen checkpoint' },
    ],
    { title: 'CodeGen: Download Model (1/2)', placeHolder: 'Which model? (download size; disk, RAM and speed here at the default precision)', matchOnDetail: true },
  );
  if (!pick) return undefined;
  if (pick.label !== other) return pick.label;
  return vscode.window.showInputBox({
    title: 'CodeGen: Download Model',
    prompt: 'Hugging Face model id (owner/name) of a CodeGen ONNX export or checkpoint',
    placeHolder: 'Salesforce/codegen-350M-mono',
    validateInput: (v) => {
      try {
        normalizeRepoId(v);
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    },
  });
}

async function askToken(context: vscode.ExtensionContext, message: string): Promise<string | undefined> {
  const token = await vscode.window.showInputBox({
    title: 'CodeGen: Hugging Face token',
    prompt: `${message} Paste a read token (https://huggingface.co/settings/tokens); it is kept in VS Code's secret storage.`,
    password: true,
    ignoreFocusOut: true,
    placeHolder: 'hf_...',
  });
  if (!token?.trim()) return undefined;
  await context.secrets.store(HF_TOKEN_SECRET, token.trim());
  return token.trim();
}

/** The repository's files, asking for a token when the hub says the repository is gated. */
async function fetchSnapshot(context: vscode.ExtensionContext, repo: string, log: vscode.LogOutputChannel): Promise<{ snapshot: RepoSnapshot; hub: HubSettings } | undefined> {
  let token = await context.secrets.get(HF_TOKEN_SECRET);
  for (let asked = false; ; asked = true) {
    const hub = hubSettings(token);
    try {
      const snapshot = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `CodeGen: listing the variants of ${repo}...`, cancellable: true },
        (_progress, cancel) => fetchRepoSnapshot(repo, DEFAULT_REVISION, hub, abortSignalOf(cancel)),
      );
      return { snapshot, hub };
    } catch (err) {
      if (err instanceof DownloadError && err.code === 'unauthorized' && !asked) {
        token = await askToken(context, err.message);
        if (token) continue;
      }
      // Not awaited (nor below): the command ends now, whether or not the notification is ever answered.
      void showDownloadError(err, repo, hub, path.join('<models folder>', modelFolderName(repo)), log);
      return undefined;
    }
  }
}

function abortSignalOf(token: vscode.CancellationToken): AbortSignal {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  else token.onCancellationRequested(() => controller.abort());
  return controller.signal;
}

async function showDownloadError(err: unknown, repo: string, hub: HubSettings, dir: string, log: vscode.LogOutputChannel, variant?: string): Promise<void> {
  if (!(err instanceof DownloadError)) {
    await showEngineError(err, `Could not download ${repo}`, log);
    return;
  }
  if (err.code === 'cancelled') {
    log.info(`Download of ${repo} cancelled; partial files are kept and the next download resumes them.`);
    return;
  }
  log.error(`Download of ${repo}: [${err.code}] ${err.message}`);
  const steps = err.manualSteps ?? (err.code === 'network' || err.code === 'unauthorized' ? manualSteps(hub, repo, DEFAULT_REVISION, dir, undefined, variant) : undefined);
  const actions = steps ? ['Show Manual Steps', 'Choose Folder...'] : ['Show Log'];
  // The hub's error may name only a host or a file: say which model it was about.
  const about = err.message.includes(repo) ? '' : `Could not download ${repo}: `;
  const choice = await vscode.window.showErrorMessage(`CodeGen: ${about}${err.message}`, ...actions);
  if (choice === 'Show Manual Steps' && steps) {
    const doc = await vscode.workspace.openTextDocument({ content: `${err.message}\n\n${steps}\n`, language: 'plaintext' });
    await vscode.window.showTextDocument(doc);
  } else if (choice === 'Choose Folder...') {
    await vscode.commands.executeCommand(COMMAND.selectModel);
  } else if (choice === 'Show Log') {
    log.show(true);
  }
}

/** What is to be downloaded: an ONNX variant, or a checkpoint and the precision it converts to. */
interface DownloadChoice {
  readonly variant: string;
  /** For the memory check: the model's shape and the precision it runs at, when known. */
  readonly footprint?: { readonly entry: SizedModel; readonly precision: Precision };
}

async function downloadCommand(context: vscode.ExtensionContext, manager: ModelManager, log: vscode.LogOutputChannel, args?: DownloadModelArgs): Promise<DownloadedModel | undefined> {
  const repoInput = args ? args.repo : await pickRepo();
  if (!repoInput) return undefined;
  const repo = normalizeRepoId(repoInput);
  const listed = await fetchSnapshot(context, repo, log);
  if (!listed) return undefined;
  const { snapshot, hub } = listed;
  const dir = path.join(downloadedModelRoots(context.globalStorageUri.fsPath)[0], modelFolderName(repo));
  const isCheckpoint = remoteVariants(snapshot).length === 0 && remoteCheckpoint(snapshot) !== undefined;
  if (!snapshot.files.some((f) => f.path === 'config.json') || (remoteVariants(snapshot).length === 0 && !isCheckpoint)) {
    void vscode.window.showErrorMessage(`CodeGen: ${repo} is not a CodeGen model (it needs config.json and onnx/*.onnx or a checkpoint: model.safetensors, pytorch_model.bin). Try Salesforce/codegen-350M-mono or Xenova/codegen-350M-mono.`);
    return undefined;
  }
  let choice: DownloadChoice | undefined;
  try {
    choice = isCheckpoint ? await choosePrecision(snapshot, hub, args) : await chooseVariant(snapshot, dir, args);
  } catch (err) {
    void showDownloadError(err, repo, hub, dir, log, args?.variant);
    return undefined;
  }
  if (!choice || (!args && !(await confirmMemory(choice)))) return undefined;
  const result = await runDownload(repo, choice.variant, dir, hub, snapshot, log);
  if (!result) return undefined;
  log.info(`Downloaded ${repo} (${result.format}, ${result.variant}, commit ${result.commit}) into ${result.modelDir}: fetched ${result.downloaded.length} files, ${result.reused.length} already there.`);
  return (await useDownloadedModel(manager, result.modelDir, result.variant, log)) ? { modelDir: result.modelDir, variant: result.variant } : undefined;
}

/** The ONNX variant: the one named, the first preferred one the repository has, or the user's pick (with sizes). */
async function chooseVariant(snapshot: RepoSnapshot, dir: string, args?: DownloadModelArgs): Promise<DownloadChoice | undefined> {
  const repo = snapshot.repo;
  const variants = remoteVariants(snapshot);
  const entry = catalogEntry(repo);
  const footprint = (variant: string): DownloadChoice => ({ variant, footprint: entry && { entry, precision: onnxVariantPrecision(variant) } });
  if (args) {
    const preferred = args.preferVariants?.map((stem) => variants.find((v) => v.variant === stem)).find((v) => v !== undefined);
    const named = args.variant === undefined ? (preferred ?? variants[0]) : variants.find((v) => v.variant === args.variant);
    if (!named) throw new DownloadError('not-found', `${repo} has no ONNX variant ${args.variant} (it has ${variants.map((v) => v.variant).join(', ')}).`);
    return footprint(named.variant);
  }
  const have = new Set(listVariants(dir));
  const smallBytes = smallFiles(snapshot).reduce((n, f) => n + f.size, 0);
  const pick = await vscode.window.showQuickPick(
    variants.map((v: RemoteVariant, i) => ({
      label: v.variant,
      description: `${formatBytes(v.bytes + smallBytes)}${have.has(v.variant) ? ' (downloaded)' : ''}${i === 0 ? ' (the engine default)' : ''}`,
      detail: VARIANT_NOTES[v.variant],
      variant: v.variant,
    })),
    { title: `CodeGen: Download Model (2/2): ${repo}`, placeHolder: 'Which variant? Smaller files load faster and use less memory.' },
  );
  return pick && footprint(pick.variant);
}

/** A checkpoint's precision: the one named, or the user's pick with each one's disk, RAM and speed here. */
async function choosePrecision(snapshot: RepoSnapshot, hub: HubSettings, args?: DownloadModelArgs): Promise<DownloadChoice | undefined> {
  const repo = snapshot.repo;
  const named = checkpointPrecision(repo, args?.variant);
  const config: CodeGenConfig = catalogEntry(repo)?.config ?? (await remoteCodeGenConfig(snapshot, hub));
  const fallback = precisionFor(config, undefined);
  const entry: SizedModel = { repo, config, defaultPrecision: fallback };
  if (args) return { variant: named ?? fallback, footprint: { entry, precision: named ?? fallback } };
  const bandwidth = measureMemoryBandwidth();
  const totalmem = os.totalmem();
  const order = [fallback, ...PRECISIONS.filter((p) => p !== fallback)];
  const pick = await vscode.window.showQuickPick(
    order.map((p) => precisionPickItem(entry, p, bandwidth, totalmem)),
    { title: `CodeGen: Download Model (2/2): ${repo}`, placeHolder: 'Which precision? The checkpoint is converted to it on this machine once, after the download.' },
  );
  return pick && { variant: pick.precision, footprint: { entry, precision: pick.precision } };
}

/** Warns (modal) before a model that will not fit in this machine's memory; whether to go on. */
async function confirmMemory(choice: DownloadChoice): Promise<boolean> {
  const warning = choice.footprint && memoryWarning(choice.footprint.entry, choice.footprint.precision, os.totalmem());
  if (!warning) return true;
  const anyway = 'Download Anyway';
  return (await vscode.window.showWarningMessage(`CodeGen: ${warning}`, { modal: true }, anyway)) === anyway;
}

async function runDownload(repo: string, variant: string, dir: string, hub: HubSettings, snapshot: RepoSnapshot, log: vscode.LogOutputChannel) {
  try {
    return await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `CodeGen: downloading ${repo} (${variant})`, cancellable: true },
      async (progress, cancel) => {
        let percent = 0;
        return downloadModel({
          repo,
          variant,
          dir,
          hub,
          snapshot,
          signal: abortSignalOf(cancel),
          progressIntervalMs: 250,
          onProgress: (p) => {
            const now = p.totalBytes > 0 ? (100 * p.bytes) / p.totalBytes : 100;
            const what = p.phase === 'verify' ? `verifying ${p.file}` : p.file;
            progress.report({ message: `${describeProgress(p)} (${what})`, increment: Math.max(0, now - percent) });
            percent = Math.max(percent, now);
          },
        });
      },
    );
  } catch (err) {
    void showDownloadError(err, repo, hub, dir, log, variant);
    return undefined;
  }
}

/** Loads the folder (the engine's rules decide), then makes it the model in the user settings; whether it loaded. */
async function useDownloadedModel(manager: ModelManager, modelDir: string, variant: string, log: vscode.LogOutputChannel): Promise<boolean> {
  // The folder's default variant is stored as '' so that later downloads of a better variant are picked up.
  const variantSetting = listVariants(modelDir)[0] === variant ? '' : variant;
  const threads = config().get<number>(SETTING.threads, 0);
  try {
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `CodeGen: loading ${path.basename(modelDir)}...` }, () =>
      manager.validate({ modelDir, variant: variantSetting || undefined, threads: threads > 0 ? threads : undefined }),
    );
  } catch (err) {
    void showEngineError(err, `The downloaded model in ${modelDir} does not load`, log);
    return false;
  }
  if (config().get<string>(SETTING.modelVariant, '').trim() !== variantSetting) {
    await config().update(SETTING.modelVariant, variantSetting, vscode.ConfigurationTarget.Global);
  }
  await config().update(SETTING.modelPath, modelDir, vscode.ConfigurationTarget.Global);
  void vscode.window.showInformationMessage(`CodeGen: now using ${path.basename(modelDir)} (${variant}).`);
  return true;
}

/** The Download Model command. */
export function registerModelDownload(context: vscode.ExtensionContext, manager: ModelManager, log: vscode.LogOutputChannel): void {
  context.subscriptions.push(vscode.commands.registerCommand(COMMAND.downloadModel, (arg?: unknown) => downloadCommand(context, manager, log, downloadArgs(arg))));
}

/** `{ repo, variant? }` given to the command, if that is what it was given (a menu passes other things). */
function downloadArgs(arg: unknown): DownloadModelArgs | undefined {
  if (typeof arg !== 'object' || arg === null) return undefined;
  const { repo, variant, preferVariants } = arg as { repo?: unknown; variant?: unknown; preferVariants?: unknown };
  if (typeof repo !== 'string') return undefined;
  const stems = Array.isArray(preferVariants) ? preferVariants.filter((v): v is string => typeof v === 'string') : undefined;
  return { repo, variant: typeof variant === 'string' && variant.trim() ? variant.trim() : undefined, preferVariants: stems };
}
