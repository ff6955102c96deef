/// <reference types="mocha" />
// The program so far, run in the sandbox after each accepted turn and by Run Program: the turn's view (what the
// panel gets) carries the run: what it printed, or the exception with its line and the turn that wrote it. The
// consent is given with "Allow Program Runs" (the modal dialog is not driven here); the code is the test's own
// (the bundled random model rarely writes code that runs), put in the editor after the accept.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { ProgramRunView, TurnView } from '../../src/protocol/webview';
import type { CodegenMtApi } from '../../src/vscode/testApi';
import { HEADER, openPython, setSetting, useSandboxSuite } from './helpers';

/** Resolves with the turn's run once one in `states` is published for it. */
function nextRun(api: CodegenMtApi, turnId: string, states: readonly string[]): Promise<ProgramRunView> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (listening.dispose(), reject(new Error(`no run in ${states.join('/')} for ${turnId}`))), 30_000);
    const listening = api.onDidChangeTurn((t: TurnView) => {
      if (t.id !== turnId || !t.run || !states.includes(t.run.status)) return;
      clearTimeout(timer);
      listening.dispose();
      resolve(t.run);
    });
  });
}

/** Replaces the code under the prompt comment with `code` (the document ends with the accepted turn). */
async function setTurnCode(editor: vscode.TextEditor, prompt: string, code: string): Promise<void> {
  const text = editor.document.getText();
  const at = text.indexOf(`# ${prompt}\n`) + `# ${prompt}\n`.length;
  const range = new vscode.Range(editor.document.positionAt(at), editor.document.positionAt(text.length));
  assert.ok(await editor.edit((e) => e.replace(range, `${code}\n\n`)));
  const end = editor.document.positionAt(editor.document.getText().length);
  editor.selection = new vscode.Selection(end, end);
}

suite('running the program so far (sandbox)', () => {
  // run.afterAccept is turned on by the test; the teardown turns it off.
  const sandboxApi = useSandboxSuite({ maxNewTokens: 8 }, { 'run.afterAccept': false });

  test('after an accept the program runs; Run Program shows its output, then an exception with its line and turn', async function () {
    this.timeout(90_000);
    const api = sandboxApi();
    await setSetting('run.afterAccept', true);
    const editor = await openPython('runs.py', HEADER);
    const id = await vscode.commands.executeCommand<string>('codegenMt.submitPrompt', 'Compute the answer.');
    await api.waitForTurn(id, ['proposed'], 30_000);
    const afterAccept = nextRun(api, id, ['ran', 'raised', 'timed-out', 'not-run']);
    await vscode.commands.executeCommand('codegenMt.acceptTurn', id);
    const first = await afterAccept;
    assert.notEqual(first.status, 'not-run', first.error);

    await setTurnCode(editor, 'Compute the answer.', 'answer = 6 * 7\nprint(answer)');
    const ran = nextRun(api, id, ['ran', 'raised', 'timed-out', 'not-run']);
    await vscode.commands.executeCommand('codegenMt.runProgram');
    assert.deepEqual(await ran, { status: 'ran', output: '42\n' });

    await setTurnCode(editor, 'Compute the answer.', 'answer = 6 * 7\nprint(answer)\nprint(undefined_name)');
    const raised = nextRun(api, id, ['ran', 'raised', 'timed-out', 'not-run']);
    await vscode.commands.executeCommand('codegenMt.runProgram');
    const run = await raised;
    assert.equal(run.status, 'raised');
    assert.equal(run.output, '42\n');
    assert.match(run.error ?? '', /^NameError: name 'undefined_name' is not defined/);
    assert.equal(run.line, editor.document.getText().split('\n').indexOf('print(undefined_name)') + 1);
    assert.equal(run.writtenByTurn, api.turns().findIndex((t) => t.id === id) + 1);
  });
});
