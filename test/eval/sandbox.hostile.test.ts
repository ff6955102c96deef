// Hostile programs are contained or scored as failed, and the run goes on: infinite loops (one that ignores
// every signal and exception too), a memory bomb, a fork bomb, writes outside the program's folder, reading the
// environment, the network, /proc; and programs that try to forge their verdict (the result channel, the
// comparison, objects equal to everything, the judge's memory and files, HumanEval's tests).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ExecutorPool, runProgram, type ExecRequest, type SandboxOptions } from '../../src/eval/sandbox';
import { NO_PYTHON, sandboxOptions, tmpDir } from './helpers';

const mtpb = (program: string, goldJson = '1'): ExecRequest => ({ kind: 'mtpb', program, goldJson });
const isRoot = process.getuid?.() === 0;

/** A HumanEval problem in the dataset's shape, small enough to read: its tests need add(1, 2) == 3. */
const ADD = {
  prompt: 'def add(a, b):\n    """The sum of a and b."""\n',
  test: 'def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n',
  entryPoint: 'add',
};
const humaneval = (completion: string): ExecRequest => ({ kind: 'humaneval', completion, ...ADD });

/** What tells one run's processes apart from every other process: its process group, its PID namespace. */
interface RunIdentity {
  pgid?: number;
  /** readlink of /proc/PID/ns/pid inside the run (`pid:[inode]`), when it has its own namespace. */
  pidNamespace?: string;
}

/** Runs `request`, noting its identity while it runs (the namespace exists only as long as the run). */
async function runObserved(request: ExecRequest, options: SandboxOptions): Promise<{ result: Awaited<ReturnType<typeof runProgram>>; run: RunIdentity }> {
  const run: RunIdentity = {};
  const ownNamespace = fs.readlinkSync('/proc/self/ns/pid');
  let poller: NodeJS.Timeout | undefined;
  const result = await runProgram(request, options, {
    onSpawn: (pid) => {
      run.pgid = pid; // spawned detached: the leader of its own group
      poller = setInterval(() => {
        try {
          // `unshare` (or the judge itself) once it has made the run's namespace
          const ns = fs.readlinkSync(`/proc/${pid}/ns/pid_for_children`);
          if (ns !== ownNamespace) {
            run.pidNamespace = ns;
            clearInterval(poller);
          }
        } catch {
          clearInterval(poller); // gone already
        }
      }, 10);
    },
  });
  clearInterval(poller);
  return { result, run };
}

/** The run's processes that are still alive (zombies, which only wait to be reaped, are not). */
function liveProcessesOf(run: RunIdentity): string[] {
  const live: string[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses
    const close = stat.lastIndexOf(')');
    const [state, , pgrp] = stat.slice(close + 2).split(' ');
    if (state === 'Z' || state === 'X') continue;
    let ofRun = Number(pgrp) === run.pgid;
    if (!ofRun && run.pidNamespace) {
      try {
        ofRun = fs.readlinkSync(`/proc/${entry}/ns/pid`) === run.pidNamespace;
      } catch {
        // another user's process we may not inspect (its group already said it is not this run's), or gone
      }
    }
    if (ofRun) live.push(`${entry} ${stat.slice(stat.indexOf('('), close + 1)} ${state}`);
  }
  return live;
}

/** Waits up to `ms` for none of the run's processes to be alive; returns those still alive then. */
async function survivorsAfter(run: RunIdentity, ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const live = liveProcessesOf(run);
    if (live.length === 0 || Date.now() > deadline) return live;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('an infinite loop is stopped by the time limit and scored failed', { skip: NO_PYTHON }, async () => {
  const options = await sandboxOptions({ timeoutS: 1 });
  const r = await runProgram(mtpb('print(1)\nwhile True:\n    pass\n'), options);
  assert.equal(r.passed, false);
  assert.equal(r.timedOut, true);
});

test('a program that ignores every signal and exception is killed at the time limit', { skip: NO_PYTHON }, async () => {
  const options = await sandboxOptions({ timeoutS: 1 });
  const program =
    'import signal, time\nfor s in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT):\n    signal.signal(s, signal.SIG_IGN)\n' +
    'print(1)\nwhile True:\n    try:\n        time.sleep(100)\n    except BaseException:\n        pass\n';
  const started = Date.now();
  const r = await runProgram(mtpb(program), options);
  assert.equal(r.passed, false);
  assert.equal(r.timedOut, true);
  assert.match(r.error ?? '', /Timed out/);
  assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
});

test('a memory bomb hits the memory limit and is scored failed', { skip: NO_PYTHON }, async () => {
  const options = await sandboxOptions({ memoryMb: 512 });
  const r = await runProgram(mtpb('a = []\nwhile True:\n    a.append(" " * 10**7)\nprint(1)\n'), options);
  assert.equal(r.passed, false);
  assert.match(r.error ?? '', /MemoryError|no result/);
});

test('a fork bomb is contained: it fails, and no live process of its run outlives it', { skip: NO_PYTHON }, async (t) => {
  const options = await sandboxOptions({ timeoutS: 2 });
  const { isolation } = options;
  if (isRoot && !isolation.dropTo) {
    t.skip('programs run as root here (no process limit applies): not running a fork bomb');
    return;
  }
  // In a PID namespace, first a sleeper that leaves the process group (only the namespace catches it; without
  // one, leaving the group is a known way out); then the bomb.
  const sleeper = isolation.pidNamespace ? 'if os.fork() == 0:\n    os.setsid()\n    time.sleep(120)\n    os._exit(0)\n' : '';
  const program = `import os, time\n${sleeper}print(1)\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n`;
  const { result, run } = await runObserved(mtpb(program), options);
  assert.equal(result.passed, false);
  assert.ok(run.pgid !== undefined, 'the run reported no pid');
  if (isolation.pidNamespace) assert.ok(run.pidNamespace, 'the run\'s PID namespace was not seen');
  // Only this run's processes count (never other users' of the same uid), only live ones (a zombie waits for
  // an init that may reap it seconds later), and they get a while to die.
  assert.deepEqual(await survivorsAfter(run, 15_000), [], 'processes of the fork bomb\'s run survived it');
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

test('a program cannot forge a pass through the result channel (fd 3, /proc/self, /proc/<judge>/fd/3)', { skip: NO_PYTHON }, async () => {
  const options = await sandboxOptions();
  const forged = '{"passed": true, "error": null, "printed": "1", "stdout": "", "timedOut": false}';
  const programs = [
    // the forgery: a wrong answer, then a result written on fd 3 and an exit before anyone else writes
    `print(2)\nimport os\nos.write(3, b'${forged}')\nos._exit(0)\n`,
    // every way to the judge's fd 3 through /proc: its parent (the judge), PID 1 (the judge in a PID namespace), itself
    'import os\nprint(2)\nfor pid in (os.getppid(), 1, "self"):\n    try:\n        with open(f"/proc/{pid}/fd/3", "w") as f:\n' +
      `            f.write('${forged}')\n    except OSError:\n        pass\nos._exit(0)\n`,
  ];
  // Also when the program keeps the judge's uid (no drop to nobody, as when not root): the pipe is then its own.
  const variants = [options, ...(options.isolation.dropTo ? [{ ...options, isolation: { ...options.isolation, dropTo: undefined } }] : [])];
  for (const variant of variants) {
    const runs = await Promise.all(programs.map((p) => runProgram(mtpb(p), variant)));
    assert.deepEqual(runs.map((r) => r.passed), [false, false], `as uid ${variant.isolation.dropTo?.uid ?? 'of the judge'}: ${runs.map((r) => r.error).join('; ')}`);
  }
});

test('a program cannot replace the comparison, nor print objects equal to everything', { skip: NO_PYTHON }, async () => {
  const options = await sandboxOptions();
  const programs = [
    // the forgery: the scorer's comparison, replaced from inside the program
    "import sys\nsys.modules['__main__'].check_equivalence = lambda a, b: True\nprint(2)\n",
    'import builtins, sys\nfor m in list(sys.modules.values()):\n    if hasattr(m, "check_equivalence"):\n        m.check_equivalence = lambda a, b: True\nprint(2)\n',
    // objects whose __eq__ says yes, inside the expected list (a list compares its items with their ==)
    'class A:\n    def __eq__(self, other):\n        return True\n    __hash__ = object.__hash__\nprint([A()])\n',
    'class B(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\nprint([B(7)])\n',
  ];
  const runs = await Promise.all(programs.map((p, i) => runProgram(mtpb(p, i < 2 ? '1' : '[1]'), options)));
  assert.deepEqual(runs.map((r) => r.passed), [false, false, false, false], runs.map((r) => `${r.printed} ${r.error}`).join('; '));
  // The same values, when right, still pass: plain data is compared as the paper does.
  assert.equal((await runProgram(mtpb('import numpy as np\nprint([np.int64(1)])\n', '[1]'), options)).passed, true);
});

test('a program never holds the expected value, and cannot read the judge\'s memory or files', { skip: NO_PYTHON }, async () => {
  const base = await sandboxOptions();
  // Its memory (objects, frames): the expected value is not there.
  const search =
    'import gc, sys\nneedle = "-".join(["gold", "7f3a9c"])\n' +
    'def mentions(o, depth=0):\n    if o is globals() or depth > 3:\n        return False\n    if isinstance(o, str):\n        return needle in o\n' +
    '    if isinstance(o, dict):\n        return any(mentions(v, depth + 1) for v in list(o.values()))\n' +
    '    if isinstance(o, (list, tuple)):\n        return any(mentions(v, depth + 1) for v in list(o))\n    return False\n' +
    'frames, f = [], sys._getframe().f_back\nwhile f is not None:\n    frames.append(f.f_locals)\n    f = f.f_back\n' +
    'print(any(mentions(o) for o in gc.get_objects()) or any(mentions(l) for l in frames))\n';
  const memory = await runProgram(mtpb(search, '"gold-7f3a9c"'), base);
  assert.equal(memory.printed, 'False', `${memory.printed} ${memory.error}`);
  // The judge's process (its parent; PID 1 in a PID namespace), also when the program keeps its uid (no drop to
  // nobody: as when not root).
  const probe =
    'import os\nopened = []\nfor pid in {os.getppid(), 1} - {0, os.getpid()}:\n    for name, mode in (("fd/3", "w"), ("mem", "rb"), ("environ", "rb")):\n' +
    '        try:\n            open(f"/proc/{pid}/{name}", mode).close()\n            opened.append(f"{pid}/{name}")\n        except OSError:\n            pass\n' +
    'print(opened)\n';
  for (const options of [base, { ...base, isolation: { ...base.isolation, dropTo: undefined } }]) {
    const r = await runProgram(mtpb(probe, '[]'), options);
    assert.equal(r.printed, '[]', `as uid ${options.isolation.dropTo?.uid ?? 'of the judge'}: ${r.printed} ${r.error}`);
  }
});

test('a program sees only its own run\'s processes in /proc where a mount namespace is available', { skip: NO_PYTHON }, async (t) => {
  const options = await sandboxOptions();
  if (!options.isolation.privateProc) {
    t.skip(`no private /proc here: ${options.isolation.notes.join('; ')}`);
    return;
  }
  const r = await runProgram(mtpb('import os\nprint(sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))\n', '[]'), options);
  const pids = JSON.parse(r.printed ?? 'null') as number[];
  // The judge (PID 1), the program, nothing of the machine's.
  assert.ok(Array.isArray(pids) && pids.length >= 1 && pids.length <= 5 && pids.every((p) => p <= 10), `/proc lists ${r.printed}`);
});

test('HumanEval: the tests run in the judge, so a completion cannot skip them or fake their result', { skip: NO_PYTHON }, async () => {
  const options = await sandboxOptions({ timeoutS: 3 });
  const forged = '{"passed": true, "error": null, "printed": null, "stdout": "", "timedOut": false}';
  const cases: Array<[string, boolean, string]> = [
    ['    return a + b\n', true, 'the right completion'],
    ['    return a - b\n', false, 'a wrong completion'],
    // a fake result on fd 3, then an exit before the tests run
    [`    return 0\nimport os\nos.write(3, b'${forged}')\nos._exit(0)\n`, false, 'fd 3 then os._exit'],
    ['    return 0\nimport os\nos._exit(0)\n', false, 'os._exit before the tests'],
    // an answer equal to everything
    ['    class Yes:\n        def __eq__(self, other):\n            return True\n    return Yes()\n', false, 'an object equal to everything'],
    // the tests' check, replaced (they are not in the program's process at all)
    ['    return 0\ndef check(candidate):\n    pass\n', false, 'its own check()'],
  ];
  const runs = await Promise.all(cases.map(([completion]) => runProgram(humaneval(completion), options)));
  const wrong = cases.flatMap(([, passes, why], i) => (runs[i].passed === passes ? [] : [`${why}: expected ${passes ? 'pass' : 'fail'}, got ${runs[i].passed ? 'a pass' : runs[i].error}`]));
  assert.deepEqual(wrong, []);
  assert.match(runs[1].error ?? '', /AssertionError/);
});
