import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildInsertion, indentLines, insertionPoint, normalizeCode, positionAfter, separatorBefore } from '../../src/session/insertion';

test('separators before a new prompt', () => {
  assert.equal(separatorBefore(''), '');
  assert.equal(separatorBefore('\n'), '');
  assert.equal(separatorBefore('x = 1'), '\n\n');
  assert.equal(separatorBefore('x = 1\n'), '\n');
  assert.equal(separatorBefore('x = 1\n\n'), '');
  assert.equal(separatorBefore('x = 1\n    \n'), '');
});

test('an accepted turn: separator, prompt comment, code, and the paper ending', () => {
  const i = buildInsertion({ above: 'x = 1\n', prompt: 'Print x.', code: 'print(x)\n\n', indent: '', promptAsComment: true });
  assert.equal(i.text, '\n# Print x.\nprint(x)\n\n');
  assert.equal(i.promptLine, 1);
  assert.equal(i.promptComment, '# Print x.');
  const first = buildInsertion({ above: '', prompt: 'Hi.', code: 'a = 1', indent: '', promptAsComment: true });
  assert.equal(first.text, '# Hi.\na = 1\n\n');
  assert.equal(first.promptLine, 0);
});

test('without the prompt comment only the code goes in', () => {
  const i = buildInsertion({ above: 'x = 1', prompt: 'Print x.', code: 'print(x)', indent: '', promptAsComment: false });
  assert.equal(i.text, '\n\nprint(x)\n\n');
  assert.equal(i.promptLine, undefined);
});

test('a multi-line prompt becomes several comment lines; empty code leaves the comment', () => {
  const i = buildInsertion({ above: '', prompt: 'Read a file.\nSplit it.', code: '', indent: '', promptAsComment: true });
  assert.equal(i.text, '# Read a file.\n# Split it.\n\n');
});

test('indentation: every inserted line gets the insertion point indentation, blank lines stay empty', () => {
  const above = 'def f(x):\n';
  const i = buildInsertion({ above, prompt: 'Square x.', code: 'y = x * x\n\nif y:\n    return y', indent: '    ', promptAsComment: true });
  assert.equal(i.text, '\n    # Square x.\n    y = x * x\n\n    if y:\n        return y\n\n');
  assert.equal(indentLines('a\n  \nb', '\t'), '\ta\n\n\tb');
  assert.equal(normalizeCode('a\r\nb  \n\n'), 'a\nb');
});

test('insertion point: line start after leading whitespace, else after the cursor line', () => {
  const doc = 'def f(x):\n    \n    return x\n';
  assert.deepEqual(insertionPoint(doc, doc.indexOf('\n    \n') + 5), { offset: doc.indexOf('    \n'), indent: '    ' });
  assert.deepEqual(insertionPoint(doc, doc.indexOf('return') + 3), { offset: doc.length, indent: '    ' });
  assert.deepEqual(insertionPoint('x = 1', 5), { offset: 5, indent: '' });
  assert.deepEqual(insertionPoint('', 0), { offset: 0, indent: '' });
  assert.deepEqual(insertionPoint('a\nb\n', 1), { offset: 2, indent: '' });
});

test('the cursor ends after the inserted text', () => {
  assert.deepEqual(positionAfter({ line: 3, character: 4 }, 'abc'), { line: 3, character: 7 });
  assert.deepEqual(positionAfter({ line: 3, character: 4 }, '\n# p\nx\n\n'), { line: 7, character: 0 });
  assert.deepEqual(positionAfter({ line: 0, character: 0 }, 'a\nbc'), { line: 1, character: 2 });
});
