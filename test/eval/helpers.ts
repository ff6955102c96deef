// Shared by the eval tests: an interpreter with numpy and pandas, the shared data, and the sandbox it allows here.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkPython, detectIsolation, harnessPath, type Isolation, type PythonInfo, type SandboxOptions } from '../../src/eval/sandbox';

export const ROOT = path.join(__dirname, '..', '..', '..');
export const FIXTURES = path.join(ROOT, 'test', 'eval', 'fixtures');

/** CODEGEN_MT_PYTHON, else the first of python3 and /usr/bin/python3 that has numpy and pandas. */
function findPython(): PythonInfo | undefined {
  const candidates = [process.env.CODEGEN_MT_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  for (const candidate of candidates) {
    try {
      return checkPython(candidate);
    } catch {
      // next
    }
  }
  return undefined;
}

export const PYTHON = findPython();
/** Why the Python-dependent tests are skipped, or false. */
export const NO_PYTHON: string | false = PYTHON ? false : 'no python3 with numpy and pandas (apt-get install python3-numpy python3-pandas)';

let isolation: Promise<Isolation> | undefined;
export async function sandboxOptions(overrides: Partial<SandboxOptions> = {}): Promise<SandboxOptions> {
  isolation ??= detectIsolation(PYTHON!, harnessPath());
  return { python: PYTHON!, harness: harnessPath(), isolation: await isolation, timeoutS: 10, memoryMb: 1024, ...overrides };
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
