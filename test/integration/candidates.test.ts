/// <reference types="mocha" />
// Candidates per turn in the real extension host: with codegenMt.candidatesPerTurn 3 a turn samples three, each
// runs in the sandbox after the program so far (consent given with "Allow Program Runs"), the panel's view of the
// turn carries them with their flags and ranks, the best is shown, and Accept inserts the one shown. The bundled
// random model's code rarely runs, so which one wins is not fixed here: the rule is checked on what the runs said.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { CandidatesView, TurnView } from '../../src/protocol/webview';
import type { CodegenMtApi } from '../../src/vscode/testApi';
import { HEADER, openPython, useSandboxSuite } from './helpers';

/** Resolves with the turn's candidates once their ranking has ended. */
function rankedCandidates(api: CodegenMtApi, turnId: string): Promise<CandidatesView> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (listening.dispose(), reject(new Error(`the candidates of ${turnId} were not ranked`))), 60_000);
    const listening = api.onDidChangeTurn((t: TurnView) => {
      if (t.id !== turnId || !t.candidates || t.candidates.ranking) return;
      clearTimeout(timer);
      listening.dispose();
      resolve(t.candidates);
    });
  });
}

suite('candidates per turn, ranked by running them', () => {
  const sandboxApi = useSandboxSuite({ maxNewTokens: 8, candidatesPerTurn: 3 });

  test('three candidates run in the sandbox, ranked by the rule, the best shown; Accept inserts the one shown', async function () {
    this.timeout(120_000);
    const api = sandboxApi();
    const editor = await openPython('candidates.py', `${HEADER}values = [1, 2, 3]\n`);
    const id = await vscode.commands.executeCommand<string>('codegenMt.submitPrompt', 'Print the sum of the values.');
    const ranked = rankedCandidates(api, id);
    await api.waitForTurn(id, ['proposed'], 60_000);
    const candidates = await ranked;
    assert.equal(candidates.list.length, 3);
    for (const c of candidates.list) {
      assert.ok(c.run === 'ran' || c.run === 'raised' || c.run === 'timed-out', `each ran in the sandbox (got ${c.run}: ${c.error ?? ''})`);
      assert.ok(typeof c.meanLogprob === 'number');
    }
    assert.deepEqual(candidates.list.map((c) => c.rank).sort(), [1, 2, 3]);
    // The rule: runs without error first, then the higher mean log-probability.
    const key = (c: (typeof candidates.list)[number]): number => (c.run === 'ran' ? 1000 : 0) + c.meanLogprob!;
    const byRank = [...candidates.list].sort((a, b) => a.rank - b.rank);
    for (let i = 1; i < byRank.length; i++) assert.ok(key(byRank[i - 1]) >= key(byRank[i]), 'ranked by the rule');
    assert.equal(candidates.list[candidates.shown].rank, 1, 'the best is shown');

    const shownCode = api.turn(id)!.code;
    await vscode.commands.executeCommand('codegenMt.acceptTurn', id);
    await api.waitForTurn(id, ['accepted']);
    assert.ok(editor.document.getText().includes(`# Print the sum of the values.\n${shownCode.replace(/\s+$/, '')}`), 'the shown candidate is in the editor');
  });
});
