// Finding the Python that runs benchmark (and, later, user) programs: the one place that decides, used by the CLI
// (`--python`), the extension (`codegenMt.python`) and the tests.
//
// Given an interpreter, that one is checked and nothing else is tried (a user who names one means it). Given none,
// the first of PYTHON_CANDIDATES that has numpy and pandas wins: on many machines the first `python3` on PATH is a
// pyenv or venv Python without pandas while the system's /usr/bin/python3 has both.
import { spawnSync } from 'node:child_process';
import { EvalSetupError, harnessPath } from './sandbox';

export const PYTHON_CANDIDATES: readonly string[] = ['python3', '/usr/bin/python3', 'python'];
export const REQUIRED_MODULES: readonly string[] = ['numpy', 'pandas'];
const INSTALL_HINT = 'Debian/Ubuntu: apt-get install python3-numpy python3-pandas; elsewhere: pip install numpy pandas';

export interface PythonInfo {
  /** What the user named, or the candidate that was found (`python3`, a path). */
  readonly requested: string;
  /** sys.executable: the interpreter the sandbox runs (a pyenv shim resolved to its real binary). */
  readonly executable: string;
  readonly version: string;
}

/** One interpreter's check: usable, or what it lacks (one phrase, for a list of what was tried). */
export type PythonProbe = { readonly ok: true; readonly info: PythonInfo } | { readonly ok: false; readonly problem: string };

export function probePython(python: string, harness = harnessPath()): PythonProbe {
  const run = spawnSync(python, ['-B', harness, 'check'], { encoding: 'utf8', timeout: 60_000 });
  if (run.error) {
    const code = (run.error as NodeJS.ErrnoException).code;
    return { ok: false, problem: code === 'ENOENT' ? 'not found' : `cannot run (${run.error.message})` };
  }
  let found: { python: string; executable: string; missing: string[] };
  try {
    found = JSON.parse(run.stdout.trim().split('\n').pop() ?? '');
  } catch {
    const said = (run.stderr || run.stdout).trim().split('\n').pop()?.slice(0, 200);
    return { ok: false, problem: `did not run the check (exit ${run.status}${said ? `: ${said}` : ''})` };
  }
  const info: PythonInfo = { requested: python, executable: found.executable || python, version: found.python };
  if (found.missing.length > 0) return { ok: false, problem: `${info.executable}, Python ${info.version}, has no ${found.missing.join(' and no ')}` };
  return { ok: true, info };
}

/**
 * The interpreter to use: `requested` if given (checked; an error if it lacks numpy or pandas), else the first of
 * PYTHON_CANDIDATES that has them. The error lists every interpreter tried and what each lacked, then what to do.
 */
export function findPython(requested?: string, { harness = harnessPath(), candidates: defaults = PYTHON_CANDIDATES }: { harness?: string; candidates?: readonly string[] } = {}): PythonInfo {
  const given = requested?.trim();
  const candidates = given ? [given] : defaults;
  const problems: string[] = [];
  for (const candidate of candidates) {
    const probe = probePython(candidate, harness);
    if (probe.ok) return probe.info;
    problems.push(probe.problem);
  }
  const what = `the benchmark programs need Python with ${REQUIRED_MODULES.join(' and ')}`;
  if (given) {
    throw new EvalSetupError(`Python "${given}" cannot be used (${problems[0]}): ${what}. Install them (${INSTALL_HINT}) or give another interpreter (--python PATH; in VS Code the setting codegenMt.python).`);
  }
  throw new EvalSetupError(`no Python with ${REQUIRED_MODULES.join(' and ')} found (tried ${candidates.map((c, i) => `${c}: ${problems[i]}`).join('; ')}): ${what}. Install them (${INSTALL_HINT}) or give an interpreter (--python PATH; in VS Code the setting codegenMt.python).`);
}
