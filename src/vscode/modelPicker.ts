// The model in the status bar, and the Select Model command (the bundled test model, the current folder, the
// downloaded models, Download..., or a folder chosen in a dialog); also the reload when the model's settings change.
import type { EngineClient } from '../worker/engineClient';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { BUNDLED_MODEL_NAME, bundledModelDir } from '../engine/bundledModel';
import { downloadedModelRoots, listDownloadedModels } from '../download/modelDownloader';
import type { ModelStatusView } from '../protocol/webview';
import { COMMAND, MODEL_STATUS_ITEM } from './contributes';
import { showEngineError } from './errors';
import { ModelManager } from './modelManager';
import { registerServerCommands, serverSettings } from './serverBackend';
import { config, fullKey, MODEL_SETTINGS, SETTING, updateEffective } from './settings';

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
  const server = serverSettings();
  const bundled = bundledModelDir();
  const items: ModelPick[] = [];
  if (server) {
    items.push({ label: `$(remote) ${server.model ?? 'Completions server'}`, description: '(current: a server)', detail: server.url, command: COMMAND.connectServer });
  }
  const local = server ? '' : '(current)';
  items.push({ label: `$(package) ${BUNDLED_MODEL_NAME}`, description: current ? '' : local, detail: 'The bundled test model: random weights, writes gibberish.', dir: '' });
  if (current) items.push({ label: `$(folder) ${path.basename(current)}`, description: local, detail: current, dir: current });
  for (const m of listDownloadedModels(downloadedModelRoots(globalStoragePath))) {
    if (path.resolve(current || bundled) === m.modelDir) continue;
    items.push({ label: `$(cloud-download) ${m.name}`, description: m.variants.join(', '), detail: m.modelDir, dir: m.modelDir });
  }
  items.push({ label: '$(cloud-download) Download model...', detail: 'From the Hugging Face hub: pick a variant (sizes shown); it is verified before use.', command: COMMAND.downloadModel });
  items.push({ label: '$(folder-opened) Choose folder...', detail: 'A CodeGen ONNX export: config.json and onnx/*.onnx (e.g. Xenova/codegen-350M-mono).' });
  if (!server) {
    items.push({ label: '$(remote) Use a completions server...', detail: 'vLLM, TGI or codegen-mt serve on another machine (OpenAI-compatible /v1/completions).', command: COMMAND.connectServer });
  }
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
      // A local folder was chosen: it is the model now, not the server.
      if (serverSettings()) await updateEffective(SETTING.serverUrl, '');
    },
  );
}

/** The model manager, its status bar item, the Select Model command and the reload on settings changes. */
export function registerModel(context: vscode.ExtensionContext, log: vscode.LogOutputChannel, client: EngineClient): ModelManager {
  const manager = new ModelManager(log, context.globalStorageUri.fsPath, client, context.secrets);
  registerServerCommands(context, () => manager.onServerKeyChanged());
  const item = vscode.window.createStatusBarItem(MODEL_STATUS_ITEM, vscode.StatusBarAlignment.Right, 100);
  item.name = 'CodeGen Model';
  item.command = COMMAND.selectModel;
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
    vscode.commands.registerCommand(COMMAND.selectModel, () => selectModel(manager, log, context.globalStorageUri.fsPath)),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (MODEL_SETTINGS.some((key) => e.affectsConfiguration(fullKey(key)))) manager.onSettingsChanged();
    }),
  );
  return manager;
}
