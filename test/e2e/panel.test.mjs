// The CodeGen panel in a real VS Code (code-server + headless Chromium), on the bundled model, as a user drives
// it: the draft's live perplexity, a turn accepted into the editor (with its perplexity hint), a turn rejected,
// its prompt tried again (the draft it replaced offered back), a turn edited and accepted from the keyboard, and a
// surprising word of the draft reworded from its menu of the model's alternatives.
// Screenshots: .test-cache/e2e/screenshots/ (docs/draft-perplexity.png, docs/accepted-turn.png and
// docs/rewording-menu.png with CODEGEN_MT_UPDATE_SCREENSHOTS=1). On a failure: .test-cache/failures/panel--<test>/.
import { after, before, test } from 'node:test';
import { assert, e2eSuite, EXAMPLE_PY, insertionRules } from './harness.mjs';

const suite = e2eSuite('panel', { docs: ['draft-perplexity', 'accepted-turn', 'rewording-menu'] }, { test, before, after });

/** The draft chip's number (the text after "Perplexity"), once a current (not stale) one shows. */
async function draftPerplexity(vscode, { timeout = 30_000 } = {}) {
  const chip = vscode.panel.locator('.draft-ppl:not([hidden]):not(.stale) .ppl');
  await chip.waitFor({ state: 'visible', timeout });
  const text = (await chip.textContent()) ?? '';
  const match = /Perplexity\s+(\S+)/.exec(text);
  assert.ok(match && /\d/.test(match[1]), `the draft perplexity chip shows a number: ${JSON.stringify(text)}`);
  return match[1];
}

suite.test('on the bundled model, the panel and the status bar say it is the random test model, and offer a real one', async (vscode) => {
  await vscode.openFile('example.py');
  await vscode.openPanel();
  await vscode.widenSideBar();
  const notice = vscode.panel.locator('.test-model-notice');
  await notice.waitFor({ state: 'visible', timeout: 10_000 });
  assert.match(await notice.innerText(), /This is the random test model\. It has random weights and writes gibberish/);
  assert.match(await notice.innerText(), /download CodeGen-350M-mono, the paper's smallest Python model/);
  const download = notice.locator('vscode-button', { hasText: 'Download (about 360 MB)' });
  assert.equal(await download.isVisible(), true, 'one button downloads the recommended model, its size shown');
  assert.equal(await notice.locator('vscode-button', { hasText: 'Choose model folder' }).isVisible(), true, 'one button chooses a folder');
  // The notice sits at the top, above the turns and the input.
  const [noticeBox, inputBox] = await Promise.all([notice.boundingBox(), vscode.promptInput().boundingBox()]);
  assert.ok(noticeBox && inputBox && noticeBox.y < inputBox.y, 'the notice is above the input');
  const status = vscode.page.locator('.statusbar-item', { hasText: 'random test model' });
  await status.first().waitFor({ state: 'visible', timeout: 10_000 });

  // Download asks the hub for the recommended model (here a port where nothing listens: it fails and says so, in
  // the notification centre, where headless Chromium's unfocused window puts it).
  await download.click();
  const bell = vscode.page.locator('#status\\.notifications');
  const message = vscode.page.locator('.notifications-center .notification-list-item-message', { hasText: 'Could not download Xenova/codegen-350M-mono' });
  for (let i = 0; i < 30 && !(await message.first().isVisible()); i++) {
    await bell.click();
    if (!(await message.first().waitFor({ state: 'visible', timeout: 1000 }).then(() => true, () => false))) await bell.click();
  }
  assert.equal(await message.first().isVisible(), true, 'the download of the recommended model was tried, and its failure shown');
  await bell.click();
});

suite.test('shows the live perplexity of the draft while typing', async (vscode) => {
  const chip = vscode.panel.locator('.draft-ppl');
  assert.equal(await chip.isVisible(), false, 'no perplexity chip while the input is empty');

  await vscode.typeDraft('Print the numbers from 1 to 10.');
  const first = await draftPerplexity(vscode);

  // Typing on: the chip goes stale at once, then shows the new draft's number.
  await vscode.promptInput().pressSequentially(' Then print their sum.', { delay: 15 });
  await vscode.panel.locator('.draft-ppl:not([hidden]):not(.stale)').waitFor({ state: 'visible', timeout: 30_000 });
  const second = await draftPerplexity(vscode);
  assert.notEqual(second, first, 'the perplexity follows the draft');
  await vscode.screenshot('draft-perplexity');

  await vscode.promptInput().fill('');
  await vscode.panel.locator('.draft-ppl[hidden]').waitFor({ state: 'attached', timeout: 10_000 });
});

suite.test('accepts a turn: its code goes into the editor, with the prompt as a comment and its perplexity hint', async (vscode) => {
  const prompt = 'Define a function that returns the mean of a list of numbers.';
  const before = await vscode.editorText();
  assert.equal(before, EXAMPLE_PY);

  await vscode.submit(prompt);
  const turn = vscode.lastTurn();
  await vscode.button(turn, 'Accept').waitFor({ state: 'visible', timeout: 90_000 });
  assert.match(await turn.getAttribute('class'), /state-proposed/);
  const code = await vscode.turnCode(turn);
  assert.ok(code.length > 0, 'the turn has code');
  const chip = turn.locator('.turn-head .ppl');
  assert.match((await chip.textContent()) ?? '', /\d/, 'the turn shows its prompt perplexity');

  await vscode.button(turn, 'Accept').click();
  await vscode.panel.locator('ol.turns > li.turn.state-accepted', { hasText: 'Inserted' }).waitFor({ state: 'visible', timeout: 15_000 });

  // Exactly what the extension's insertion rules say, at the cursor (the end of the file).
  const { buildInsertion, insertionPoint } = insertionRules();
  const point = insertionPoint(before, before.length);
  const inserted = buildInsertion({ above: before.slice(0, point.offset), prompt, code, indent: point.indent, promptAsComment: true });
  const expected = before.slice(0, point.offset) + inserted.text + before.slice(point.offset);
  assert.equal(await vscode.editorText(), expected);
  assert.ok(expected.includes(`# ${prompt}\n`), 'the prompt is inserted as a comment');

  // The prompt comment's inline perplexity hint.
  let hints = [];
  for (let i = 0; i < 50 && !hints.some((h) => /ppl\s*\d/.test(h)); i++) {
    hints = await vscode.editorHints();
    if (!hints.some((h) => /ppl\s*\d/.test(h))) await vscode.page.waitForTimeout(200);
  }
  assert.ok(hints.some((h) => /ppl\s*\d/.test(h)), `an inline "ppl N" hint after the prompt comment; found ${JSON.stringify(hints)}`);
  await vscode.page.waitForTimeout(300);
  await vscode.screenshot('accepted-turn');
});

suite.test('rejects a turn: the turn shows rejected and the editor is unchanged', async (vscode) => {
  const before = await vscode.editorText();
  await vscode.submit('Sort the list in descending order.');
  const turn = vscode.lastTurn();
  await vscode.button(turn, 'Reject').waitFor({ state: 'visible', timeout: 90_000 });
  await vscode.button(turn, 'Reject').click();

  const rejected = vscode.panel.locator('ol.turns > li.turn').last();
  await vscode.panel.locator('ol.turns > li.turn.state-rejected').last().waitFor({ state: 'visible', timeout: 15_000 });
  assert.match(await rejected.locator('.turn-status').innerText(), /Rejected/);
  assert.equal(await vscode.button(rejected, 'Try again').isVisible(), true, 'a rejected turn offers "Try again"');
  assert.equal(await rejected.locator('vscode-button', { hasText: 'Accept' }).count(), 0, 'a rejected turn cannot be accepted');
  assert.equal(await vscode.editorText(), before, 'rejecting leaves the editor as it was');
  assert.equal(await vscode.panel.locator('ol.turns > li.turn.state-accepted').count(), 1, 'the earlier accepted turn stays accepted');
});

suite.test('try again, restore, edit: a rejected prompt comes back without losing the draft, and edited code is accepted with Ctrl+Enter', async (vscode) => {
  // "Try again" on the rejected turn puts its prompt in the input; the draft it replaces is offered back.
  const rejected = vscode.panel.locator('ol.turns > li.turn.state-rejected').last();
  const rejectedPrompt = (await rejected.locator('.prompt-text').textContent()) ?? '';
  await vscode.typeDraft('a draft I was writing');
  await vscode.button(rejected, 'Try again').click();
  assert.equal(await vscode.promptInput().inputValue(), rejectedPrompt, 'the rejected prompt is back in the input');
  const notice = vscode.panel.locator('.replaced-notice:not([hidden])');
  await notice.waitFor({ state: 'visible', timeout: 5000 });
  assert.match(await notice.innerText(), /Replaced draft: “a draft I was writing”/);
  await vscode.button(notice, 'Restore').click();
  assert.equal(await vscode.promptInput().inputValue(), 'a draft I was writing', 'Restore brings the draft back');
  assert.match(await notice.innerText(), /Replaced draft: “Sort the list/, 'and keeps the prompt it replaced in its place');
  await notice.locator('vscode-toolbar-button[label="Dismiss"]').click();
  await vscode.panel.locator('.replaced-notice[hidden]').waitFor({ state: 'attached', timeout: 5000 });

  // Edit a proposed turn's code, then accept the edit with the keyboard.
  const before = await vscode.editorText();
  await vscode.submit('Print the squares of the numbers from 1 to 5.');
  const turn = vscode.lastTurn();
  await vscode.button(turn, 'Edit').waitFor({ state: 'visible', timeout: 90_000 });
  await vscode.button(turn, 'Edit').click();
  const editor = turn.locator('vscode-textarea.code-editor textarea');
  await editor.waitFor({ state: 'visible', timeout: 5000 });
  assert.match(await turn.locator('.turn-status').innerText(), /Editing/);
  const edited = 'print([i * i for i in range(1, 6)])';
  await editor.fill(edited);
  await editor.press('Control+Enter');
  await vscode.panel.locator('ol.turns > li.turn.state-accepted', { hasText: 'Print the squares' }).waitFor({ state: 'visible', timeout: 15_000 });
  const after = await vscode.editorText();
  assert.ok(after.startsWith(before.slice(0, before.trimEnd().length)), 'what was there stays');
  assert.ok(after.includes(`# Print the squares of the numbers from 1 to 5.\n${edited}`), `the edited code is inserted under its prompt: ${JSON.stringify(after.slice(-200))}`);
});

suite.test('rewords a surprising word from its menu with the keyboard: each alternative with the perplexity it would give', async (vscode) => {
  // The bundled model's surprising words and alternatives are arbitrary: whatever word comes first is reworded.
  const draft = 'Sort the values in descending order and print them.';
  await vscode.typeDraft(draft);
  await draftPerplexity(vscode);
  const words = vscode.panel.locator('.draft-ppl:not(.stale) .reword-button');
  assert.ok((await words.count()) > 0, 'a surprising word offers the model\'s alternatives');

  // Tab from the input reaches the first word's menu button.
  const key = (name) => vscode.page.keyboard.press(name); // to whatever has the focus, as a user types
  for (let i = 0; i < 6 && !(await vscode.panel.locator('.reword-button:focus').count()); i++) await key('Tab');
  assert.equal(await vscode.panel.locator('.reword-button:focus').count(), 1, 'the word is reachable with Tab');
  const menuId = await vscode.panel.locator('.reword-button:focus').getAttribute('aria-controls');
  const button = vscode.panel.locator(`.reword-button[aria-controls="${menuId}"]`);
  assert.equal(await button.getAttribute('aria-haspopup'), 'menu');
  assert.equal(await button.getAttribute('aria-expanded'), 'false');
  const word = ((await button.textContent()) ?? '').trim();

  // Enter opens its menu on the first item, said aloud; each item gets the draft's perplexity with it.
  await key('Enter');
  const menu = vscode.panel.locator(`#${menuId}[role="menu"]:not([hidden])`);
  await menu.waitFor({ state: 'visible', timeout: 5000 });
  assert.equal(await button.getAttribute('aria-expanded'), 'true');
  const items = menu.locator('[role="menuitem"]');
  const count = await items.count();
  assert.ok(count > 0);
  await menu.locator('[role="menuitem"]:focus').first().waitFor({ state: 'attached', timeout: 5000 });
  assert.equal(await items.first().evaluate((e) => e === document.activeElement), true, 'the first alternative has the focus');
  const status = vscode.panel.locator('[role="status"]');
  await status.filter({ hasText: `for “${word}”` }).waitFor({ state: 'attached', timeout: 5000 });
  for (let i = 0; i < count; i++) {
    await items.nth(i).locator('.reword-ppl', { hasText: /ppl\s+[\d?]/ }).waitFor({ state: 'attached', timeout: 60_000 });
  }
  if (count > 1) {
    await key('ArrowDown');
    assert.equal(await items.nth(1).evaluate((e) => e === document.activeElement), true, 'ArrowDown moves to the next alternative');
  }
  await vscode.page.waitForTimeout(200);
  await vscode.screenshot('rewording-menu');

  // Escape closes it and gives the focus back to the word; ArrowUp opens it again on the last alternative.
  await key('Escape');
  await menu.waitFor({ state: 'detached', timeout: 5000 });
  assert.equal(await button.evaluate((e) => e === document.activeElement), true, 'the focus is back on the word');
  assert.equal(await button.getAttribute('aria-expanded'), 'false');
  await key('ArrowUp');
  await menu.waitFor({ state: 'visible', timeout: 5000 });
  const last = items.nth(count - 1);
  await vscode.page.waitForTimeout(100);
  assert.equal(await last.evaluate((e) => e === document.activeElement), true, 'ArrowUp opens on the last alternative');

  // Enter on an alternative rewords the draft: that word replaced, the rest as typed; the old draft offered back.
  const alternative = ((await last.locator('.reword-alt').textContent()) ?? '').trim();
  await key('Enter');
  await vscode.panel.locator('.reword-menu:not([hidden])').waitFor({ state: 'detached', timeout: 5000 }).catch(() => undefined);
  const value = await vscode.promptInput().inputValue();
  const rewordings = [];
  for (let i = draft.indexOf(word); i >= 0; i = draft.indexOf(word, i + 1)) rewordings.push(draft.slice(0, i) + alternative + draft.slice(i + word.length));
  assert.ok(rewordings.includes(value), `the input holds the draft with “${word}” replaced by “${alternative}”: ${JSON.stringify(value)}`);
  await status.filter({ hasText: `Replaced “${word}” with “${alternative}”` }).waitFor({ state: 'attached', timeout: 5000 });
  const notice = vscode.panel.locator('.replaced-notice:not([hidden])');
  await notice.waitFor({ state: 'visible', timeout: 5000 });
  assert.match(await notice.innerText(), /Replaced draft: “Sort the values/);
  // The reworded draft is scored as any draft is.
  await draftPerplexity(vscode);
  assert.equal(await vscode.promptInput().inputValue(), value);
  await notice.locator('vscode-toolbar-button[label="Dismiss"]').click();
  await vscode.promptInput().fill('');
});
