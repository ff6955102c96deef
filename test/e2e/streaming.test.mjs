// Code streams into the panel while the model generates, and Stop keeps what was generated (a real VS Code,
// the bundled model). maxNewTokens is set high (1500) so that generation lasts long enough to watch it and
// to take the mid-generation screenshot (.test-cache/e2e/screenshots/panel-generating.png; docs/ with
// CODEGEN_MT_UPDATE_SCREENSHOTS=1). On a failure: .test-cache/failures/streaming--<test>/.
import { after, before, test } from 'node:test';
import { assert, e2eSuite, sleep } from './harness.mjs';

const suite = e2eSuite('streaming', { settings: { 'codegenMt.maxNewTokens': 1500 }, docs: ['panel-generating'] }, { test, before, after });

suite.test('streams code while generating; Stop ends the turn and keeps its code', async (vscode, t) => {
  await vscode.openFile('example.py');
  await vscode.openPanel();
  await vscode.widenSideBar();
  const before = await vscode.editorText();

  await vscode.submit('Read the CSV file data.csv into a pandas dataframe and print its first rows.');
  const turn = vscode.lastTurn();
  const stop = vscode.button(turn, 'Stop');
  await stop.waitFor({ state: 'visible', timeout: 30_000 });
  assert.match(await turn.getAttribute('class'), /state-generating/);
  assert.match(await turn.locator('.turn-status').innerText(), /Generating/);

  // Watch the code grow while the turn is generating.
  const lengths = [];
  let shot = false;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const generating = /state-generating/.test((await turn.getAttribute('class')) ?? '');
    if (!generating) break;
    const length = (await turn.locator('pre.code code').first().textContent().catch(() => '')).length;
    if (length > (lengths.at(-1) ?? 0)) lengths.push(length);
    if (!shot && length >= 120) {
      await vscode.screenshot('panel-generating');
      shot = true;
    }
    if (shot && lengths.length >= 4) break;
    await sleep(100);
  }
  assert.ok(lengths.length >= 3, `the code grew while generating (lengths seen: ${JSON.stringify(lengths)})`);
  assert.ok(shot, 'took the mid-generation screenshot');
  assert.ok(/state-generating/.test((await turn.getAttribute('class')) ?? ''), 'still generating before Stop (maxNewTokens 1500)');

  await stop.click();
  const stopped = vscode.panel.locator('ol.turns > li.turn.state-cancelled');
  await stopped.waitFor({ state: 'visible', timeout: 15_000 });
  assert.match(await stopped.locator('.turn-status').innerText(), /Stopped/);
  const code = await vscode.turnCode(stopped);
  assert.ok(code.length >= lengths.at(-1), 'the stopped turn keeps the code generated so far');
  assert.equal(await vscode.button(stopped, 'Accept').isVisible(), true, 'a stopped turn can still be accepted');
  assert.equal(await vscode.editorText(), before, 'nothing is inserted until the turn is accepted');
  t.diagnostic(`code lengths seen while streaming: ${lengths.join(', ')}; stopped at ${code.length} characters (${(await stopped.locator('.turn-status').innerText()).replace(/\s+/g, ' ')})`);
});
