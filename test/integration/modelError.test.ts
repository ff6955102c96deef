/// <reference types="mocha" />
// An invalid model folder: an actionable error (with Choose Folder...), no crash, and a working turn once the
// setting is restored.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { ShownError } from '../../src/vscode/testApi';
import { codegenApi, openPython, setSetting, stopGenerating, waitFor, workspaceFolder } from './helpers';

suite('invalid model folder', () => {
  suiteSetup(async () => {
    await stopGenerating(await codegenApi());
    await setSetting('maxNewTokens', 16);
  });

  suiteTeardown(async () => {
    await stopGenerating(await codegenApi());
    await setSetting('modelPath', undefined);
    await setSetting('maxNewTokens', undefined);
  });

  test('a non-model folder gives the error with Choose Folder..., then a restored setting works again', async () => {
    const api = await codegenApi();
    await openPython('model_error.py');
    const notAModel = vscode.Uri.joinPath(workspaceFolder(), 'not-a-model');
    await vscode.workspace.fs.createDirectory(notAModel);
    await vscode.workspace.fs.writeFile(vscode.Uri.joinPath(notAModel, 'README.txt'), new TextEncoder().encode('not a model\n'));

    api.clearLastError();
    // One cause, one notification: the reload on the settings change and the turn waiting on it fail alike.
    const notifications: ShownError[] = [];
    const listening = api.onDidShowError((e) => notifications.push(e));
    let failedId: string | undefined;
    try {
      await setSetting('modelPath', notAModel.fsPath);
      failedId = await vscode.commands.executeCommand<string>('codegenMt.submitPrompt', 'Add two numbers.');
      const failed = await api.waitForTurn(failedId!, ['failed']);
      assert.match(failed.error ?? '', /config\.json|model/i, `the turn's error names the problem: ${failed.error}`);
      await waitFor(() => notifications.length > 0, 'an error notification');
      await new Promise((resolve) => setTimeout(resolve, 1000)); // time for a second one to show up
    } finally {
      listening.dispose();
    }
    assert.equal(notifications.length, 1, `one notification: ${JSON.stringify(notifications)}`);
    const shown = await waitFor(() => api.lastError(), 'an error notification');
    assert.ok(shown.actions.includes('Choose Folder...'), `actions ${JSON.stringify(shown.actions)}`);
    assert.ok(shown.message.includes('not-a-model') || /config\.json/.test(shown.message), `the message names the folder or file: ${shown.message}`);
    await waitFor(() => api.modelStatus().state === 'error', 'the model status to be error');

    // No crash: the extension still answers, and the bundled model works once the setting is restored.
    await setSetting('modelPath', undefined);
    const id = await vscode.commands.executeCommand<string>('codegenMt.submitPrompt', 'Add two numbers.');
    const turn = await api.waitForTurn(id!, ['proposed']);
    assert.ok(turn.code.length > 0);
    assert.ok(['ready', 'generating'].includes(api.modelStatus().state), `model ${api.modelStatus().state}`);
    await vscode.commands.executeCommand('codegenMt.rejectTurn', id);
    await vscode.commands.executeCommand('codegenMt.rejectTurn', failedId);
  });
});
