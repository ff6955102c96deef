// The extension's settings: typed readers of the keys contributes.ts declares (as package.json does). Every
// setting except the model's is read when it is used, so a change applies without a reload.
import * as vscode from 'vscode';
import { GENERATION_DEFAULTS } from '../protocol/engine';
import { DEFAULT_THRESHOLDS, type PerplexityThresholds } from '../session/perplexityView';
import type { FlowSettings } from '../session/ports';
import { CONFIG_SECTION, SETTING } from './contributes';

export { CONFIG_SECTION, SETTING };

/** The settings that need the model reloaded when they change. */
export const MODEL_SETTINGS = [
  SETTING.modelPath,
  SETTING.modelVariant,
  SETTING.threads,
  SETTING.compile,
  SETTING.compiledModelCache,
  SETTING.speculate,
  SETTING.serverUrl,
  SETTING.serverModel,
  SETTING.serverApiKeyEnv,
  SETTING.serverTimeoutSeconds,
] as const;

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
    temperature: Math.max(0, c.get<number>(SETTING.temperature, GENERATION_DEFAULTS.temperature)),
    topP: Math.min(1, Math.max(1e-6, c.get<number>(SETTING.topP, GENERATION_DEFAULTS.topP))),
    maxNewTokens: Math.max(1, Math.min(2000, Math.round(c.get<number>(SETTING.maxNewTokens, GENERATION_DEFAULTS.maxNewTokens)))),
  };
}

export function perplexityThresholds(): PerplexityThresholds {
  const c = config();
  return { low: c.get<number>(SETTING.lowThreshold, DEFAULT_THRESHOLDS.low), high: c.get<number>(SETTING.highThreshold, DEFAULT_THRESHOLDS.high) };
}

export function insertPromptAsComment(): boolean {
  return config().get<boolean>(SETTING.insertPromptAsComment, true);
}

/** What the turn flow reads of the settings, read now. */
export function flowSettings(): FlowSettings {
  const runAfterAccept = config().get<boolean>(SETTING.runAfterAccept, true);
  const candidatesPerTurn = config().get<number>(SETTING.candidatesPerTurn, 1);
  return { ...generationSettings(), thresholds: perplexityThresholds(), insertPromptAsComment: insertPromptAsComment(), runAfterAccept, candidatesPerTurn };
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
