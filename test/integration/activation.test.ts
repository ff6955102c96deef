/// <reference types="mocha" />
// Activation, the contributed commands, and the panel's view.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { codegenApi, EXTENSION_ID, openPython, waitFor } from './helpers';

suite('activation', () => {
  test('opening a Python file activates the extension, which returns its test API', async () => {
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(extension, 'the development extension is loaded');
    await openPython('example.py');
    await waitFor(() => extension.isActive, 'activation on a Python file (onLanguage:python)');
    const api = await codegenApi();
    assert.ok(api.sessionId(), 'a session id');
    assert.ok(['none', 'loading', 'ready'].includes(api.modelStatus().state), `model state ${api.modelStatus().state}`);
  });

  test('with the bundled model active, the status says "random test model" and offers the recommended real model', async () => {
    const api = await codegenApi();
    const status = api.modelStatus();
    assert.equal(status.label, 'random test model');
    assert.deepEqual(status.testModel, { recommendedName: 'CodeGen-350M-mono', recommendedSize: 'about 360 MB' });
  });

  test('every command in package.json contributes.commands is registered', async () => {
    await codegenApi();
    const extension = vscode.extensions.getExtension(EXTENSION_ID)!;
    const contributed = (extension.packageJSON.contributes.commands as { command: string }[]).map((c) => c.command);
    assert.ok(contributed.length >= 12, `${contributed.length} contributed commands`);
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = contributed.filter((c) => !registered.has(c));
    assert.deepEqual(missing, [], 'contributed but not registered');
  });

  test('the panel view resolves and its page says ready', async () => {
    const api = await codegenApi();
    await vscode.commands.executeCommand('workbench.view.extension.codegenMt');
    await vscode.commands.executeCommand('codegenMt.panel.focus');
    await waitFor(() => api.panel().resolved, 'the webview view provider to be resolved');
    await waitFor(() => api.panel().ready, "the panel's page to post ready", 20_000);
    // The Focus command goes through the same path and must not throw once the view exists.
    await vscode.commands.executeCommand('codegenMt.focusPanel');
  });
});
