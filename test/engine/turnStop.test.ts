import assert from 'node:assert/strict';
import { test } from 'node:test';
import { settledLength, truncateCompletion, TurnStopper } from '../../src/engine/generation/turnStop';

test("the paper's own truncate() case", () => {
  assert.equal(
    truncateCompletion('\nif len_a > len_b:\n    result = a\nelse:\n    result = b\n\n\n\n#'),
    '\nif len_a > len_b:\n    result = a\nelse:\n    result = b',
  );
});

test('each terminal ends the turn', () => {
  assert.equal(truncateCompletion('x = 1\n# next step\ny = 2'), 'x = 1\n');
  assert.equal(truncateCompletion('x = 1<|endoftext|>junk'), 'x = 1');
  assert.equal(truncateCompletion("x = 1\n'''doc'''"), 'x = 1\n');
  assert.equal(truncateCompletion('x = 1\n"""doc"""'), 'x = 1\n');
  assert.equal(truncateCompletion('x = 1\n\n\ny = 2'), 'x = 1');
  // A comment that is not at the start of a line does not end the turn, nor does an indented one.
  assert.equal(truncateCompletion('x = 1  # note\n    # inner\ny = 2'), 'x = 1  # note\n    # inner\ny = 2');
  // `^#` also matches at the very start, as in the original.
  assert.equal(truncateCompletion('# a comment first\nx = 1'), '');
});

test('a second top-level print or def ends the turn; the first does not', () => {
  assert.equal(truncateCompletion('print(a)\nprint(b)\n'), 'print(a)\n');
  assert.equal(truncateCompletion('def f():\n    return 1\ndef g():\n    pass'), 'def f():\n    return 1\n');
  assert.equal(truncateCompletion('def f():\n    print(1)\n    print(2)\n'), 'def f():\n    print(1)\n    print(2)\n');
  // No word boundary, exactly like the original regex.
  assert.equal(truncateCompletion('print(a)\nprinter = 1'), 'print(a)\n');
});

test('settledLength holds back only what could still become a cut', () => {
  assert.equal(settledLength('x = 1\n'), 5);
  assert.equal(settledLength('x = 1\n\n'), 5);
  assert.equal(settledLength('x = 1\npri'), 6);
  assert.equal(settledLength('x = 1\nprx'), 9);
  assert.equal(settledLength("x = 1\n''"), 6);
  assert.equal(settledLength('x = 1 <|endof'), 6);
  assert.equal(settledLength('x = 1\ny'), 7);
});

/** Random completions over characters that matter to the rules, cut into random deltas. */
function* randomStreams(count: number): Generator<string[]> {
  const pieces = ['\n', '\n', '#', 'print', 'pr', 'int', 'def', 'de', 'f', "'''", '"', '<|', 'endoftext', '|>', 'x', ' ', '(1)', '    '];
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 48271) % 2147483647;
    return seed % n;
  };
  for (let i = 0; i < count; i++) {
    const deltas: string[] = [];
    const n = 1 + rand(25);
    for (let k = 0; k < n; k++) deltas.push(pieces[rand(pieces.length)] + (rand(3) === 0 ? pieces[rand(pieces.length)] : ''));
    yield deltas;
  }
}

test('streaming: shown text is always a prefix of the final turn, and adds up to it exactly', () => {
  for (const deltas of randomStreams(2000)) {
    const stopper = new TurnStopper('turn');
    let shown = '';
    let consumed = '';
    let before = '';
    for (const d of deltas) {
      before = consumed;
      consumed += d;
      shown += stopper.push(d);
      if (stopper.ended) break;
    }
    shown += stopper.finish();
    const expected = truncateCompletion(consumed);
    assert.equal(shown, expected, JSON.stringify(deltas));
    assert.equal(stopper.text, expected);
    // It stopped at the first delta that completed the turn, not later.
    if (stopper.ended) assert.equal(truncateCompletion(before), before, JSON.stringify(deltas));
  }
});

test('streaming stops at the delta that completes the turn', () => {
  const stopper = new TurnStopper('turn');
  assert.equal(stopper.push('x = 1\n'), 'x = 1');
  assert.equal(stopper.push('\n'), '');
  assert.equal(stopper.ended, false);
  assert.equal(stopper.push('\ny = 2'), '');
  assert.equal(stopper.ended, true);
  assert.equal(stopper.text, 'x = 1');
  assert.equal(stopper.rawText, 'x = 1\n\n\ny = 2');
});

test("stop 'none' passes everything through", () => {
  const stopper = new TurnStopper('none');
  assert.equal(stopper.push('x\n# c\n\n\n'), 'x\n# c\n\n\n');
  assert.equal(stopper.ended, false);
  assert.equal(stopper.finish(), '');
  assert.equal(stopper.text, 'x\n# c\n\n\n');
});
