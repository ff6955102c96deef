// The panel's scoreRewordings message through the validator: 1 to MAX_REWORDINGS plain { id, text } objects in a
// plain array, ids short and non-empty, texts within MAX_TEXT_LENGTH; anything else is refused, and what passes
// is a fresh copy.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_REWORDING_ID_LENGTH, MAX_REWORDINGS, MAX_TEXT_LENGTH, parseFromWebview } from '../../src/protocol/webview';

const message = (rewordings: unknown, extra: Record<string, unknown> = {}): unknown => ({ type: 'scoreRewordings', draft: 'Sort the list', rewordings, ...extra });
const items = (n: number): { id: string; text: string }[] => Array.from({ length: n }, (_, i) => ({ id: `r${i}`, text: `Sort list ${i}` }));

test('a scoreRewordings message within its bounds passes, as a copy', () => {
  for (const m of [message(items(1)), message(items(MAX_REWORDINGS)), message([{ id: 'x'.repeat(MAX_REWORDING_ID_LENGTH), text: 'y'.repeat(MAX_TEXT_LENGTH) }])]) {
    assert.deepEqual(parseFromWebview(m), m);
  }
  const given = items(2);
  const parsed = parseFromWebview(message(given));
  assert.ok(parsed?.type === 'scoreRewordings');
  assert.notEqual(parsed.rewordings, given);
  given[0].text = 'changed later';
  assert.equal(parsed.rewordings[0].text, 'Sort list 0');
});

test('oversized or ill-typed scoreRewordings messages are refused', () => {
  const sparse: unknown[] = [];
  sparse[1] = { id: 'a', text: 'b' };
  const extraKey = Object.assign(items(1), { extra: 1 });
  const getter = [{ id: 'a', get text() { return 'b'; } }];
  const inherited = [Object.assign(Object.create({ text: 'b' }), { id: 'a' })];
  class Subclass extends Array {}
  const invalid: [string, unknown][] = [
    ['no rewordings', { type: 'scoreRewordings', draft: 'd' }],
    ['no draft', { type: 'scoreRewordings', rewordings: items(1) }],
    ['a draft that is not a string', message(items(1), { draft: 3 })],
    ['a draft too long', message(items(1), { draft: 'x'.repeat(MAX_TEXT_LENGTH + 1) })],
    ['an extra field', message(items(1), { turnId: 't' })],
    ['none', message([])],
    ['too many', message(items(MAX_REWORDINGS + 1))],
    ['not an array', message({ 0: { id: 'a', text: 'b' }, length: 1 })],
    ['a string', message('Sort a list')],
    ['an array subclass', message(Subclass.from(items(1)))],
    ['a sparse array', message(sparse)],
    ['an array with an extra key', message(extraKey)],
    ['an item that is not an object', message(['Sort a list'])],
    ['a null item', message([null])],
    ['an array item', message([['a', 'b']])],
    ['an item without a text', message([{ id: 'a' }])],
    ['an item with an extra field', message([{ id: 'a', text: 'b', score: 1 }])],
    ['an id that is not a string', message([{ id: 1, text: 'b' }])],
    ['an empty id', message([{ id: '', text: 'b' }])],
    ['an id too long', message([{ id: 'x'.repeat(MAX_REWORDING_ID_LENGTH + 1), text: 'b' }])],
    ['a text that is not a string', message([{ id: 'a', text: { toString: () => 'b' } }])],
    ['a text too long', message([{ id: 'a', text: 'x'.repeat(MAX_TEXT_LENGTH + 1) }])],
    ['a getter', message(getter)],
    ['an inherited field', message(inherited)],
    ['a Proxy that throws', message(new Proxy(items(1), { ownKeys: () => { throw new Error('trap'); } }))],
  ];
  for (const [what, m] of invalid) {
    assert.doesNotThrow(() => parseFromWebview(m), what);
    assert.equal(parseFromWebview(m), undefined, what);
  }
});
