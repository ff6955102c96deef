// Hostile programs are contained or scored as failed, and the run goes on: infinite loops (one that ignores the
// harness's own limit too), a memory bomb, a fork bomb, writes outside the program's folder, reading the
// environment, the network.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ExecutorPool, runProgram, type ExecRequest } from '../../src/eval/sandbox';
import { NO_PYTHON, sandboxOptions, tmpDir } from './helpers';

const mtpb = (program: string, goldJson = '1'): ExecRequest => ({ kind: 'mtpb', program, goldJson });
const isRoot = process.getuid?.() === 0;

/** Processes whose real uid is `uid`, from /proc. */
function processesOf(uid: number): number {
  let n = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = fs.readFileSync(`/proc/${entry}/status`, 'utf8');
      if (new RegExp(`^Uid:\\s+${uid}\\s`, 'm').test(status)) n++;
    } catch {
      // gone
    }
  }
  return n;
}

test('an infinite loop is stopped by the time limit and scored failed', { skip: NO_PYTHON }, async () => {
  const options = await sandboxOptions({ timeoutS: 1 });
  const r = await runProgram(mtpb('print(1)\nwhile True:\n    pass\n'), options);
  assert.equal(r.passed, false);
  assert.equal(r.timedOut, true);
});

test('a program that swallows the time limit is killed with its process group', { skip: NO_PYTHON }, async () => {
  const options = await sandboxOptions({ timeoutS: 1 });
  const program = 'import time\nprint(1)\nwhile True:\n    try:\n        time.sleep(100)\n    except BaseException:\n        pass\n';
  const r = await runProgram(mtpb(program), options);
  assert.equal(r.passed, false);
  assert.equal(r.timedOut, true);
  assert.match(r.error ?? '', /killed/);
});

test('a memory bomb hits the memory limit and is scored failed', { skip: NO_PYTHON }, async () => {
  const options = await sandboxOptions({ memoryMb: 512 });
  const r = await runProgram(mtpb('a = []\nwhile True:\n    a.append(" " * 10**7)\nprint(1)\n'), options);
  assert.equal(r.passed, false);
  assert.match(r.error ?? '', /MemoryError|no result/);
});

test('a fork bomb is contained: it fails, and none of its processes outlive the run', { skip: NO_PYTHON }, async (t) => {
  const options = await sandboxOptions({ timeoutS: 2 });
  const { isolation } = options;
  if (isRoot && !isolation.dropTo) {
    t.skip('programs run as root here (no process limit applies): not running a fork bomb');
    return;
  }
  const uid = isolation.dropTo?.uid ?? process.getuid!();
  const before = isolation.dropTo ? processesOf(uid) : 0;
  const r = await runProgram(mtpb('import os\nprint(1)\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n'), options);
  assert.equal(r.passed, false);
  if (isolation.dropTo) assert.ok(processesOf(uid) <= before, 'fork bomb processes survived the run');
  // The machine still runs programs.
  assert.equal((await runProgram(mtpb('print(1)'), options)).passed, true);
});

test('a program cannot write outside world-writable places when it runs as nobody', { skip: NO_PYTHON }, async (t) => {
  const options = await sandboxOptions();
  if (!options.isolation.dropTo) {
    t.skip(`programs run as this user here (${options.isolation.notes.join('; ')}): writes are not confined`);
    return;
  }
  const outside = tmpDir('codegen-mt-outside-');
  fs.chmodSync(outside, 0o755);
  const target = path.join(outside, 'pwned.txt');
  const program = `open(${JSON.stringify(target)}, "w").write("x")\nprint(1)\n`;
  const r = await runProgram(mtpb(program), options);
  assert.equal(r.passed, false);
  assert.match(r.error ?? '', /PermissionError/);
  assert.equal(fs.existsSync(target), false);
  // Its own folder is writable, and fresh for every run.
  const own = await runProgram(mtpb('import os\nopen("mine.txt", "w").write("x")\nprint(os.listdir("."))\n', '["mine.txt"]'), options);
  assert.equal(own.passed, true, own.error ?? '');
  assert.equal((await runProgram(mtpb('import os\nprint(os.listdir("."))\n', '[]'), options)).passed, true);
});

test('a program sees a clean environment, not the caller\'s', { skip: NO_PYTHON }, async () => {
  process.env.CODEGEN_MT_TEST_SECRET = 'hunter2';
  try {
    const options = await sandboxOptions();
    const r = await runProgram(mtpb('import os\nprint(sorted(os.environ.items()))\n', '[]'), options);
    assert.ok(r.printed !== null);
    assert.doesNotMatch(r.printed!, /hunter2|CODEGEN_MT_TEST_SECRET/);
    assert.match(r.printed!, /'HOME'/);
  } finally {
    delete process.env.CODEGEN_MT_TEST_SECRET;
  }
});

test('a program has no network where a network namespace is available', { skip: NO_PYTHON }, async (t) => {
  const options = await sandboxOptions({ timeoutS: 5 });
  if (!options.isolation.networkIsolated) {
    t.skip(`no network namespace here: ${options.isolation.notes.join('; ')}`);
    return;
  }
  const program = 'import socket\ntry:\n    socket.create_connection(("1.1.1.1", 53), timeout=2)\n    print("connected")\nexcept OSError as e:\n    print("blocked")\n';
  const r = await runProgram(mtpb(program, '"blocked"'), options);
  assert.equal(r.passed, true, `${r.printed} ${r.error}`);
});

test('a program cannot forge its result by printing, and the pool goes on after hostile programs', { skip: NO_PYTHON }, async () => {
  const options = await sandboxOptions({ timeoutS: 1, memoryMb: 512 });
  const pool = new ExecutorPool(options, 3);
  const runs = await Promise.all([
    pool.run(mtpb('import sys\nsys.stdout.write(\'{"passed": true}\')\nprint(2)\n')),
    pool.run(mtpb('while True:\n    pass\n')),
    pool.run(mtpb('a = bytearray(10**10)\n')),
    pool.run(mtpb('import os\nos.close(3)\nprint(1)\n')),
    pool.run(mtpb('raise SystemExit(0)\n')),
    pool.run(mtpb('print(1)\n')),
  ]);
  assert.deepEqual(runs.map((r) => r.passed), [false, false, false, false, false, true]);
});
