// Runs untrusted (model-written) Python programs, one run each, through src/eval/exec_harness.py.
//
// A run is two processes: the judge (`exec_harness.py run`, started here; it holds the expected value or the
// tests and writes the one result on fd 3) and the program process it starts (a fresh interpreter that runs the
// model's code and sends back, as data, what it printed or returned; the judge compares). The program cannot
// reach the result channel nor the comparison, and never sees the expected value: see exec_harness.py.
//
// What a run gets (the strongest the machine allows, found by probing once at start, see detectIsolation):
// - Python started with `-I -B` (no PYTHON* variables, no user site-packages) and a clean environment
//   (PATH=/usr/bin:/bin, HOME and TMPDIR = its directory, one BLAS/OpenMP thread, LANG=C.UTF-8);
// - a fresh temporary working directory, deleted afterwards;
// - a wall-clock limit: the judge SIGKILLs the program `timeoutS` (the paper's 20 s) after it starts, and the
//   whole process group is SIGKILLed here if the judge has not answered `KILL_GRACE_MS` after its own limits;
// - in the program process only: limits (setrlimit, hard and soft) on address space (`memoryMb`), file size,
//   core files and a process count (effective once the program no longer runs as root); no capabilities and
//   no_new_privs; the judge is non-dumpable, so even a program of the same uid cannot read its /proc files
//   (fd/3, mem) or ptrace it;
// - when `unshare` works: a new network namespace (no interface but a down loopback: no network), a new PID
//   namespace whose init is the judge, so every process the program forks dies with the run, and (where the
//   mount namespace works too) its own /proc, which shows only the run's processes;
// - when we are root: the program runs as `nobody` (uid/gid 65534), so it cannot write outside world-writable
//   places (its directory, /tmp, /dev/shm) nor read other users' files or processes' environments.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { PythonInfo } from './python';

/** After the judge's own limits (SETUP_LIMIT_S, then timeoutS), how long before the process group is killed. */
export const KILL_GRACE_MS = 3000;
/** How long the judge lets the program process start (interpreter, numpy, limits), not counted in timeoutS. */
const SETUP_LIMIT_S = 30;
const OUTPUT_CAP = 64 * 1024;
/** Only the judge writes the result (its fields are capped there); this only bounds a broken harness. */
const RESULT_CAP = 1024 * 1024;

export class EvalSetupError extends Error {}

/** exec_harness.py: next to the bundle (dist/, copied by the build) or in the checkout's src/eval/. */
export function harnessPath(): string {
  const beside = path.join(__dirname, 'exec_harness.py');
  if (fs.existsSync(beside)) return beside;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'src', 'eval', 'exec_harness.py');
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) throw new EvalSetupError(`exec_harness.py not found next to ${__dirname} or in a src/eval/ above it`);
  }
}

export interface Isolation {
  /** Command and arguments put before the interpreter (`unshare ...`), or none. */
  readonly prefix: readonly string[];
  /** Switch to this user and group before the program runs (only when we are root). */
  readonly dropTo?: { readonly uid: number; readonly gid: number };
  readonly networkIsolated: boolean;
  readonly pidNamespace: boolean;
  /** The program sees its own /proc (a mount namespace): only the run's processes. */
  readonly privateProc: boolean;
  /** One line per protection that is missing on this machine, and why. */
  readonly notes: readonly string[];
  /** One line: what the sandbox does here. */
  readonly description: string;
}

export interface SandboxOptions {
  readonly python: PythonInfo;
  readonly harness: string;
  readonly isolation: Isolation;
  /** The program's time limit (the paper's 20 s for MTPB). */
  readonly timeoutS: number;
  readonly memoryMb: number;
}

export type ExecRequest =
  | { readonly kind: 'mtpb'; readonly program: string; readonly goldJson: string }
  /** The program process gets `prompt + completion`; the judge runs the prompt's helpers and `test`, then
   *  `check(entry point)` with each call of the entry point made in the program process. */
  | { readonly kind: 'humaneval'; readonly prompt: string; readonly completion: string; readonly test: string; readonly entryPoint: string }
  /** The program as it is (the editor's, up to the insertion point): run for what it prints and where it raises. */
  | { readonly kind: 'script'; readonly program: string };

export interface ExecResult {
  readonly passed: boolean;
  /** Why it failed, or an exception the program raised after its last print (as the paper, still scored). */
  readonly error: string | null;
  /** repr() of the first argument of the last print call (MTPB). */
  readonly printed: string | null;
  /** What the program printed (its start). */
  readonly stdout: string;
  /** The judge's limit fired, or the process group had to be killed. */
  readonly timedOut: boolean;
  /** `script`: the program's line (1-based) where its exception was raised, if it raised one there. */
  readonly errorLine: number | null;
  readonly ms: number;
}

export interface RunHooks {
  /** The judge's process (or `unshare`'s, before it) has started: its pid, also its process group's id. */
  readonly onSpawn?: (pid: number) => void;
  /** Stops the run (its process group is killed): it resolves at once with the error "Cancelled". */
  readonly signal?: AbortSignal;
}

const NOBODY = { uid: 65534, gid: 65534 };

function cleanEnv(dir: string): NodeJS.ProcessEnv {
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: dir,
    TMPDIR: dir,
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    OMP_NUM_THREADS: '1',
    OPENBLAS_NUM_THREADS: '1',
    MKL_NUM_THREADS: '1',
    PYTHONHASHSEED: '0',
    MPLBACKEND: 'Agg',
  };
}

/** Runs one program in the sandbox. Never throws for anything the program does. */
export function runProgram(request: ExecRequest, options: SandboxOptions, hooks: RunHooks = {}): Promise<ExecResult> {
  const started = performance.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-mt-run-'));
  const { isolation } = options;
  if (isolation.dropTo) fs.chownSync(dir, isolation.dropTo.uid, isolation.dropTo.gid);
  const payload = JSON.stringify({
    kind: request.kind,
    ...(request.kind === 'mtpb'
      ? { program: request.program, gold_json: request.goldJson }
      : request.kind === 'script'
        ? { program: request.program }
        : { prompt: request.prompt, completion: request.completion, test: request.test, entry_point: request.entryPoint }),
    timeout_s: options.timeoutS,
    setup_s: SETUP_LIMIT_S,
    memory_bytes: Math.round(options.memoryMb * 1024 * 1024),
    max_processes: isolation.dropTo ? 256 : process.getuid?.() === 0 ? undefined : 4096,
    max_file_bytes: 64 * 1024 * 1024,
    drop_to: isolation.dropTo,
  });
  const argv = [...isolation.prefix, options.python.executable, '-I', '-B', options.harness, 'run'];
  return new Promise<ExecResult>((resolve) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd: dir,
      env: cleanEnv(dir),
      detached: true, // its own process group, killed as one
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    });
    if (child.pid !== undefined) hooks.onSpawn?.(child.pid);
    const chunks = { out: '', err: '', result: '' };
    const collect = (name: keyof typeof chunks) => (data: Buffer) => {
      if (chunks[name].length < (name === 'result' ? RESULT_CAP : OUTPUT_CAP)) chunks[name] += data.toString('utf8');
    };
    child.stdout!.on('data', collect('out'));
    child.stderr!.on('data', collect('err'));
    const resultPipe = child.stdio[3] as NodeJS.ReadableStream;
    resultPipe.on('data', collect('result'));
    child.stdin!.on('error', () => undefined); // the program may exit before reading it all
    child.stdin!.end(payload);

    let killed = false;
    const killGroup = (): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      killed = true;
      killGroup();
    }, (SETUP_LIMIT_S + options.timeoutS) * 1000 + KILL_GRACE_MS);
    let cancelled = false;
    const onAbort = (): void => {
      cancelled = true;
      finish();
    };
    if (hooks.signal?.aborted) queueMicrotask(onAbort);
    else hooks.signal?.addEventListener('abort', onAbort, { once: true });
    let settled = false;
    const finish = (spawnError?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(closeTimer);
      hooks.signal?.removeEventListener('abort', onAbort);
      killGroup();
      try {
        fs.rmSync(dir, { recursive: true, force: true });
      } catch {
        // a program of the same user can leave an undeletable tree; it is in the temporary folder
      }
      const ms = performance.now() - started;
      let parsed: Partial<ExecResult> | undefined;
      try {
        parsed = chunks.result ? (JSON.parse(chunks.result) as Partial<ExecResult>) : undefined;
      } catch {
        parsed = undefined;
      }
      if (cancelled) {
        resolve({ passed: false, error: 'Cancelled', printed: null, stdout: '', timedOut: false, errorLine: null, ms });
        return;
      }
      if (parsed && !killed) {
        resolve({
          passed: parsed.passed === true,
          error: typeof parsed.error === 'string' ? parsed.error : null,
          printed: typeof parsed.printed === 'string' ? parsed.printed : null,
          stdout: typeof parsed.stdout === 'string' ? parsed.stdout : '',
          timedOut: parsed.timedOut === true,
          errorLine: typeof parsed.errorLine === 'number' && Number.isInteger(parsed.errorLine) ? parsed.errorLine : null,
          ms,
        });
        return;
      }
      const why = spawnError
        ? `cannot start ${argv[0]}: ${spawnError.message}`
        : killed
          ? 'Timed out (killed)'
          : `no result (the process ended with ${exitDescription}${chunks.err ? `: ${lastLine(chunks.err)}` : ''})`;
      resolve({ passed: false, error: why, printed: null, stdout: chunks.out.slice(0, 2000), timedOut: killed, errorLine: null, ms });
    };
    let exitDescription = 'no status';
    let closeTimer: NodeJS.Timeout | undefined;
    child.on('error', (err) => finish(err));
    child.on('exit', (code, signal) => {
      exitDescription = signal ? `signal ${signal}` : `exit code ${code}`;
      // Whatever the program left behind in its group dies now; the pipes then close. A process that escaped
      // the group (possible only without a PID namespace) must not hold the run open.
      killGroup();
      closeTimer = setTimeout(() => finish(), 2000);
    });
    child.on('close', () => finish());
  });
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1].slice(0, 300);
}

const PROBE: ExecRequest = {
  kind: 'mtpb',
  program: 'import numpy as np\nimport pandas as pd\nimport json, re, math, collections, itertools\nint(pd.Series([np.int64(1)]).sum())',
  goldJson: '1',
};

function unshareWorks(args: readonly string[]): string | undefined {
  const run = spawnSync('unshare', [...args, 'true'], { encoding: 'utf8', timeout: 10_000 });
  if (run.error) return (run.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'unshare is not installed (util-linux)' : run.error.message;
  if (run.status !== 0) return (run.stderr || `exit ${run.status}`).trim().split('\n')[0];
  return undefined;
}

/**
 * Finds the strongest isolation that works here: namespaces through `unshare` (as root directly, otherwise in a
 * user namespace), a switch to `nobody` when root, and checks each candidate by running a program that imports
 * numpy and pandas under it.
 */
export async function detectIsolation(python: PythonInfo, harness: string): Promise<Isolation> {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const notes: string[] = [];
  const nsArgs = [...(isRoot ? [] : ['--user', '--map-root-user']), '--net', '--pid', '--fork', '--kill-child'];
  // --mount-proc: a mount namespace with a proc of the new PID namespace, so the program lists only its run.
  const procArgs = [...nsArgs, '--mount-proc'];
  let prefix: string[] = [];
  let privateProc = false;
  const failure = unshareWorks(nsArgs);
  if (failure === undefined) {
    const procFailure = unshareWorks(procArgs);
    privateProc = procFailure === undefined;
    prefix = ['unshare', ...(privateProc ? procArgs : nsArgs)];
    if (procFailure !== undefined) notes.push(`no private /proc (unshare ${procArgs.join(' ')}: ${procFailure}): programs can list the machine's processes and their command lines`);
  } else {
    notes.push(`no network or PID namespace (unshare ${nsArgs.join(' ')}: ${failure}): programs can reach the network, see the machine's processes, and a process that leaves its process group can outlive the run`);
  }

  const candidates: Array<{ dropTo?: { uid: number; gid: number } }> = isRoot ? [{ dropTo: NOBODY }, {}] : [{}];
  let lastError = '';
  for (const candidate of candidates) {
    const isolation: Isolation = {
      prefix,
      dropTo: candidate.dropTo,
      networkIsolated: prefix.length > 0,
      pidNamespace: prefix.length > 0,
      privateProc,
      notes,
      description: '',
    };
    const result = await runProgram(PROBE, { python, harness, isolation, timeoutS: 60, memoryMb: 2048 });
    if (result.passed) {
      const finalNotes = [...notes];
      if (isRoot && !candidate.dropTo) {
        finalNotes.push(`programs run as root (without capabilities): as "nobody" ${python.executable} could not import numpy and pandas (${lastError}); they can write every file root owns`);
      }
      if (!isRoot) finalNotes.push('not root: programs run as this user and can write wherever it can');
      return { ...isolation, notes: finalNotes, description: describeIsolation({ ...isolation, notes: finalNotes }) };
    }
    lastError = result.error ?? 'failed';
    if (prefix.length > 0 && candidate === candidates[candidates.length - 1]) {
      // The namespaces themselves may be what breaks Python here: one more try without them.
      const plain: Isolation = { ...isolation, prefix: [], networkIsolated: false, pidNamespace: false, privateProc: false };
      const retry = await runProgram(PROBE, { python, harness, isolation: plain, timeoutS: 60, memoryMb: 2048 });
      if (retry.passed) {
        const finalNotes = [...notes, `namespaces disabled: Python failed under unshare (${lastError})`];
        return { ...plain, notes: finalNotes, description: describeIsolation({ ...plain, notes: finalNotes }) };
      }
    }
  }
  throw new EvalSetupError(`${python.executable} cannot run a numpy/pandas program in the sandbox: ${lastError}`);
}

function describeIsolation(isolation: Isolation): string {
  const parts = ['program apart from its judge', 'clean environment', 'fresh temporary directory', 'time and memory limits'];
  if (isolation.networkIsolated) parts.push('no network (network namespace)');
  if (isolation.pidNamespace) parts.push('PID namespace');
  if (isolation.privateProc) parts.push('own /proc');
  if (isolation.dropTo) parts.push(`runs as uid ${isolation.dropTo.uid}`);
  return parts.join(', ');
}

/** A small pool: at most `size` programs at once, the rest wait their turn. */
export class ExecutorPool {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly options: SandboxOptions,
    readonly size: number,
  ) {}

  get busy(): number {
    return this.running + this.waiting.length;
  }

  async run(request: ExecRequest): Promise<ExecResult> {
    // A finishing run hands its slot straight to the next waiting one, so `running` never exceeds `size`.
    if (this.running >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await runProgram(request, this.options);
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

export function defaultWorkers(): number {
  return Math.max(1, Math.min(4, os.availableParallelism() - 1));
}
