// Finding the benchmark's Python: a named interpreter is checked and kept; otherwise the first of python3,
// /usr/bin/python3, python with numpy and pandas wins, and the error lists every interpreter tried and what it lacked.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { findPython, probePython, PYTHON_CANDIDATES } from '../../src/eval/python';
import { EvalSetupError } from '../../src/eval/sandbox';
import { tmpDir } from './helpers';

/** A stand-in interpreter that answers the harness's `check` as a Python lacking `missing` would. */
function fakePython(dir: string, name: string, missing: string[]): string {
  const file = path.join(dir, name);
  const answer = JSON.stringify({ python: '3.9.2', executable: `/opt/fake/${name}`, missing });
  fs.writeFileSync(file, `#!/bin/sh\necho '${answer}'\n`, { mode: 0o755 });
  return file;
}

test('the candidates are python3, /usr/bin/python3, python, in that order', () => {
  assert.deepEqual(PYTHON_CANDIDATES, ['python3', '/usr/bin/python3', 'python']);
});

test('the first python3 on PATH lacking pandas is passed over for one that has it', (t) => {
  const system = probePython('/usr/bin/python3');
  if (!system.ok) {
    t.skip(`/usr/bin/python3 cannot be used here: ${system.problem}`);
    return;
  }
  const dir = tmpDir('codegen-mt-python-');
  fakePython(dir, 'python3', ['pandas']);
  const saved = process.env.PATH;
  process.env.PATH = `${dir}:${saved}`;
  try {
    const found = findPython();
    assert.equal(found.requested, '/usr/bin/python3');
    assert.equal(found.executable, system.info.executable);
  } finally {
    process.env.PATH = saved;
  }
});

test('with none usable, the error lists what was tried and what each lacked, and what to do', () => {
  const dir = tmpDir('codegen-mt-python-');
  const noPandas = fakePython(dir, 'py-a', ['pandas']);
  const noNumpy = fakePython(dir, 'py-b', ['numpy', 'pandas']);
  const absent = path.join(dir, 'no-such-python');
  assert.throws(
    () => findPython(undefined, { candidates: [noPandas, noNumpy, absent] }),
    (err: unknown) => {
      assert.ok(err instanceof EvalSetupError);
      const text = err.message;
      assert.match(text, new RegExp(`${noPandas}: /opt/fake/py-a, Python 3.9.2, has no pandas`));
      assert.match(text, new RegExp(`${noNumpy}: /opt/fake/py-b, Python 3.9.2, has no numpy and no pandas`));
      assert.match(text, new RegExp(`${absent}: not found`));
      assert.match(text, /apt-get install python3-numpy python3-pandas/);
      assert.match(text, /--python PATH/);
      assert.match(text, /codegenMt\.python/);
      assert.doesNotMatch(text, /\n/);
      return true;
    },
  );
});

test('a named interpreter is used as given: lacking pandas it is an error, never replaced by another', () => {
  const dir = tmpDir('codegen-mt-python-');
  const noPandas = fakePython(dir, 'python3', ['pandas']);
  assert.throws(() => findPython(noPandas), new RegExp(`Python "${noPandas}" cannot be used \\(/opt/fake/python3, Python 3.9.2, has no pandas\\)`));
  assert.throws(() => findPython(path.join(dir, 'missing')), /cannot be used \(not found\)/);
  const ok = fakePython(dir, 'good', []);
  assert.equal(findPython(ok).executable, '/opt/fake/good');
});
