import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_CANDIDATES, MAX_TEXT_LENGTH, parseFromWebview } from '../../src/protocol/webview';

test('every valid message passes unchanged', () => {
  const valid = [
    { type: 'ready' },
    { type: 'submit', prompt: 'Sort the list.' },
    { type: 'accept', turnId: 't1' },
    { type: 'accept', turnId: 't1', code: 'x = 1' },
    { type: 'reject', turnId: 't1' },
    { type: 'regenerate', turnId: 't1' },
    { type: 'retry', turnId: 't1' },
    { type: 'stop', turnId: 't1' },
    { type: 'draftChanged', draft: '' },
    { type: 'newSession' },
    { type: 'openSession', sessionId: 's' },
    { type: 'exportSession' },
    { type: 'chooseModel' },
    { type: 'downloadModel' },
    { type: 'submit', prompt: 'x'.repeat(MAX_TEXT_LENGTH) },
    { type: 'accept', turnId: 't1', candidate: 0 },
    { type: 'accept', turnId: 't1', code: 'x = 1', candidate: MAX_CANDIDATES - 1 },
    { type: 'showCandidate', turnId: 't1', candidate: 2 },
    { type: 'setCandidatesPerTurn', count: 1 },
    { type: 'setCandidatesPerTurn', count: MAX_CANDIDATES },
  ];
  for (const m of valid) assert.deepEqual(parseFromWebview(m), m, JSON.stringify(m).slice(0, 80));
});

test('unknown types, missing, extra or mistyped fields and too-long strings are rejected', () => {
  const invalid: unknown[] = [
    null,
    undefined,
    'ready',
    42,
    [],
    [{ type: 'ready' }],
    {},
    { type: 'hack' },
    { type: 'toString' },
    { type: '__proto__' },
    { type: 1 },
    { type: 'ready', extra: 1 },
    { type: 'submit' },
    { type: 'submit', prompt: 5 },
    { type: 'submit', prompt: null },
    { type: 'submit', prompt: 'x'.repeat(MAX_TEXT_LENGTH + 1) },
    { type: 'accept', turnId: 't1', code: 3 },
    { type: 'accept', code: 'x' },
    { type: 'accept', turnId: 't1', code: 'x'.repeat(MAX_TEXT_LENGTH + 1) },
    { type: 'stop', turnId: ['t1'] },
    { type: 'openSession', sessionId: 's', turnId: 't' },
    { type: 'accept', turnId: 't1', candidate: -1 },
    { type: 'accept', turnId: 't1', candidate: MAX_CANDIDATES },
    { type: 'accept', turnId: 't1', candidate: '1' },
    { type: 'showCandidate', turnId: 't1' },
    { type: 'showCandidate', turnId: 't1', candidate: 1.5 },
    { type: 'showCandidate', turnId: 't1', candidate: Number.NaN },
    { type: 'setCandidatesPerTurn', count: 0 },
    { type: 'setCandidatesPerTurn', count: MAX_CANDIDATES + 1 },
    { type: 'setCandidatesPerTurn', count: Infinity },
  ];
  for (const m of invalid) assert.equal(parseFromWebview(m), undefined, JSON.stringify(m)?.slice(0, 80));
});

test('only own data properties count: inherited fields and getters make a message invalid', () => {
  const invalid: [string, unknown][] = [
    ['the type from the prototype', Object.create({ type: 'ready' })],
    ['a required field from the prototype', Object.assign(Object.create({ prompt: 'p' }), { type: 'submit' })],
    ['a getter for the type', { get type() { return 'ready'; } }],
    ['a getter for a field', { type: 'submit', get prompt() { return 'p'; } }],
    ['a getter for an optional field', { type: 'accept', turnId: 't1', get code() { return 'x'; } }],
    ['a symbol key', { type: 'ready', [Symbol('extra')]: 1 }],
  ];
  for (const [what, m] of invalid) assert.equal(parseFromWebview(m), undefined, what);
  // An optional field on the prototype is not part of the message.
  const inherited = Object.assign(Object.create({ code: 'from the prototype' }), { type: 'accept', turnId: 't1' });
  assert.deepEqual(parseFromWebview(inherited), { type: 'accept', turnId: 't1' });
  // A null prototype is fine.
  assert.deepEqual(parseFromWebview(Object.assign(Object.create(null), { type: 'submit', prompt: 'p' })), { type: 'submit', prompt: 'p' });
});

test('never throws, whatever it is given', () => {
  const throwing = (): never => {
    throw new Error('trap');
  };
  const everyTrapThrows = new Proxy({}, {
    get: throwing, has: throwing, ownKeys: throwing, getOwnPropertyDescriptor: throwing, getPrototypeOf: throwing,
    set: throwing, defineProperty: throwing, deleteProperty: throwing, isExtensible: throwing, preventExtensions: throwing,
    setPrototypeOf: throwing, apply: throwing, construct: throwing,
  });
  const revoked = Proxy.revocable({ type: 'ready' }, {});
  revoked.revoke();
  const cyclic: Record<string, unknown> = { type: 'submit' };
  cyclic.prompt = cyclic;
  const cyclicExtra: Record<string, unknown> = { type: 'ready' };
  cyclicExtra.self = cyclicExtra;
  const cases: [string, unknown][] = [
    ['a Proxy that throws on every trap', everyTrapThrows],
    ['a revoked Proxy', revoked.proxy],
    ['a getter that throws on the type', { get type() { return throwing(); } }],
    ['a getter that throws on a field', { type: 'submit', get prompt() { return throwing(); } }],
    ['a cyclic field', cyclic],
    ['a cyclic extra field', cyclicExtra],
    ['a huge array', new Array(1_000_000).fill({ type: 'ready' })],
    ['a huge object', Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i]).concat([['type', 'ready']]))],
  ];
  for (const [what, m] of cases) {
    assert.doesNotThrow(() => parseFromWebview(m), what);
    assert.equal(parseFromWebview(m), undefined, what);
  }
});

test('the result is a plain copy of the checked values, not the object given', () => {
  // A Proxy whose `get` throws but whose own data properties are a valid message: the copy never touches it again.
  const target = { type: 'accept', turnId: 't1', code: 'x = 1' };
  const proxy = new Proxy(target, { get: () => { throw new Error('read after the check'); } });
  const message = parseFromWebview(proxy);
  assert.deepEqual(message, target);
  assert.notEqual(message, proxy);
  target.code = 'changed later';
  assert.equal(message?.type === 'accept' ? message.code : undefined, 'x = 1');
});
