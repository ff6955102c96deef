/// <reference types="mocha" />
// The editor-side features, each through its command: Score Prompt Comments (hints on every prompt comment, which
// follow their lines through edits), Export Session (to a given path: no save dialog), Open Session (by id: no
// pick), and an accepted turn inserted inside an indented block.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import type { CodegenMtApi, TurnSnapshot } from '../../src/vscode/testApi';
import { codegenApi, HEADER, insertedTurn, openPython, setSetting, stopGenerating, waitFor, workspaceFolder } from './helpers';

/** Two prompt comments followed by code (lines 3 and 7); line 2 is followed by a comment, so it is no prompt. */
const SCORED = [
  'import math',
  '',
  '# Helpers.',
  '# Define a function that adds two numbers.',
  'def add(a, b):',
  '    return a + b',
  '',
  '# Print the sum of 1 and 2.',
  'print(add(1, 2))',
  '',
].join('\n');

/** A block whose second line the cursor ends: the turn goes below it, inside the function. */
const INDENTED = ['def total(xs):', '    s = 0', '    for x in xs:', '        s += x', '    return s', ''].join('\n');

const essentials = (turns: readonly TurnSnapshot[]) => turns.map((t) => ({ id: t.id, prompt: t.prompt, code: t.code, state: t.state, seed: t.seed }));

suite('editor features (commands)', () => {
  let api: CodegenMtApi;

  suiteSetup(async () => {
    api = await codegenApi();
    await stopGenerating(api);
    await setSetting('maxNewTokens', 16);
  });

  suiteTeardown(async () => {
    if (api) await stopGenerating(api);
    await setSetting('maxNewTokens', undefined);
  });

  test('Score Prompt Comments puts a hint on each prompt comment, and the hints follow their lines', async () => {
    const editor = await openPython('scored.py', SCORED);
    const uri = editor.document.uri;
    await vscode.commands.executeCommand('codegenMt.scorePromptComments');
    const hints = api.hintsFor(uri);
    assert.deepEqual(hints.map((h) => [h.line, h.comment]).sort(), [
      [3, '# Define a function that adds two numbers.'],
      [7, '# Print the sum of 1 and 2.'],
    ]);
    for (const h of hints) assert.ok(Number.isFinite(h.perplexity) && h.perplexity > 1, `perplexity ${h.perplexity}`);
    assert.deepEqual(api.renderedHintsFor(uri).map((h) => h.line).sort(), [3, 7], 'both are rendered');

    // Two lines inserted above the first prompt comment: both hints move down two lines, with their comments.
    assert.ok(await editor.edit((e) => e.insert(new vscode.Position(1, 0), 'import os\nimport sys\n')));
    await waitFor(() => api.hintsFor(uri).every((h) => h.line === 5 || h.line === 9) && api.renderedHintsFor(uri).every((h) => h.line === 5 || h.line === 9), `the hints on lines 5 and 9 (${JSON.stringify(api.hintsFor(uri))})`);
    const moved = api.hintsFor(uri);
    assert.equal(moved.length, 2);
    for (const h of moved) assert.equal(editor.document.lineAt(h.line).text, h.comment, `the hint on line ${h.line} is on its comment`);
    assert.deepEqual(moved.map((h) => h.perplexity).sort(), hints.map((h) => h.perplexity).sort(), 'the same scores');
  });

  let exportedSession = '';
  let exportedTurns: TurnSnapshot[] = [];

  test('Export Session with a target path writes the program', async () => {
    await vscode.commands.executeCommand('codegenMt.newSession');
    const editor = await openPython('to_export.py');
    const prompt = 'Define a function that doubles a number.';
    const id = await vscode.commands.executeCommand<string>('codegenMt.submitPrompt', prompt);
    const turn = await api.waitForTurn(id!, ['proposed']);
    await vscode.commands.executeCommand('codegenMt.acceptTurn', id);
    const program = editor.document.getText();
    assert.equal(program, HEADER + insertedTurn(prompt, turn.code));

    const target = vscode.Uri.joinPath(workspaceFolder(), 'exported', 'session.py');
    fs.rmSync(target.fsPath, { force: true });
    const written = await vscode.commands.executeCommand<vscode.Uri | undefined>('codegenMt.exportSession', target.fsPath);
    assert.equal(written?.fsPath, target.fsPath, 'the command resolves to where it wrote');
    assert.equal(fs.readFileSync(target.fsPath, 'utf8'), program, 'the exported file is the program as the editor holds it');
    await api.flushSaves();
    exportedSession = api.sessionId();
    exportedTurns = api.turns();
  });

  test('Open Session with an id restores that session, then the other one comes back the same way', async () => {
    assert.ok(exportedSession, 'the export test ran first');
    await vscode.commands.executeCommand('codegenMt.newSession');
    const other = api.sessionId();
    assert.notEqual(other, exportedSession);
    await openPython('other_session.py');
    const id = await vscode.commands.executeCommand<string>('codegenMt.submitPrompt', 'Print the current date.');
    await api.waitForTurn(id!, ['proposed']);
    await vscode.commands.executeCommand('codegenMt.rejectTurn', id);
    await api.flushSaves();
    const otherTurns = api.turns();

    await vscode.commands.executeCommand('codegenMt.openSession', exportedSession);
    assert.equal(api.sessionId(), exportedSession);
    assert.deepEqual(essentials(api.turns()), essentials(exportedTurns), "the earlier session's turns");
    assert.equal(api.turns()[0]?.state, 'accepted');

    await vscode.commands.executeCommand('codegenMt.openSession', other);
    assert.equal(api.sessionId(), other);
    assert.deepEqual(essentials(api.turns()), essentials(otherTurns));
    // The session opened last is the current one (the one activation restores).
    assert.deepEqual(essentials(await api.restoreSession()), essentials(otherTurns));
    assert.equal(api.sessionId(), other);
  });

  test('a turn accepted with the cursor inside an indented block is indented on every line', async () => {
    const editor = await openPython('indented.py', INDENTED);
    // The cursor at the end of "    s = 0": the turn goes on the next line, with that line's indentation.
    editor.selection = new vscode.Selection(new vscode.Position(1, 9), new vscode.Position(1, 9));
    const prompt = 'Skip the empty list.\nThen add up the numbers.';
    const id = await vscode.commands.executeCommand<string>('codegenMt.submitPrompt', prompt);
    const turn = await api.waitForTurn(id!, ['proposed']);
    await vscode.commands.executeCommand('codegenMt.acceptTurn', id);

    const lines = editor.document.getText().split('\n');
    const original = INDENTED.split('\n');
    assert.deepEqual(lines.slice(0, 2), original.slice(0, 2), 'the text above is untouched');
    assert.deepEqual(lines.slice(-original.length + 2), original.slice(2), 'the text below is untouched');
    const inserted = lines.slice(2, lines.length - original.length + 2);
    const code = turn.code.replace(/\r\n?/g, '\n').replace(/\s+$/, '');
    const expected = ['', '# Skip the empty list.', '# Then add up the numbers.', ...(code ? code.split('\n') : []), ''].map((l) => (l.trim() ? `    ${l}` : l.replace(/[ \t]+$/, '')));
    assert.deepEqual(inserted, expected, 'the prompt comment and the code, every non-blank line indented by four spaces');
    for (const line of inserted) assert.ok(line === '' || line.startsWith('    '), `indented: ${JSON.stringify(line)}`);
    assert.ok(inserted.filter((l) => l.trim()).length >= 2, 'several lines were inserted');
    const hint = api.hintsFor(editor.document.uri).find((h) => h.line === 3);
    assert.ok(hint, `a hint on the indented prompt comment: ${JSON.stringify(api.hintsFor(editor.document.uri))}`);
    assert.equal(hint.comment, '# Skip the empty list.');
  });
});
