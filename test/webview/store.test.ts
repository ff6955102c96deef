// The panel's store in plain Node: what it keeps from the host, what it saves with setState, and the rules the
// components rely on (which draft wins at init, when an edit ends, which turn the shortcuts act on).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PanelState, TurnState, TurnView } from '../../src/protocol/webview';
import { parseSavedState, type SavedState, type SavedStateStorage } from '../../webview/savedState';
import { PanelStore } from '../../webview/store';

/** Storage like vscode.getState()/setState(): it keeps a copy of each save. */
function memoryStorage(initial?: unknown): SavedStateStorage & { saves: SavedState[] } {
  const saves: SavedState[] = [];
  return {
    saves,
    load: () => parseSavedState(saves.length > 0 ? saves[saves.length - 1] : initial),
    save: (state) => void saves.push(structuredClone(state)),
  };
}

const turn = (id: string, state: TurnState, code = `code of ${id}`): TurnView => ({ id, prompt: `prompt ${id}`, code, state });

function panelState(turns: TurnView[], draft = ''): PanelState {
  return {
    sessionId: 's1',
    turns,
    sessions: [{ id: 's1', title: 'First', updatedAt: 1, turnCount: turns.length }],
    model: { state: 'ready', label: 'random test model' },
    draft,
    candidatesPerTurn: 1,
  };
}

test('at the first init with nothing saved, the host draft is taken and saved', () => {
  const storage = memoryStorage();
  const store = new PanelStore(storage);
  assert.equal(store.hasPanel, false);
  assert.equal(store.init(panelState([], 'from the host'), ''), 'from the host');
  assert.equal(store.draft, 'from the host');
  assert.equal(storage.saves.at(-1)?.draft, 'from the host');
  assert.equal(store.hasPanel, true);
});

test('a draft saved here is newer than the host one and is kept; an empty input takes the host draft', () => {
  const store = new PanelStore(memoryStorage({ version: 1, draft: 'typed here', editing: null, replacedDraft: null, scrollTop: 40 }));
  assert.equal(store.draft, 'typed here');
  assert.equal(store.scrollTop, 40);
  assert.equal(store.init(panelState([], 'older, from the host'), 'typed here'), undefined, 'ours wins');
  assert.equal(store.draft, 'typed here');
  assert.equal(store.init(panelState([], 'from the host'), ''), 'from the host', 'an empty input takes it');
});

test('saved state of another version or shape is ignored, and wrong fields are reset', () => {
  assert.equal(parseSavedState(undefined), undefined);
  assert.equal(parseSavedState({ version: 2, draft: 'x' }), undefined);
  assert.equal(parseSavedState({ version: 1, draft: 3 }), undefined);
  assert.deepEqual(parseSavedState({ version: 1, draft: 'd', editing: { turnId: 7 }, replacedDraft: 5, scrollTop: 'x' }), {
    version: 1,
    draft: 'd',
    editing: null,
    replacedDraft: null,
    scrollTop: 0,
  });
});

test('the newest actionable turn is the newest proposed or stopped one; the generating one is found', () => {
  const store = new PanelStore(memoryStorage());
  store.init(panelState([turn('a', 'proposed'), turn('b', 'cancelled'), turn('c', 'accepted'), turn('d', 'generating')]), '');
  assert.equal(store.newestActionable()?.id, 'b');
  assert.equal(store.generatingTurn()?.id, 'd');
  assert.equal(store.turnNumber('c'), 3);
  assert.equal(store.turnNumber('nope'), 0);
});

test('putTurn adds or replaces and says the state before; appendCode streams into the turn', () => {
  const store = new PanelStore(memoryStorage());
  assert.equal(store.putTurn(turn('a', 'generating', '')), undefined, 'nothing before the first init');
  store.init(panelState([]), '');
  assert.deepEqual(store.putTurn(turn('a', 'generating', '')), { isNew: true, previous: undefined });
  assert.equal(store.appendCode('a', 'print(')?.code, 'print(');
  assert.equal(store.appendCode('a', '1)')?.code, 'print(1)');
  assert.equal(store.appendCode('missing', 'x'), undefined);
  assert.deepEqual(store.putTurn(turn('a', 'proposed', 'print(1)')), { isNew: false, previous: 'generating' });
  assert.equal(store.turns.length, 1);
});

test('an edit is saved as it is typed and ends when its turn can no longer be edited', () => {
  const storage = memoryStorage();
  const store = new PanelStore(storage);
  store.init(panelState([turn('a', 'proposed')]), '');
  const a = store.findTurn('a');
  assert.ok(a);
  store.startEditing(a);
  store.setEditedCode('a', 'edited');
  store.setEditedCode('other', 'ignored');
  assert.deepEqual(storage.saves.at(-1)?.editing, { turnId: 'a', code: 'edited' });
  assert.deepEqual(store.editingOf(a), { turnId: 'a', code: 'edited' });
  store.putTurn(turn('a', 'accepted'));
  assert.equal(store.editing, null, 'accepted: the edit is over');
  assert.equal(storage.saves.at(-1)?.editing, null);
});

test('an init whose turns no longer allow the saved edit drops it; one that allows it keeps it', () => {
  const saved = { version: 1, draft: '', editing: { turnId: 'a', code: 'mine' }, replacedDraft: null, scrollTop: 0 };
  const kept = new PanelStore(memoryStorage(saved));
  kept.init(panelState([turn('a', 'cancelled')]), '');
  assert.deepEqual(kept.editing, { turnId: 'a', code: 'mine' });
  const dropped = new PanelStore(memoryStorage(saved));
  dropped.init(panelState([turn('a', 'rejected')]), '');
  assert.equal(dropped.editing, null);
});

test('before any init, the model status still shows; sessions wait for the init', () => {
  const store = new PanelStore(memoryStorage());
  assert.equal(store.setSessions([]), false);
  assert.equal(store.setModel({ state: 'loading', label: 'm' }), undefined);
  assert.equal(store.model?.state, 'loading');
  assert.equal(store.setModel({ state: 'ready', label: 'm' }), 'loading');
  assert.equal(store.sessionId, '');
});

test('the replaced draft, the draft perplexity and the scroll position are kept; the saved ones are saved', () => {
  const storage = memoryStorage();
  const store = new PanelStore(storage);
  store.setReplacedDraft('lost?');
  store.setScrollTop(120);
  store.setDraft('now');
  assert.deepEqual(storage.saves.at(-1), { version: 1, draft: 'now', editing: null, replacedDraft: 'lost?', scrollTop: 120 });
  store.setDraftPerplexity('now', null);
  assert.deepEqual(store.draftPerplexity, { view: null, draft: 'now' });
});

test('rewording scores are kept for one draft: the newest asked about', () => {
  const store = new PanelStore(memoryStorage());
  assert.equal(store.rewordingScore('Sort the list', 'Sort a list'), undefined, 'nothing until the host scores it');
  store.setRewordingScore('Sort the list', 'Sort a list', 7.25);
  store.setRewordingScore('Sort the list', 'Sort my list', 9);
  assert.equal(store.rewordingScore('Sort the list', 'Sort a list'), 7.25);
  assert.equal(store.rewordingScore('Sort a list', 'Sort a list'), undefined, 'a score is for its draft only');
  store.setRewordingScore('Sort a list', 'Sort a tuple', 5);
  assert.equal(store.rewordingScore('Sort the list', 'Sort my list'), undefined, 'an older draft\'s scores are forgotten');
  assert.equal(store.rewordingScore('Sort a list', 'Sort a tuple'), 5);
});
