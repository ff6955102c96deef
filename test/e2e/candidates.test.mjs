// Candidates per turn in a real VS Code with the bundled model and the benchmarks' Python: the panel's Candidates
// control sets codegenMt.candidatesPerTurn to 3, a turn samples three, each runs after the program so far (after
// consent in VS Code's modal dialog), and the turn shows them best first with their flags; a click shows another
// and Accept inserts the one shown. Screenshot: turn-candidates (.test-cache/e2e/screenshots/; docs/ with
// CODEGEN_MT_UPDATE_SCREENSHOTS=1). Skipped without a Python that has numpy and pandas. On a failure:
// .test-cache/failures/candidates--<test>/.
import { after, before, test } from 'node:test';
import { assert, e2eSuite, skipWithoutPython } from './harness.mjs';

const suite = e2eSuite('candidates', { settings: { 'codegenMt.maxNewTokens': 12 }, docs: ['turn-candidates'] }, { test, before, after });

suite.test('the Candidates control, three candidates run and ranked, another shown, the shown one accepted', async (vscode, t) => {
  if (skipWithoutPython(t)) return;
  await vscode.openFile('example.py');
  await vscode.openPanel();
  await vscode.widenSideBar();

  const select = vscode.panel.locator('vscode-single-select.candidates-select');
  await select.click();
  await select.getByRole('option', { name: '3', exact: true }).click();
  // The setting changed, and the panel heard back from the host.
  for (let waited = 0; (await select.evaluate((el) => el.value)) !== '3'; waited += 100) {
    if (waited > 15_000) throw new Error('the Candidates control did not become 3');
    await new Promise((r) => setTimeout(r, 100));
  }

  await vscode.submit('Print the first five squares.');
  const turn = vscode.lastTurn();
  // The first candidate's run asks for consent.
  const dialog = vscode.page.locator('.monaco-dialog-box');
  await dialog.waitFor({ state: 'visible', timeout: 90_000 });
  assert.match(await dialog.innerText(), /written by a model and runs on this machine/);
  await dialog.locator('.monaco-button', { hasText: /^Run$/ }).click();

  const candidates = turn.locator('.turn-candidates');
  await candidates.waitFor({ state: 'visible', timeout: 60_000 });
  await turn.locator('.candidate-ranking').waitFor({ state: 'detached', timeout: 90_000 });
  const buttons = candidates.locator('button.candidate');
  assert.equal(await buttons.count(), 3);
  const labels = await buttons.evaluateAll((all) => all.map((b) => b.getAttribute('aria-label')));
  labels.forEach((label, i) => assert.match(label ?? '', new RegExp(`^Candidate ranked ${i + 1} of 3, (ran|ran, printed nothing|raised|timed out)`), 'best first, each with its flag'));
  assert.equal(await buttons.first().getAttribute('aria-pressed'), 'true', 'the best is shown');
  assert.match(await candidates.locator('.candidate-detail').innerText(), /^Showing the candidate ranked 1 of 3/);

  // Show the second-ranked one: its code replaces the turn's.
  const before = await vscode.turnCode(turn);
  await buttons.nth(1).click();
  await turn.locator('button.candidate[aria-pressed="true"]', { hasText: '#2' }).waitFor({ timeout: 15_000 });
  const shown = await vscode.turnCode(turn);
  assert.match(await candidates.locator('.candidate-detail').innerText(), /^Showing the candidate ranked 2 of 3/);
  await vscode.screenshot('turn-candidates');

  await vscode.button(turn, 'Accept').click();
  await vscode.panel.locator('ol.turns > li.turn.state-accepted').last().waitFor({ timeout: 30_000 });
  const text = await vscode.editorText();
  assert.ok(text.includes(`# Print the first five squares.\n${shown.replace(/\s+$/, '')}`), `the shown candidate is in the file (the best was ${JSON.stringify(before)})`);
});
