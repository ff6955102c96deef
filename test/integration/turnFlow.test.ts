/// <reference types="mocha" />
// A whole turn driven through the commands (not the webview) on the bundled random model: submit, streamed
// code, accept as one undo step, the next turn's context, reject, regenerate, stop, perplexity hints, restore.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { CodegenMtApi, TurnDelta } from '../../src/vscode/testApi';
import { codegenApi, HEADER, insertedTurn, openPython, setSetting, stopGenerating, waitFor } from './helpers';

const FIRST = 'Define a function that returns the mean of a list of numbers.';
const SECOND = 'Print the mean of [1, 2, 3].';

suite('turn flow (commands)', () => {
  let api: CodegenMtApi;
  let editor: vscode.TextEditor;
  /** The document's text after the first turn was accepted. */
  let afterFirst = '';
  let firstCode = '';

  suiteSetup(async () => {
    api = await codegenApi();
    await stopGenerating(api);
    await setSetting('maxNewTokens', 16);
    editor = await openPython('turns.py');
  });

  suiteTeardown(async () => {
    if (api) await stopGenerating(api);
    await setSetting('maxNewTokens', undefined);
  });

  test('submit streams code; accept inserts the prompt comment and the code at the insertion point', async () => {
    const deltas: TurnDelta[] = [];
    const listening = api.onDidStreamDelta((d) => deltas.push(d));
    const before = editor.document.getText();
    assert.equal(before, HEADER);
    let id: string | undefined;
    try {
      id = await vscode.commands.executeCommand<string>('codegenMt.submitPrompt', FIRST);
      assert.equal(typeof id, 'string', 'submitPrompt with a prompt argument returns the turn id');
      assert.equal(api.turn(id!)?.state, 'generating');
      const turn = await api.waitForTurn(id!, ['proposed']);
      const own = deltas.filter((d) => d.turnId === id);
      assert.ok(own.length > 0, 'code arrived as streamed deltas');
      assert.equal(own.map((d) => d.delta).join(''), turn.code, 'the deltas add up to the proposed code');
      assert.ok(turn.code.trim().length > 0, 'some code was generated');
      assert.equal(editor.document.getText(), before, 'a proposed turn does not touch the editor');
      firstCode = turn.code;
    } finally {
      listening.dispose();
    }

    await vscode.commands.executeCommand('codegenMt.acceptTurn');
    assert.equal(api.turn(id)?.state, 'accepted');
    afterFirst = editor.document.getText();
    assert.equal(afterFirst, before + insertedTurn(FIRST, firstCode), 'prompt comment and code at the insertion point');
    assert.ok(afterFirst.includes(`\n# ${FIRST}\n`));
  });

  test('the accepted prompt comment has a perplexity hint', async () => {
    const uri = editor.document.uri;
    const line = HEADER.split('\n').length - 1; // the prompt comment is the first line below the header
    assert.equal(editor.document.lineAt(line).text, `# ${FIRST}`);
    const hint = api.hintsFor(uri).find((h) => h.line === line);
    assert.ok(hint, `a hint on line ${line}: ${JSON.stringify(api.hintsFor(uri))}`);
    assert.equal(hint.comment, `# ${FIRST}`);
    assert.ok(Number.isFinite(hint.perplexity) && hint.perplexity > 1, `perplexity ${hint.perplexity}`);
    const rendered = api.renderedHintsFor(uri).find((h) => h.line === line);
    assert.ok(rendered, `a decoration on line ${line}: ${JSON.stringify(api.renderedHintsFor(uri))}`);
    assert.match(rendered.text, /^ppl \d+(\.\d)?$/);

    // Toggle Perplexity Hints takes the decorations away and brings them back.
    try {
      await vscode.commands.executeCommand('codegenMt.toggleHints');
      await waitFor(() => api.renderedHintsFor(uri).length === 0, 'the hints to be hidden');
    } finally {
      await vscode.commands.executeCommand('codegenMt.toggleHints');
    }
    await waitFor(() => api.renderedHintsFor(uri).some((h) => h.line === line), 'the hints to be shown again');
    await setSetting('hints.enabled', undefined);
  });

  test('one undo removes the whole accepted turn, one redo brings it back', async () => {
    await vscode.window.showTextDocument(editor.document, { preserveFocus: false, preview: false });
    assert.equal(vscode.window.activeTextEditor?.document, editor.document, 'the turn document has focus');
    await vscode.commands.executeCommand('undo');
    assert.equal(editor.document.getText(), HEADER, 'one undo restores the text before the turn exactly');
    await vscode.commands.executeCommand('redo');
    assert.equal(editor.document.getText(), afterFirst, 'one redo re-inserts the whole turn');
  });

  test("the next turn's context holds the accepted prompt comment and code", async () => {
    const end = editor.document.positionAt(editor.document.getText().length);
    editor.selection = new vscode.Selection(end, end);
    const id = await vscode.commands.executeCommand<string>('codegenMt.submitPrompt', SECOND);
    const context = api.lastContext();
    assert.ok(context, 'the controller recorded the context');
    assert.equal(context.prompt, `# ${SECOND}\n`);
    const history = context.header + context.turns.join('');
    assert.equal(history, afterFirst, 'the context is the program as the editor holds it');
    assert.ok(context.turns.some((t) => t.startsWith(`# ${FIRST}\n`) && t.includes(firstCode.trim())), 'the first turn is a turn of the context');
    await api.waitForTurn(id!, ['proposed']);
  });

  test('reject leaves the editor untouched', async () => {
    // The second turn is proposed: reject it (by the newest-turn rule, no argument).
    const id = api.turns().at(-1)!.id;
    assert.equal(api.turn(id)?.state, 'proposed');
    const text = editor.document.getText();
    const version = editor.document.version;
    await vscode.commands.executeCommand('codegenMt.rejectTurn');
    assert.equal(api.turn(id)?.state, 'rejected');
    assert.equal(editor.document.getText(), text);
    assert.equal(editor.document.version, version, 'no edit at all');
  });

  // Also the regression test of a fixed bug: the controller stayed busy after a turn was proposed until its save
  // finished, so a Regenerate (or Submit) right after a turn ended was refused with "still writing".
  test('regenerate gives a new sample', async () => {
    const id = api.turns().at(-1)!.id;
    const old = api.turn(id)!;
    assert.equal(old.state, 'rejected');
    assert.equal(typeof old.seed, 'number');
    await vscode.commands.executeCommand('codegenMt.regenerateTurn', id);
    assert.equal(api.turn(id)?.state, 'generating');
    const fresh = await api.waitForTurn(id, ['proposed']);
    assert.equal(typeof fresh.seed, 'number');
    assert.ok(fresh.seed !== old.seed || fresh.code !== old.code, `a different sample (seed ${old.seed} -> ${fresh.seed})`);
    assert.equal(api.lastGeneration()?.seed, fresh.seed);
    await vscode.commands.executeCommand('codegenMt.rejectTurn', id);
  });

  test('stop cancels a long generation before its budget', async () => {
    const budget = 2000;
    await setSetting('maxNewTokens', budget);
    try {
      let firstDelta: (() => void) | undefined;
      const streaming = new Promise<void>((resolve) => (firstDelta = resolve));
      let id: string | undefined;
      const listening = api.onDidStreamDelta((d) => d.turnId === id && firstDelta?.());
      try {
        id = await vscode.commands.executeCommand<string>('codegenMt.submitPrompt', 'Write a very long comment.');
        await streaming;
      } finally {
        listening.dispose();
      }
      await vscode.commands.executeCommand('codegenMt.stopGeneration');
      const turn = await api.waitForTurn(id!, ['cancelled'], 10_000);
      const generation = api.lastGeneration();
      assert.equal(generation?.turnId, id);
      assert.equal(generation?.stopReason, 'cancelled');
      assert.equal(generation.maxNewTokens, budget);
      assert.ok(generation.tokens !== undefined && generation.tokens > 0 && generation.tokens < budget, `${generation.tokens} tokens, budget ${budget}`);
      assert.ok(turn.code.length > 0, 'what streamed before the stop is kept');
      // A cancelled turn can be rejected; nothing was inserted.
      await vscode.commands.executeCommand('codegenMt.rejectTurn', id);
      assert.equal(editor.document.getText(), afterFirst);
    } finally {
      await setSetting('maxNewTokens', 16);
    }
  });

  test('the session is restored from the store (as on re-activation)', async () => {
    await api.flushSaves();
    const before = api.turns();
    const sessionId = api.sessionId();
    assert.ok(before.length >= 4, `${before.length} turns`);
    const restored = await api.restoreSession();
    assert.equal(api.sessionId(), sessionId);
    const essentials = (turns: typeof before) => turns.map((t) => ({ id: t.id, prompt: t.prompt, code: t.code, state: t.state, seed: t.seed, perplexity: t.perplexity?.perplexity }));
    assert.deepEqual(essentials(restored), essentials(before));
    // The restored session goes on: a new turn on top of it.
    const id = await api.submit('Return the maximum of a list.');
    await api.waitForTurn(id, ['proposed']);
    assert.equal(api.turns().length, before.length + 1);
    await vscode.commands.executeCommand('codegenMt.rejectTurn', id);
  });

  test('New Session starts an empty session, and it is the one restored', async () => {
    const old = api.sessionId();
    await vscode.commands.executeCommand('codegenMt.newSession');
    assert.notEqual(api.sessionId(), old);
    assert.equal(api.turns().length, 0);
    const fresh = api.sessionId();
    assert.deepEqual(await api.restoreSession(), []);
    assert.equal(api.sessionId(), fresh);
  });
});
