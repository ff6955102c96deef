/// <reference types="mocha" />
// The engine process killed in the middle of a long generation: the turn fails with an error that says the engine
// stopped (and a notification), nothing else breaks, and Retry runs the turn again in a fresh engine process.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { CodegenMtApi, TurnSnapshot } from '../../src/vscode/testApi';
import { codegenApi, openPython, setSetting, stopGenerating, waitFor } from './helpers';

/** Whether a process with this pid exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

suite('engine crash', () => {
  let api: CodegenMtApi;

  suiteSetup(async () => {
    api = await codegenApi();
    await stopGenerating(api);
  });

  suiteTeardown(async () => {
    if (api) await stopGenerating(api);
    await setSetting('maxNewTokens', undefined);
  });

  test('killing the engine during a generation fails the turn with "engine stopped"; Retry works in a fresh process', async () => {
    const editor = await openPython('crash.py');
    await setSetting('maxNewTokens', 2000);
    api.clearLastError();

    // Killed as soon as the first piece of code arrives, while the turn is generating (2000 tokens to go). Should
    // the turn have ended anyway before the kill took effect (its stop sequence, by chance), it is tried again.
    let failed: TurnSnapshot | undefined;
    let killedPid: number | undefined;
    for (let attempt = 0; attempt < 3 && !failed; attempt++) {
      let id: string | undefined;
      let killed: ((pid: number) => void) | undefined;
      const kill = new Promise<number>((resolve) => (killed = resolve));
      const listening = api.onDidStreamDelta((d) => {
        if (d.turnId !== id || !killed) return;
        const pid = api.enginePid();
        if (pid !== undefined && api.turn(id)?.state === 'generating') process.kill(pid, 'SIGKILL');
        killed(pid ?? -1);
        killed = undefined;
      });
      try {
        id = await vscode.commands.executeCommand<string>('codegenMt.submitPrompt', 'Write a very long comment.');
        assert.equal(typeof id, 'string');
        killedPid = await kill;
      } finally {
        listening.dispose();
      }
      assert.ok(killedPid > 0, 'the engine process had a pid');
      const turn = await api.waitForTurn(id!, ['failed', 'proposed'], 15_000);
      if (turn.state === 'failed') failed = turn;
      else await vscode.commands.executeCommand('codegenMt.rejectTurn', id);
    }
    assert.ok(failed, 'a turn failed when its engine process was killed (3 tries)');
    assert.ok(killedPid !== undefined);
    assert.match(failed.error ?? '', /engine process stopped unexpectedly \(killed by SIGKILL\)/, `the turn's error: ${failed.error}`);
    assert.match(failed.error ?? '', /Retry starts a fresh engine process/);
    const shown = await waitFor(() => api.lastError(), 'the error notification');
    assert.match(shown.message, /engine process stopped/);
    assert.deepEqual(shown.actions, ['Show Log']);
    await waitFor(() => !alive(killedPid!), `process ${killedPid} to be gone`);
    assert.equal(api.enginePid(), undefined, 'no engine process until the next request');
    assert.notEqual(api.modelStatus().state, 'generating', 'the status bar does not say generating any more');
    assert.equal(editor.document.getText().includes('very long comment'), false, 'nothing was inserted');

    // Retry (the panel's Retry is Regenerate on a failed turn): the same turn generates again, in a new process.
    await setSetting('maxNewTokens', 16);
    await vscode.commands.executeCommand('codegenMt.regenerateTurn', failed.id);
    const retried = await api.waitForTurn(failed.id, ['proposed']);
    assert.ok(retried.code.length > 0, 'the retried turn has code');
    assert.equal(retried.error, undefined, 'the error is gone');
    const pid = api.enginePid();
    assert.ok(pid !== undefined && pid !== killedPid && alive(pid), `a fresh engine process (${killedPid} -> ${pid})`);
    assert.equal(api.modelStatus().state, 'ready');
    await vscode.commands.executeCommand('codegenMt.rejectTurn', failed.id);
  });
});
