#!/usr/bin/env node
// Runs extension test modules in a real VS Code (code-server's extension host, driven by headless Chromium), with
// this repository loaded as the development extension. Each module exports `run(): Promise<void>` (as for
// @vscode/test-electron; a Mocha runner works). Exit code 0 when every module passed.
//
//   node test/e2e/runExtensionTests.mjs [MODULE ...]      default: test/e2e/sampleSuite.cjs
// Logs: .test-cache/e2e-tests/<module name>/ (code-server.log, automation.log: what VS Code forwarded).
import * as path from 'node:path';
import { repoRoot, runExtensionTests } from './codeServer.mjs';

const modules = process.argv.slice(2);
if (!modules.length) modules.push(path.join(repoRoot, 'test', 'e2e', 'sampleSuite.cjs'));
let failed = 0;
for (const module of modules) {
  const name = path.basename(module).replace(/\.[cm]?js$/, '');
  const dir = path.join(repoRoot, '.test-cache', 'e2e-tests', name);
  const started = Date.now();
  try {
    const { code } = await runExtensionTests({
      extensionTestsPath: path.resolve(module),
      dir,
      // VS Code forwards the workbench's whole log too; show the extension host's console and errors.
      onLog: (line) => {
        if (!/^\[(trace|debug)\]/.test(line) && !/ENOTFOUND|open-vsx|Canceled/.test(line) && !/^\[info\] (Resolv|Creating|\[|Updating)/.test(line)) process.stdout.write(`  ${line}\n`);
      },
    });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    process.stdout.write(`${code === 0 ? 'PASS' : 'FAIL'} ${path.relative(repoRoot, path.resolve(module))} (exit code ${code}, ${seconds} s; logs in ${path.relative(repoRoot, dir)})\n`);
    if (code !== 0) failed++;
  } catch (error) {
    failed++;
    process.stdout.write(`FAIL ${module}: ${error.message}\n`);
  }
}
process.exit(failed ? 1 : 0);
