// Code streams into the panel while the model generates, and Stop keeps what was generated (a real VS Code,
// the bundled model). maxNewTokens is set to 2000 (the most the setting allows) so that generation lasts long
// enough to watch it and to take the mid-generation screenshot (.test-cache/e2e/screenshots/panel-generating.png;
// docs/ with CODEGEN_MT_UPDATE_SCREENSHOTS=1). On a failure: .test-cache/failures/streaming--<test>/.
//
// Stopping: the engine writes the 2000 tokens in a few seconds, and the page renders the stream behind the engine
// (the extension host's messages to the page, deltas and status updates alike, queue up: the panel, and even the
// status bar, can still show "Generating…" seconds after the engine finished; a click in the busy webview waits
// too). So the test stops the turn as the extension's keybinding does, from the editor (Ctrl+Alt+Escape:
// codegenMt.stopGeneration, the same controller.stop() as the panel's Stop button, which is checked to be shown
// while generating), and tells "too late" from "Stop did not work" by the extension's own log on disk (the
// extension host writes `Turn <id>: <stop reason>, ...` when a generation ends): if the turn had already ended
// when the key was pressed, it regenerates and tries again (at most 3 times).
import { after, before, test } from 'node:test';
import { assert, e2eSuite, sleep } from './harness.mjs';

const suite = e2eSuite('streaming', { settings: { 'codegenMt.maxNewTokens': 2000 }, docs: ['panel-generating'] }, { test, before, after });

const stateOf = async (turn) => /state-(\w+)/.exec((await turn.getAttribute('class')) ?? '')?.[1];

suite.test('streams code while generating; Stop ends the turn and keeps its code', async (vscode, t) => {
  await vscode.openFile('example.py');
  await vscode.openPanel();
  await vscode.widenSideBar();
  const before = await vscode.editorText();

  await vscode.submit('Read the CSV file data.csv into a pandas dataframe and print its first rows.');
  const turn = vscode.lastTurn();
  let shot = false;
  for (let attempt = 1; ; attempt++) {
    const stop = vscode.button(turn, 'Stop');
    await stop.waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal(await stateOf(turn), 'generating');
    assert.match(await turn.locator('.turn-status').innerText(), /Generating/);

    // Watch the code grow while the turn is generating.
    const lengths = [];
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && lengths.length < 3 && (await stateOf(turn)) === 'generating') {
      const length = (await turn.locator('pre.code code').first().textContent().catch(() => '')).length;
      if (length > (lengths.at(-1) ?? 0)) lengths.push(length);
      await sleep(50);
    }
    assert.ok(lengths.length >= 3, `the code grew while generating (lengths seen: ${JSON.stringify(lengths)})`);
    if (!shot) {
      await vscode.screenshot('panel-generating');
      shot = true;
    }

    // Focus the editor without moving its cursor, then the keybinding of CodeGen: Stop Generation.
    await vscode.page.locator('.part.editor .monaco-editor textarea').first().focus();
    const turnId = await turn.getAttribute('data-turn-id');
    const ends = () => vscode.extensionLog().split('\n').filter((line) => line.includes(`Turn ${turnId}: `));
    const endedBefore = ends().length;
    const pressedAt = Date.now();
    await vscode.page.keyboard.press('Control+Alt+Escape');
    await vscode.panel.locator('ol.turns > li.turn.state-cancelled, ol.turns > li.turn.state-proposed').last().waitFor({ state: 'visible', timeout: 60_000 });
    const state = await stateOf(turn);
    if (state === 'cancelled') {
      assert.match(await turn.locator('.turn-status').innerText(), /Stopped/);
      const code = await vscode.turnCode(turn);
      assert.ok(code.length >= lengths.at(-1), 'the stopped turn keeps the code generated so far');
      assert.equal(await vscode.button(turn, 'Accept').isVisible(), true, 'a stopped turn can still be accepted');
      t.diagnostic(`attempt ${attempt}: code lengths seen while streaming ${lengths.join(', ')}; stopped at ${code.length} characters`);
      break;
    }
    // The turn ran to its token budget: right only if the engine had finished before Stop was pressed.
    const end = ends()[endedBefore];
    const endedAt = end ? new Date(end.slice(0, 23).replace(' ', 'T')).getTime() : NaN; // local time, as logged
    assert.ok(endedBefore > 0 || endedAt <= pressedAt + 250, `Stop Generation was pressed while the engine was generating, yet the turn ended ${state} (${end ?? 'no end in the log'}; pressed at ${new Date(pressedAt).toISOString()})`);
    t.diagnostic(`attempt ${attempt}: the engine had finished all 2000 tokens before Stop (the panel was behind it); regenerating`);
    if (attempt >= 3) assert.fail('the engine finished before Stop could be pressed in 3 attempts');
    await vscode.button(turn, 'Regenerate').click();
  }
  assert.equal(await vscode.editorText(), before, 'nothing is inserted until the turn is accepted');
});
