// The extension's settings: keys (matching package.json's `contributes.configuration`) and typed readers. Every
// setting except the model's is read when it is used, so a change applies without a reload.
import * as vscode from 'vscode';
import type { PerplexityThresholds } from '../session/perplexityView';

export const CONFIG_SECTION = 'codegenMt';

export const SETTING = {
  modelPath: 'modelPath',
  modelVariant: 'modelVariant',
  threads: 'threads',
  compile: 'compile',
  compiledModelCache: 'compiledModelCache',
  temperature: 'temperature',
  topP: 'topP',
  maxNewTokens: 'maxNewTokens',
  insertPromptAsComment: 'insertPromptAsComment',
  lowThreshold: 'perplexity.lowThreshold',
  highThreshold: 'perplexity.highThreshold',
  hintsEnabled: 'hints.enabled',
  python: 'python',
} as const;

/** The settings that need the model reloaded when they change. */
export const MODEL_SETTINGS = [SETTING.modelPath, SETTING.modelVariant, SETTING.threads, SETTING.compile, SETTING.compiledModelCache] as const;

export function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(CONFIG_SECTION);
}

export function fullKey(key: string): string {
  return `${CONFIG_SECTION}.${key}`;
}

export interface GenerationSettings {
  readonly temperature: number;
  readonly topP: number;
  readonly maxNewTokens: number;
}

export function generationSettings(): GenerationSettings {
  const c = config();
  return {
    temperature: Math.max(0, c.get<number>(SETTING.temperature, 0.2)),
    topP: Math.min(1, Math.max(1e-6, c.get<number>(SETTING.topP, 0.95))),
    maxNewTokens: Math.max(1, Math.min(2000, Math.round(c.get<number>(SETTING.maxNewTokens, 128)))),
  };
}

export function perplexityThresholds(): PerplexityThresholds {
  const c = config();
  return { low: c.get<number>(SETTING.lowThreshold, 8), high: c.get<number>(SETTING.highThreshold, 20) };
}

export function insertPromptAsComment(): boolean {
  return config().get<boolean>(SETTING.insertPromptAsComment, true);
}

export function hintsEnabled(): boolean {
  return config().get<boolean>(SETTING.hintsEnabled, true);
}

/** Writes a setting where its effective value comes from (workspace folder, workspace, else user settings). */
export async function updateEffective(key: string, value: unknown): Promise<void> {
  const c = config();
  const inspected = c.inspect(key);
  const target =
    inspected?.workspaceFolderValue !== undefined
      ? vscode.ConfigurationTarget.WorkspaceFolder
      : inspected?.workspaceValue !== undefined
        ? vscode.ConfigurationTarget.Workspace
        : vscode.ConfigurationTarget.Global;
  await c.update(key, value, target);
}

/** The Python (with numpy and pandas) that runs benchmark programs, as the user set it; undefined: find one (findPython). */
export function configuredPython(): string | undefined {
  return config().get<string>(SETTING.python, '').trim() || undefined;
}
