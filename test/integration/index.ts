// The integration suite's runner, loaded by the extension host (code-server through runInCodeServer.mjs, or
// desktop VS Code through scripts/test-electron.mjs): `run()` runs every `*.test.js` next to this file with
// Mocha (TDD interface, in name order) and resolves when all pass. Mocha's own report goes to the console (the
// launchers print the extension host's console). With CODEGEN_MT_TEST_RESULTS set, it also writes a summary
// there: `{ passed, failed, pending, durationMs, failures: [{ title, error }] }`.
// CODEGEN_MT_TEST_GREP runs only the tests whose full title matches (a regular expression);
// CODEGEN_MT_TEST_LOG_TAG starts each line of Mocha's report (so a launcher can pick it out of a mixed log).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { format } from 'node:util';
import Mocha from 'mocha';
import * as vscode from 'vscode';

export interface TestSummary {
  readonly passed: number;
  readonly failed: number;
  readonly pending: number;
  readonly durationMs: number;
  readonly failures: readonly { readonly title: string; readonly error: string }[];
}

export async function run(): Promise<void> {
  // Mocha's reporters call console.log with format strings; VS Code forwards the arguments unformatted.
  const tag = process.env.CODEGEN_MT_TEST_LOG_TAG ?? '';
  const base = Mocha.reporters.Base as unknown as { consoleLog: (...args: unknown[]) => void };
  base.consoleLog = (...args: unknown[]) => {
    for (const line of format(...args).split('\n')) console.log(tag + line);
  };
  // Runs of the program after each accept would ask for consent in a modal dialog nobody answers here: off,
  // except in the suite that tests them (programRun.test.ts turns them on).
  await vscode.workspace.getConfiguration('codegenMt').update('run.afterAccept', false, vscode.ConfigurationTarget.Global);
  const mocha = new Mocha({ ui: 'tdd', timeout: 30_000, color: false, reporter: 'spec' });
  const grep = process.env.CODEGEN_MT_TEST_GREP;
  if (grep) mocha.grep(new RegExp(grep));
  const files = fs.readdirSync(__dirname).filter((f) => f.endsWith('.test.js')).sort();
  for (const file of files) mocha.addFile(path.join(__dirname, file));

  const started = Date.now();
  let passed = 0;
  let pending = 0;
  const failures: { title: string; error: string }[] = [];
  await new Promise<void>((resolve, reject) => {
    try {
      const runner = mocha.run(() => resolve());
      runner.on('pass', () => passed++);
      runner.on('pending', () => pending++);
      runner.on('fail', (test, err: unknown) => {
        failures.push({ title: test.fullTitle(), error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      });
    } catch (err) {
      reject(err);
    }
  });
  const summary: TestSummary = { passed, failed: failures.length, pending, durationMs: Date.now() - started, failures };
  const out = process.env.CODEGEN_MT_TEST_RESULTS;
  if (out) {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(out, JSON.stringify(summary, null, 2) + '\n');
  }
  if (files.length === 0) throw new Error(`No *.test.js files in ${__dirname}: run tsc -p . first.`);
  if (failures.length > 0) throw new Error(`${failures.length} of ${passed + failures.length} integration tests failed.`);
}
