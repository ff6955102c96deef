/// <reference types="mocha" />
// The extension on a completions server: `codegen-mt serve` over the bundled model, started here as a process on
// 127.0.0.1, named by codegenMt.server.url. The status bar names the server; a turn streams, is accepted and gets
// its prompt's perplexity hint, all from the server; killing the server fails the next turn with one error that
// offers the local model, and "Use the Local Model" goes back to it.
import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CodegenMtApi } from '../../src/vscode/testApi';
import { NODE_FLAGS } from '../../src/worker/nodeFlags';
import { codegenApi, EXTENSION_ID, HEADER, openPython, setSetting, stopGenerating, waitFor } from './helpers';

/** Starts `codegen-mt serve` (from out/) on a free port; resolves with the URL it prints. */
function startServe(modelDir: string): Promise<{ child: ChildProcess; url: string }> {
  const main = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
  const script = `require(${JSON.stringify(main)}).main(process.argv.slice(1)).then((code) => { process.exitCode = code; })`;
  const args = [...NODE_FLAGS, '-e', script, '--', 'serve', '--model', modelDir, '--port', '0', '--served-model-name', 'tiny'];
  // Node itself, not the editor's executable (under test-electron that is Electron).
  const child = spawn(process.env.npm_node_execpath || process.execPath, args, { env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      const match = /serving \S+ at (http:\/\/\S+)\n/.exec(stderr);
      if (match) resolve({ child, url: match[1] });
    });
    child.on('close', (code) => reject(new Error(`codegen-mt serve exited (${code}) before serving:\n${stderr}`)));
  });
}

suite('a completions server as the model (codegen-mt serve)', () => {
  let api: CodegenMtApi;
  let serve: { child: ChildProcess; url: string } | undefined;

  suiteSetup(async () => {
    api = await codegenApi();
    await stopGenerating(api);
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(extension);
    serve = await startServe(path.join(extension.extensionPath, 'models', 'codegen-tiny-random'));
    await setSetting('maxNewTokens', 16);
  });

  suiteTeardown(async () => {
    if (api) await stopGenerating(api);
    serve?.child.kill('SIGKILL');
    await setSetting('server.url', undefined);
    await setSetting('maxNewTokens', undefined);
  });

  test('a turn runs on the server: the status names it, the code streams, the accepted prompt gets its hint', async () => {
    await setSetting('server.url', serve!.url);
    const editor = await openPython('served.py', HEADER);
    const id = await vscode.commands.executeCommand<string>('codegenMt.submitPrompt', 'Add the numbers.');
    const turn = await api.waitForTurn(id, ['proposed'], 30_000);
    const status = api.modelStatus();
    assert.match(status.label, /^tiny on 127\.0\.0\.1:\d+$/, `the status names the server: ${status.label}`);
    assert.equal(status.testModel, undefined, 'a server is not the bundled test model');
    assert.ok(Number.isFinite(turn.perplexity?.perplexity), 'the prompt was scored by the server');
    assert.equal(api.lastGeneration()?.turnId, id);
    await vscode.commands.executeCommand('codegenMt.acceptTurn', id);
    await api.waitForTurn(id, ['accepted']);
    assert.ok(editor.document.getText().includes('# Add the numbers.'), 'the prompt went into the editor');
    await waitFor(() => api.hintsFor(editor.document.uri).length > 0, 'the prompt comment hint');
  });

  test('the server gone: the turn fails with one error offering the local model; Use the Local Model goes back', async () => {
    await setSetting('server.url', serve!.url);
    serve!.child.kill('SIGKILL');
    await new Promise<void>((resolve) => (serve!.child.exitCode !== null || serve!.child.signalCode !== null ? resolve() : serve!.child.once('close', () => resolve())));
    await openPython('served-gone.py', HEADER);
    api.clearLastError();
    const id = await vscode.commands.executeCommand<string>('codegenMt.submitPrompt', 'Print the sum.');
    const failed = await api.waitForTurn(id, ['failed'], 30_000);
    assert.match(failed.error ?? '', /Cannot reach the server http:\/\/127\.0\.0\.1:\d+\/v1/, failed.error);
    const shown = await waitFor(() => api.lastError(), 'the error notification');
    assert.deepEqual(shown.actions, ['Use Local Model']);
    await vscode.commands.executeCommand('codegenMt.useLocalModel');
    assert.equal(vscode.workspace.getConfiguration('codegenMt').get('server.url'), '');
    await vscode.commands.executeCommand('codegenMt.regenerateTurn', id);
    await api.waitForTurn(id, ['proposed'], 30_000);
    assert.equal(api.modelStatus().label, 'random test model', 'the local model wrote it');
    await vscode.commands.executeCommand('codegenMt.rejectTurn', id);
  });
});
