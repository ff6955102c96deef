/// <reference types="mocha" />
// Shared by the integration suites: the extension's test API, settings, the editor documents the turns go into.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { findPython } from '../../src/eval/python';
import type { CodegenMtApi } from '../../src/vscode/testApi';

export const EXTENSION_ID = 'codegen-mt.codegen-mt';

/** The paper's header: the text a test document starts with (the cursor goes below it). */
export const HEADER = '# Import libraries.\n\nimport numpy as np\n\n';

/** The extension, activated; its test API. */
export async function codegenApi(): Promise<CodegenMtApi> {
  const extension = vscode.extensions.getExtension<CodegenMtApi>(EXTENSION_ID);
  assert.ok(extension, `the extension ${EXTENSION_ID} is installed`);
  const api = await extension.activate();
  assert.ok(api && typeof api.submit === 'function', 'activate() returned the test API');
  return api;
}

/**
 * Stops a turn left generating (by a test that failed half-way), so that the next test's submit is not refused;
 * the suites call it in their setup and teardown.
 */
export async function stopGenerating(api: CodegenMtApi): Promise<void> {
  const generating = api.turns().find((t) => t.state === 'generating');
  if (!generating) return;
  await vscode.commands.executeCommand('codegenMt.stopGeneration', generating.id);
  await api.waitForTurn(generating.id, ['cancelled', 'proposed', 'failed'], 10_000);
}

/** Sets a codegenMt.* setting in the user settings (undefined: removes it). */
export async function setSetting(key: string, value: unknown): Promise<void> {
  await vscode.workspace.getConfiguration('codegenMt').update(key, value, vscode.ConfigurationTarget.Global);
}

export function workspaceFolder(): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  assert.ok(folder, 'a workspace folder is open');
  return folder;
}

/**
 * Writes `name` in the workspace with `text`, opens it in a focused editor with the cursor at its end, and
 * returns the editor (an editor already open on it is reset to `text` first, as one edit).
 */
export async function openPython(name: string, text = HEADER): Promise<vscode.TextEditor> {
  const uri = vscode.Uri.joinPath(workspaceFolder(), name);
  await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(text));
  const document = await vscode.workspace.openTextDocument(uri);
  const editor = await vscode.window.showTextDocument(document, { preview: false, preserveFocus: false });
  if (document.getText() !== text) {
    const whole = new vscode.Range(document.positionAt(0), document.positionAt(document.getText().length));
    assert.ok(await editor.edit((e) => e.replace(whole, text)), 'the document was reset');
  }
  assert.equal(document.languageId, 'python');
  const end = document.positionAt(text.length);
  editor.selection = new vscode.Selection(end, end);
  return editor;
}

/** Resolves when `predicate()` holds (polled every 50 ms); rejects after `timeoutMs` with `what`. */
export async function waitFor<T>(predicate: () => T | undefined | false, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The code of an accepted turn as the editor holds it (insertion.ts: trailing whitespace dropped, CRLF -> LF). */
export function normalizedCode(code: string): string {
  return code.replace(/\r\n?/g, '\n').replace(/\s+$/, '');
}

/** What an accepted turn adds at a column-0 insertion point below text that ends in a blank line. */
export function insertedTurn(prompt: string, code: string): string {
  const body = normalizedCode(code);
  return `# ${prompt}\n${body === '' ? '' : `${body}\n`}\n`;
}

/** Why no Python can run the benchmarks' programs here (findPython's message), or undefined when one can. */
export function noPython(): string | undefined {
  try {
    findPython();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * The setup and teardown of a suite whose programs run in the sandbox, registered with Mocha's suiteSetup and
 * suiteTeardown: the suite is skipped (with a SKIPPED line in the log) when no Python can run the programs;
 * otherwise program runs are allowed ("Allow Program Runs") and `settings` are set, in their order. The teardown
 * stops program runs, sets `restore` (settings a test changed, back to the value the suite leaves them at), then
 * removes `settings`, in the reverse order. Returns a getter for the extension's test API (after the setup).
 */
export function useSandboxSuite(settings: Readonly<Record<string, unknown>>, restore: Readonly<Record<string, unknown>> = {}): () => CodegenMtApi {
  let api: CodegenMtApi | undefined;

  suiteSetup(async function () {
    const missing = noPython();
    if (missing) {
      console.log(`${process.env.CODEGEN_MT_TEST_LOG_TAG ?? ''}    SKIPPED: ${missing}`);
      this.skip();
    }
    api = await codegenApi();
    await stopGenerating(api);
    await vscode.commands.executeCommand('codegenMt.allowProgramRuns');
    for (const [key, value] of Object.entries(settings)) await setSetting(key, value);
  });

  suiteTeardown(async () => {
    await vscode.commands.executeCommand('codegenMt.stopProgramRuns');
    for (const [key, value] of Object.entries(restore)) await setSetting(key, value);
    for (const key of Object.keys(settings).reverse()) await setSetting(key, undefined);
  });

  return () => {
    assert.ok(api, 'the suite was set up');
    return api;
  };
}
