// The program so far runs after an accepted turn (a real VS Code, the bundled model, the benchmarks' Python):
// the first run asks for consent in VS Code's modal dialog; after "Run" the turn shows the run under it. Then
// the file is given code that works and the panel's Run button shows what it printed. Screenshot: turn-run
// (.test-cache/e2e/screenshots/; docs/ with CODEGEN_MT_UPDATE_SCREENSHOTS=1). Skipped without a Python that has
// numpy and pandas. On a failure: .test-cache/failures/programRun--<test>/.
import { after, before, test } from 'node:test';
import { assert, e2eSuite, skipWithoutPython } from './harness.mjs';

const suite = e2eSuite('programRun', { settings: { 'codegenMt.run.afterAccept': true, 'codegenMt.maxNewTokens': 16 }, docs: ['turn-run'] }, { test, before, after });

suite.test('an accepted turn runs after consent; Run shows what the program printed', async (vscode, t) => {
  if (skipWithoutPython(t)) return;
  await vscode.openFile('example.py');
  await vscode.openPanel();
  await vscode.widenSideBar();
  const prompt = 'Compute the answer.';
  await vscode.submit(prompt);
  const turn = vscode.lastTurn();
  await vscode.button(turn, 'Accept').waitFor({ state: 'visible', timeout: 90_000 });
  await vscode.button(turn, 'Accept').click();

  // The first run in the workspace asks, in a modal dialog that says model-written code will run here.
  const dialog = vscode.page.locator('.monaco-dialog-box');
  await dialog.waitFor({ state: 'visible', timeout: 20_000 });
  assert.match(await dialog.innerText(), /written by a model and runs on this machine/);
  await dialog.locator('.monaco-button', { hasText: /^Run$/ }).click();
  const accepted = vscode.panel.locator('ol.turns > li.turn.state-accepted').last();
  await accepted.locator('.turn-run:not(.run-running)').waitFor({ state: 'visible', timeout: 60_000 });

  // Code that works under the turn's prompt comment, then the panel's Run button.
  await vscode.page.locator('.part.editor .monaco-editor .view-lines').first().click();
  await vscode.page.keyboard.press('Control+A');
  await vscode.page.keyboard.insertText(`# Import libraries.\n\nimport numpy as np\n\n# ${prompt}\nanswer = int(np.int64(6) * 7)\nprint(answer)\n`);
  await vscode.page.keyboard.press('Control+End');
  await vscode.panel.locator('vscode-toolbar-button[label="Run the program so far"]').click();
  const ran = accepted.locator('.turn-run.run-ran');
  await ran.waitFor({ state: 'visible', timeout: 60_000 });
  assert.match(await ran.locator('.run-output').innerText(), /^42\s*$/);
  await vscode.screenshot('turn-run');
});
