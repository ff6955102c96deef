#!/usr/bin/env node
// Runs the integration suite (out/test/integration/index.js, compiled by `tsc -p .`) in code-server's real
// extension host, with this repository (dist/, built by scripts/build.mjs) as the development extension, on a
// fresh temporary workspace holding `example.py`. Prints Mocha's report and "N passed, N failed"; exit code 0
// when every test passed, 1 otherwise. On a failure it also prints the extension host's console and where
// code-server's log is. The tools come from scripts/vscode-env.mjs (installed on first use).
//
//   npm run test:integration                       build, compile, run
//   node test/integration/runInCodeServer.mjs      run what is built
// Env: CODEGEN_MT_TEST_RESULTS (summary JSON path; default .test-cache/integration/results.json),
//      CODEGEN_MT_TEST_GREP (only tests whose full title matches), CODEGEN_MT_TEST_VERBOSE=1 (all console lines).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EXAMPLE_PY, ensureWorkspace, repoRoot, runExtensionTests } from '../e2e/codeServer.mjs';

const dir = path.join(repoRoot, '.test-cache', 'integration');
const testsPath = path.join(repoRoot, 'out', 'test', 'integration', 'index.js');
const results = path.resolve(process.env.CODEGEN_MT_TEST_RESULTS || path.join(dir, 'results.json'));
const verbose = process.env.CODEGEN_MT_TEST_VERBOSE === '1';

for (const [file, how] of [
  [path.join(repoRoot, 'dist', 'extension.js'), 'node scripts/build.mjs'],
  [testsPath, 'npx tsc -p .'],
]) {
  if (!fs.existsSync(file)) {
    process.stderr.write(`${path.relative(repoRoot, file)} is missing: run \`${how}\` first (npm run test:integration does both).\n`);
    process.exit(1);
  }
}

fs.mkdirSync(dir, { recursive: true });
fs.rmSync(results, { force: true });
const workspace = ensureWorkspace(fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-mt-it-')), { 'example.py': EXAMPLE_PY });
const started = Date.now();

// What VS Code forwards is the extension host's console plus the workbench's own log. Mocha's report is picked
// out by its tag (index.ts puts it in front of each line); the rest is kept for a failure.
const TAG = '[codegen-mt-it] ';
const consoleLines = [];
const isNoise = (line) => /^\[(trace|debug)\]/.test(line) || /ENOTFOUND|open-vsx|vsda|Canceled/.test(line);
let outcome;
try {
  outcome = await runExtensionTests({
    extensionTestsPath: testsPath,
    extensionDevelopmentPath: repoRoot,
    workspace,
    dir,
    timeoutMs: 150_000,
    env: {
      CODEGEN_MT_TEST_RESULTS: results,
      CODEGEN_MT_TEST_LOG_TAG: TAG,
      ...(process.env.CODEGEN_MT_TEST_GREP ? { CODEGEN_MT_TEST_GREP: process.env.CODEGEN_MT_TEST_GREP } : {}),
    },
    onLog: (line) => {
      consoleLines.push(line);
      const at = line.indexOf(TAG);
      if (at >= 0) process.stdout.write(`${line.slice(at + TAG.length)}\n`);
      else if (verbose && !isNoise(line)) process.stdout.write(`${line}\n`);
    },
  });
} catch (error) {
  outcome = { error };
}
const seconds = ((Date.now() - started) / 1000).toFixed(1);

let summary;
try {
  summary = JSON.parse(fs.readFileSync(results, 'utf8'));
} catch {
  summary = undefined;
}
const ok = !outcome.error && outcome.code === 0 && summary && summary.failed === 0 && summary.passed > 0;
if (summary) {
  process.stdout.write(`\nintegration (code-server): ${summary.passed} passed, ${summary.failed} failed${summary.pending ? `, ${summary.pending} pending` : ''} in ${seconds} s\n`);
  for (const f of summary.failures) process.stdout.write(`  FAILED ${f.title}\n    ${f.error.split('\n').slice(0, 4).join('\n    ')}\n`);
  if (summary.passed + summary.failed === 0) process.stdout.write(`  no test ran${process.env.CODEGEN_MT_TEST_GREP ? ` (CODEGEN_MT_TEST_GREP=${process.env.CODEGEN_MT_TEST_GREP})` : ''}\n`);
} else {
  process.stdout.write(`\nintegration (code-server): no results (${results} was not written) after ${seconds} s\n`);
}
if (!ok) {
  if (outcome.error) process.stdout.write(`error: ${outcome.error.message}\n`);
  else if (outcome.code !== 0) process.stdout.write(`the extension host reported exit code ${outcome.code}\n`);
  if (!verbose) {
    process.stdout.write('\n--- the extension host console (without trace/debug lines) ---\n');
    for (const line of consoleLines) if (!isNoise(line) && !line.includes(TAG)) process.stdout.write(`${line}\n`);
  }
  // The logs go where the overall runner (scripts/run-tests.mjs) keeps failed VS Code tests' diagnostics.
  const failures = path.join(repoRoot, '.test-cache', 'failures', 'integration');
  fs.rmSync(failures, { recursive: true, force: true });
  fs.mkdirSync(failures, { recursive: true });
  for (const file of ['code-server.log', 'automation.log']) {
    if (fs.existsSync(path.join(dir, file))) fs.copyFileSync(path.join(dir, file), path.join(failures, file));
  }
  if (fs.existsSync(results)) fs.copyFileSync(results, path.join(failures, 'results.json'));
  // The extension's own log (its LogOutputChannel "CodeGen") and the extension host's log, from code-server's logs.
  const logs = path.join(dir, 'user-data', 'logs');
  const extensionLogs = fs.existsSync(logs)
    ? fs.readdirSync(logs, { recursive: true }).filter((f) => /codegen-mt\.codegen-mt[\\/].*\.log$|remoteexthost\.log$/.test(f))
    : [];
  for (const file of extensionLogs) fs.copyFileSync(path.join(logs, file), path.join(failures, path.basename(file)));
  process.stdout.write(
    `\ncode-server log: ${path.join(failures, 'code-server.log')}\nforwarded console: ${path.join(failures, 'automation.log')}\n` +
      `extension logs: ${extensionLogs.length ? extensionLogs.map((f) => path.join(failures, path.basename(f))).join(', ') : '(none)'}\nworkspace (kept): ${workspace}\n`,
  );
} else {
  fs.rmSync(workspace, { recursive: true, force: true });
}
process.exit(ok ? 0 : 1);
