// The sandbox's `script` runs (the program so far, as the editor holds it): what it printed, and the exception it
// raised with its line in the program; a syntax error's line; a program that runs too long is stopped. The same
// sandbox as the benchmarks (sandbox.hostile.test.ts checks what it keeps out).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runProgram } from '../../src/eval/sandbox';
import { NO_PYTHON, sandboxOptions } from './helpers';

test('a script that runs: its output, no error', { skip: NO_PYTHON }, async () => {
  const r = await runProgram({ kind: 'script', program: 'import numpy as np\nx = np.arange(3)\nprint(x.sum())\nprint("done")\n' }, await sandboxOptions());
  assert.equal(r.passed, true, String(r.error));
  assert.equal(r.error, null);
  assert.equal(r.stdout, '3\ndone\n');
  assert.equal(r.errorLine, null);
  assert.equal(r.timedOut, false);
});

test('a script that raises: what it printed before, the exception, and its line (the innermost in the program)', { skip: NO_PYTHON }, async () => {
  const program = 'def f(d):\n    return d["missing"]\n\nprint("before")\nf({})\nprint("after")\n';
  const r = await runProgram({ kind: 'script', program }, await sandboxOptions());
  assert.equal(r.passed, false);
  assert.equal(r.stdout, 'before\n');
  assert.match(r.error ?? '', /^KeyError: 'missing'/);
  assert.equal(r.errorLine, 2);
});

test('a syntax error: its line; a script that runs too long: timed out', { skip: NO_PYTHON }, async () => {
  const syntax = await runProgram({ kind: 'script', program: 'x = 1\ny = (\n' }, await sandboxOptions());
  assert.match(syntax.error ?? '', /SyntaxError/);
  assert.ok(syntax.errorLine === 2 || syntax.errorLine === 3, `line ${syntax.errorLine}`);
  const slow = await runProgram({ kind: 'script', program: 'print("start")\nwhile True:\n    pass\n' }, await sandboxOptions({ timeoutS: 1 }));
  assert.equal(slow.passed, false);
  assert.equal(slow.timedOut, true);
});
