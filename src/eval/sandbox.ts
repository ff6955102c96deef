// Runs untrusted (model-written) Python programs, one process each, through src/eval/exec_harness.py.
//
// What a run gets (the strongest the machine allows, found by probing once at start, see detectIsolation):
// - its own Python process, started with `-I -B` (no PYTHON* variables, no user site-packages) and a clean
//   environment (PATH=/usr/bin:/bin, HOME and TMPDIR = its directory, one BLAS/OpenMP thread, LANG=C.UTF-8);
// - a fresh temporary working directory, deleted afterwards;
// - a wall-clock limit: the harness raises after `timeoutS` (the paper's 20 s), and the whole process group is
//   SIGKILLed `KILL_GRACE_MS` later whatever the program does;
// - limits (setrlimit, hard and soft): address space (`memoryMb`), file size, no core files, and a process
//   count (effective once the program no longer runs as root);
// - when `unshare` works: a new network namespace (no interface but a down loopback: no network) and a new PID
//   namespace whose init is the harness, so every process the program forks dies with it;
// - when we are root: the program runs as `nobody` (uid/gid 65534), so it cannot write outside world-writable
//   places (its directory, /tmp, /dev/shm) nor read other users' files or processes' environments.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** After the harness's own time limit, how long before the process group is killed. */
export const KILL_GRACE_MS = 3000;
const OUTPUT_CAP = 64 * 1024;

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

/** The data files of shared/data (the repository's sibling `../shared` in CI), searched upwards from here. */
export function sharedDataFile(name: string): string | undefined {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'shared', 'data', name);
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}

export interface PythonInfo {
  /** What the user named (`python3`, a path). */
  readonly requested: string;
  /** sys.executable: the interpreter the sandbox runs (a pyenv shim resolved to its real binary). */
  readonly executable: string;
  readonly version: string;
}

/** Checks that `python` runs and has numpy and pandas; a clear error naming what is missing. */
export function checkPython(python: string, harness = harnessPath()): PythonInfo {
  const run = spawnSync(python, [harness, 'check'], { encoding: 'utf8', timeout: 60_000 });
  if (run.error) {
    const code = (run.error as NodeJS.ErrnoException).code;
    throw new EvalSetupError(
      code === 'ENOENT' ? `Python not found: "${python}" (give an interpreter with --python PATH)` : `cannot run Python "${python}": ${run.error.message}`,
    );
  }
  let info: { python: string; executable: string; missing: string[] };
  try {
    info = JSON.parse(run.stdout.trim().split('\n').pop() ?? '');
  } catch {
    throw new EvalSetupError(`"${python}" did not run the harness (exit ${run.status}): ${(run.stderr || run.stdout).trim().slice(0, 500)}`);
  }
  if (info.missing.length > 0) {
    throw new EvalSetupError(
      `${python} (${info.executable}, Python ${info.python}) has no ${info.missing.join(' and no ')}: the benchmark programs need numpy and pandas. ` +
        `Install them (Debian/Ubuntu: apt-get install python3-numpy python3-pandas) or pass --python PATH of an interpreter that has them.`,
    );
  }
  return { requested: python, executable: info.executable || python, version: info.python };
}

export interface Isolation {
  /** Command and arguments put before the interpreter (`unshare ...`), or none. */
  readonly prefix: readonly string[];
  /** Switch to this user and group before the program runs (only when we are root). */
  readonly dropTo?: { readonly uid: number; readonly gid: number };
  readonly networkIsolated: boolean;
  readonly pidNamespace: boolean;
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
  | { readonly kind: 'humaneval'; readonly program: string };

export interface ExecResult {
  readonly passed: boolean;
  /** Why it failed, or an exception the program raised after its last print (as the paper, still scored). */
  readonly error: string | null;
  /** repr() of the first argument of the last print call (MTPB). */
  readonly printed: string | null;
  /** What the program printed (its start). */
  readonly stdout: string;
  /** The harness's limit fired, or the process group had to be killed. */
  readonly timedOut: boolean;
  readonly ms: number;
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
export function runProgram(request: ExecRequest, options: SandboxOptions): Promise<ExecResult> {
  const started = performance.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-mt-run-'));
  const { isolation } = options;
  if (isolation.dropTo) fs.chownSync(dir, isolation.dropTo.uid, isolation.dropTo.gid);
  const payload = JSON.stringify({
    kind: request.kind,
    program: request.program,
    gold_json: request.kind === 'mtpb' ? request.goldJson : undefined,
    timeout_s: options.timeoutS,
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
    const chunks = { out: '', err: '', result: '' };
    const collect = (name: keyof typeof chunks) => (data: Buffer) => {
      if (chunks[name].length < OUTPUT_CAP) chunks[name] += data.toString('utf8');
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
    }, options.timeoutS * 1000 + KILL_GRACE_MS);
    let settled = false;
    const finish = (spawnError?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(closeTimer);
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
      if (parsed && !killed) {
        resolve({
          passed: parsed.passed === true,
          error: typeof parsed.error === 'string' ? parsed.error : null,
          printed: typeof parsed.printed === 'string' ? parsed.printed : null,
          stdout: typeof parsed.stdout === 'string' ? parsed.stdout : '',
          timedOut: parsed.error === 'Timed out',
          ms,
        });
        return;
      }
      const why = spawnError
        ? `cannot start ${argv[0]}: ${spawnError.message}`
        : killed
          ? 'Timed out (killed)'
          : `no result (the process ended with ${exitDescription}${chunks.err ? `: ${lastLine(chunks.err)}` : ''})`;
      resolve({ passed: false, error: why, printed: null, stdout: chunks.out.slice(0, 2000), timedOut: killed, ms });
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
  const nsArgs = ['--net', '--pid', '--fork', '--kill-child'];
  let prefix: string[] = [];
  const rootless = ['--user', '--map-root-user', ...nsArgs];
  const failure = unshareWorks(isRoot ? nsArgs : rootless);
  if (failure === undefined) prefix = ['unshare', ...(isRoot ? nsArgs : rootless)];
  else notes.push(`no network or PID namespace (unshare ${isRoot ? nsArgs.join(' ') : rootless.join(' ')}: ${failure}): programs can reach the network, and a process that leaves its process group can outlive the run`);

  const candidates: Array<{ dropTo?: { uid: number; gid: number } }> = isRoot ? [{ dropTo: NOBODY }, {}] : [{}];
  let lastError = '';
  for (const candidate of candidates) {
    const isolation: Isolation = {
      prefix,
      dropTo: candidate.dropTo,
      networkIsolated: prefix.length > 0,
      pidNamespace: prefix.length > 0,
      notes,
      description: '',
    };
    const result = await runProgram(PROBE, { python, harness, isolation, timeoutS: 60, memoryMb: 2048 });
    if (result.passed) {
      const finalNotes = [...notes];
      if (isRoot && !candidate.dropTo) {
        finalNotes.push(`programs run as root: as "nobody" ${python.executable} could not import numpy and pandas (${lastError}); they can write wherever root can`);
      }
      if (!isRoot) finalNotes.push('not root: programs run as this user and can write wherever it can');
      return { ...isolation, notes: finalNotes, description: describeIsolation({ ...isolation, notes: finalNotes }) };
    }
    lastError = result.error ?? 'failed';
    if (prefix.length > 0 && candidate === candidates[candidates.length - 1]) {
      // The namespaces themselves may be what breaks Python here: one more try without them.
      const plain: Isolation = { ...isolation, prefix: [], networkIsolated: false, pidNamespace: false };
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
  const parts = ['one process per program', 'clean environment', 'fresh temporary directory', 'time and memory limits'];
  if (isolation.networkIsolated) parts.push('no network (network namespace)');
  if (isolation.pidNamespace) parts.push('PID namespace');
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
