import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_TEXT_LENGTH, parseFromWebview } from '../../src/protocol/webview';

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
  ];
  for (const m of invalid) assert.equal(parseFromWebview(m), undefined, JSON.stringify(m)?.slice(0, 80));
});
