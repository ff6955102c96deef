/// <reference types="mocha" />
// Perplexity hints survive a window reload: they live in memory only, so the session restored on activation puts
// them back on the prompt comments of its accepted turns, found by their text in the session's document (a
// comment that is no longer there gets none). A reload is stood for by clearHints() + restoreSession().
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { CodegenMtApi } from '../../src/vscode/testApi';
import { codegenApi, HEADER, openPython, setSetting, stopGenerating, waitFor } from './helpers';

const FIRST = 'Define a function that returns the sum of a list.';
const SECOND = 'Print the sum of [4, 5, 6].';

suite('hints after a reload', () => {
  let api: CodegenMtApi;
  let editor: vscode.TextEditor;

  suiteSetup(async () => {
    api = await codegenApi();
    await stopGenerating(api);
    await setSetting('maxNewTokens', 16);
    // A session of its own: only these turns' comments are looked for.
    await vscode.commands.executeCommand('codegenMt.newSession');
    editor = await openPython('hint_restore.py');
  });

  suiteTeardown(async () => {
    if (api) await stopGenerating(api);
    await setSetting('maxNewTokens', undefined);
  });

  async function acceptTurn(prompt: string): Promise<void> {
    await vscode.window.showTextDocument(editor.document, { preview: false, preserveFocus: false });
    const end = editor.document.positionAt(editor.document.getText().length);
    editor.selection = new vscode.Selection(end, end);
    const id = await api.submit(prompt);
    await api.waitForTurn(id, ['proposed']);
    await vscode.commands.executeCommand('codegenMt.acceptTurn', id);
    assert.equal(api.turn(id)?.state, 'accepted');
  }

  const lineOf = (text: string): number => editor.document.getText().split('\n').indexOf(text);

  test('the hints of the accepted turns come back on their (moved) prompt comments after a reload', async () => {
    await acceptTurn(FIRST);
    await acceptTurn(SECOND);
    const uri = editor.document.uri;
    const first = lineOf(`# ${FIRST}`);
    const second = lineOf(`# ${SECOND}`);
    assert.equal(first, HEADER.split('\n').length - 1);
    assert.ok(second > first, `the second comment (line ${second}) is below the first (line ${first})`);
    const before = api.hintsFor(uri);
    assert.deepEqual(before.map((h) => h.line).sort((a, b) => a - b), [first, second], JSON.stringify(before));
    const perplexities = new Map(before.map((h) => [h.comment, h.perplexity]));

    // The reload: the hints are gone from memory; then two lines are added at the top (no hint to move with them).
    api.clearHints(uri);
    assert.deepEqual(api.hintsFor(uri), []);
    await waitFor(() => api.renderedHintsFor(uri).length === 0, 'the decorations to be gone');
    assert.ok(await editor.edit((e) => e.insert(new vscode.Position(0, 0), '# Added by hand.\n\n')));
    await api.flushSaves();
    await api.restoreSession();

    const after = api.hintsFor(uri);
    assert.deepEqual(
      after.map((h) => ({ line: h.line, comment: h.comment, perplexity: h.perplexity })).sort((a, b) => a.line - b.line),
      [
        { line: first + 2, comment: `# ${FIRST}`, perplexity: perplexities.get(`# ${FIRST}`) },
        { line: second + 2, comment: `# ${SECOND}`, perplexity: perplexities.get(`# ${SECOND}`) },
      ],
    );
    assert.equal(editor.document.lineAt(first + 2).text, `# ${FIRST}`);
    const rendered = await waitFor(() => {
      const lines = api.renderedHintsFor(uri).map((h) => h.line);
      return lines.includes(first + 2) && lines.includes(second + 2) ? api.renderedHintsFor(uri) : undefined;
    }, 'the restored hints to be rendered');
    for (const h of rendered) assert.match(h.text, /^ppl \d+(\.\d)?$/);
  });

  test('a turn whose prompt comment is no longer in the document gets no hint back', async () => {
    const uri = editor.document.uri;
    const first = lineOf(`# ${FIRST}`);
    const second = lineOf(`# ${SECOND}`);
    api.clearHints(uri);
    const line = editor.document.lineAt(second);
    assert.ok(await editor.edit((e) => e.replace(line.range, '# Edited by hand.')));
    await api.flushSaves();
    await api.restoreSession();
    assert.deepEqual(api.hintsFor(uri).map((h) => ({ line: h.line, comment: h.comment })), [{ line: first, comment: `# ${FIRST}` }]);
  });

  test('the hints come back when the document is shown again', async () => {
    const uri = editor.document.uri;
    const first = lineOf(`# ${FIRST}`);
    api.clearHints(uri);
    // Another editor in its place, then the session's document again.
    await openPython('hint_restore_other.py');
    await vscode.window.showTextDocument(editor.document, { preview: false, preserveFocus: false });
    await waitFor(() => api.hintsFor(uri).some((h) => h.line === first), 'the hint to come back when the document is shown');
    await waitFor(() => api.renderedHintsFor(uri).some((h) => h.line === first), 'the hint to be rendered');
  });
});
