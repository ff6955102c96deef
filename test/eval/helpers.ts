// Shared by the eval tests: an interpreter with numpy and pandas (found as users' is), and the sandbox it allows here.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findPython, type PythonInfo } from '../../src/eval/python';
import { detectIsolation, harnessPath, type Isolation, type SandboxOptions } from '../../src/eval/sandbox';

export const ROOT = path.join(__dirname, '..', '..', '..');
export const FIXTURES = path.join(ROOT, 'test', 'eval', 'fixtures');

/** The interpreter users get (findPython), or CODEGEN_MT_PYTHON when set; undefined when there is none. */
function testPython(): PythonInfo | undefined {
  try {
    return findPython(process.env.CODEGEN_MT_PYTHON);
  } catch {
    return undefined;
  }
}

export const PYTHON = testPython();
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
