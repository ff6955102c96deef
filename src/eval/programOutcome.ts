// A run of the program so far (the sandbox's `script` kind) as the turn flow and the CLI show it: ran, raised
// (with its line, and what to do about a module the Python lacks), timed out, or could not run.
import type { ProgramOutcome } from '../session/ports';
import type { ExecResult, SandboxOptions } from './sandbox';

/** A sandbox result as the flow shows it: ran, raised (with its line and what to do about a missing module), timed out. */
export function outcomeOf(result: ExecResult, options: Pick<SandboxOptions, 'python' | 'timeoutS'>): ProgramOutcome {
  if (result.timedOut) return { status: 'timed-out', output: result.stdout, error: `Stopped after ${options.timeoutS} s.` };
  if (result.error === null) return { status: 'ran', output: result.stdout };
  if (/^(sandbox setup failed|cannot start|no result)/.test(result.error)) return { status: 'not-run', error: `Not run: ${result.error}` };
  const missing = /^ModuleNotFoundError: No module named '([^'.]+)/.exec(result.error);
  const error = missing
    ? `${result.error}. Install ${missing[1]} for ${options.python.executable} (e.g. pip install ${missing[1]}) or choose another Python (--python PATH; in VS Code codegenMt.python).`
    : result.error;
  return { status: 'raised', output: result.stdout, error, ...(result.errorLine !== null ? { line: result.errorLine } : {}) };
}

