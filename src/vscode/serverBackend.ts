// A completions server as the editor's model (vLLM, TGI, codegen-mt serve): its settings, its API key (kept in
// VS Code's secret storage, or read from an environment variable the user names), and the commands that connect
// to one, store the key, and go back to the local model.
import * as vscode from 'vscode';
import type { RemoteEngineOptions } from '../engine/remote/remoteEngine';
import { EngineError } from '../protocol/errors';
import { COMMAND } from './contributes';
import { config, SETTING, updateEffective } from './settings';

/** Where the key is kept in VS Code's secret storage (one key: the server of the settings). */
export const SERVER_KEY_SECRET = 'codegenMt.server.apiKey';

export interface ServerSettings {
  readonly url: string;
  readonly model?: string;
  readonly apiKeyEnv?: string;
  readonly timeoutMs: number;
}

/** The server the settings name, or undefined for the local model. */
export function serverSettings(): ServerSettings | undefined {
  const c = config();
  const url = c.get<string>(SETTING.serverUrl, '').trim();
  if (!url) return undefined;
  return {
    url,
    model: c.get<string>(SETTING.serverModel, '').trim() || undefined,
    apiKeyEnv: c.get<string>(SETTING.serverApiKeyEnv, '').trim() || undefined,
    timeoutMs: Math.max(1, c.get<number>(SETTING.serverTimeoutSeconds, 60)) * 1000,
  };
}

/** The remote engine's options: the settings and the key (from the environment variable, else the secret). */
export async function serverEngineOptions(settings: ServerSettings, secrets: vscode.SecretStorage): Promise<RemoteEngineOptions> {
  let apiKey: string | undefined;
  if (settings.apiKeyEnv) {
    apiKey = process.env[settings.apiKeyEnv];
    if (!apiKey) {
      throw new EngineError(
        'invalid-request',
        `codegenMt.server.apiKeyEnv names ${settings.apiKeyEnv}, which is not set in VS Code's environment: set it before starting VS Code, or clear the setting and use "CodeGen: Set Server API Key...".`,
      );
    }
  } else {
    apiKey = (await secrets.get(SERVER_KEY_SECRET)) || undefined;
  }
  return { url: settings.url, model: settings.model, apiKey, timeoutMs: settings.timeoutMs };
}

/** How the status bar and the panel name a served model: `codegen-2B-mono on gpu-box:8000`. */
export function serverLabel(url: string, model: string): string {
  let host = url;
  try {
    host = new URL(url).host;
  } catch {
    // shown as given
  }
  return `${model.split('/').pop() || model} on ${host}`;
}

/** Asks for a server's URL (and, optionally, its model) and puts them in the settings. */
async function connectServer(): Promise<void> {
  const current = serverSettings();
  const url = await vscode.window.showInputBox({
    title: 'CodeGen: Use a Completions Server',
    prompt: 'The base URL of an OpenAI-compatible completions server (vLLM, TGI, codegen-mt serve)',
    value: current?.url ?? 'http://localhost:8000/v1',
    validateInput: (value) => (/^https?:\/\/[^\s/]+/.test(value.trim()) ? undefined : 'A URL like http://gpu-box:8000/v1'),
  });
  if (url === undefined) return;
  const model = await vscode.window.showInputBox({
    title: 'CodeGen: Use a Completions Server',
    prompt: 'The served model (its id in /v1/models); empty: the first the server lists',
    value: current?.model ?? '',
  });
  if (model === undefined) return;
  await config().update(SETTING.serverModel, model.trim(), vscode.ConfigurationTarget.Global);
  await config().update(SETTING.serverUrl, url.trim(), vscode.ConfigurationTarget.Global);
}

/** The commands; `keyChanged` reloads the server with the new key. */
export function registerServerCommands(context: vscode.ExtensionContext, keyChanged: () => void): void {
  context.subscriptions.push(
    vscode.commands.registerCommand(COMMAND.connectServer, connectServer),
    vscode.commands.registerCommand(COMMAND.setServerApiKey, async () => {
      const key = await vscode.window.showInputBox({
        title: 'CodeGen: Set Server API Key',
        prompt: 'Kept in VS Code\'s secret storage and sent as "Authorization: Bearer". Empty: remove the stored key.',
        password: true,
        ignoreFocusOut: true,
      });
      if (key === undefined) return;
      if (key.trim() === '') await context.secrets.delete(SERVER_KEY_SECRET);
      else await context.secrets.store(SERVER_KEY_SECRET, key.trim());
      keyChanged();
    }),
    vscode.commands.registerCommand(COMMAND.useLocalModel, () => updateEffective(SETTING.serverUrl, '')),
  );
}
