#!/usr/bin/env node
// Runs the integration suite (out/test/integration/index.js) in desktop VS Code through @vscode/test-electron:
// the same suite test/integration/runInCodeServer.mjs runs in code-server. It is for machines that can download
// VS Code from Microsoft's update server (update.code.visualstudio.com), or that have VS Code installed: these
// project machines reach only the npm registry, so here it stops at the download with a clear message (use
// `npm run test:integration`, the code-server launcher, instead). On headless Linux run it under `xvfb-run -a`.
//
//   npm run test:electron                          build, compile, download VS Code (cached), run
//   node scripts/test-electron.mjs                 run what is built
// Env: CODEGEN_MT_VSCODE_EXECUTABLE (a VS Code to use instead of downloading one), CODEGEN_MT_VSCODE_VERSION
//      (what to download: `stable` (default), `insiders` or a version such as 1.90.0),
//      CODEGEN_MT_TEST_RESULTS (summary JSON; default .test-cache/integration-electron/results.json),
//      CODEGEN_MT_TEST_GREP (only tests whose full title matches).
// Exit code 0 when every test passed, 1 otherwise.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { downloadAndUnzipVSCode, runTests, SilentReporter } from '@vscode/test-electron';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(repoRoot, '.test-cache', 'integration-electron');
const testsPath = path.join(repoRoot, 'out', 'test', 'integration', 'index.js');
const results = path.resolve(process.env.CODEGEN_MT_TEST_RESULTS || path.join(dir, 'results.json'));
const DOWNLOAD_IDLE_TIMEOUT_MS = 15_000;
const DOWNLOAD_TOTAL_TIMEOUT_MS = 10 * 60_000;

const EXAMPLE_PY = '# Import libraries.\n\nimport numpy as np\n\n# Define a function that returns the mean of a list of numbers.\n';

function fail(message) {
  process.stderr.write(`test-electron: ${message}\n`);
  process.exit(1);
}

for (const [file, how] of [
  [path.join(repoRoot, 'dist', 'extension.js'), 'node scripts/build.mjs'],
  [testsPath, 'npx tsc -p .'],
]) {
  if (!fs.existsSync(file)) fail(`${path.relative(repoRoot, file)} is missing: run \`${how}\` first (npm run test:electron does both).`);
}

let vscodeExecutablePath = process.env.CODEGEN_MT_VSCODE_EXECUTABLE;
if (!vscodeExecutablePath) {
  const version = process.env.CODEGEN_MT_VSCODE_VERSION || 'stable';
  const cachePath = path.join(repoRoot, '.test-cache', 'vscode-test');
  process.stdout.write(`test-electron: getting VS Code ${version} (cached in ${path.relative(repoRoot, cachePath)})...\n`);
  let timer;
  try {
    vscodeExecutablePath = await Promise.race([
      downloadAndUnzipVSCode({ version, cachePath, timeout: DOWNLOAD_IDLE_TIMEOUT_MS, extensionDevelopmentPath: repoRoot, reporter: new SilentReporter() }),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no VS Code after ${DOWNLOAD_TOTAL_TIMEOUT_MS / 60_000} minutes`)), DOWNLOAD_TOTAL_TIMEOUT_MS);
        timer.unref();
      }),
    ]);
  } catch (error) {
    fail(
      `cannot download VS Code ${version} from update.code.visualstudio.com: ${error?.message ?? error}\n` +
        '  This launcher is for machines that can download VS Code (or set CODEGEN_MT_VSCODE_EXECUTABLE to an installed one).\n' +
        '  Where only the npm registry is reachable, run the same suite in code-server: npm run test:integration',
    );
  } finally {
    clearTimeout(timer);
  }
}

for (const folder of ['user-data', 'extensions']) fs.rmSync(path.join(dir, folder), { recursive: true, force: true });
fs.mkdirSync(dir, { recursive: true });
fs.rmSync(results, { force: true });
const workspace = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-mt-it-electron-'));
fs.writeFileSync(path.join(workspace, 'example.py'), EXAMPLE_PY);
const started = Date.now();
let runError;
try {
  await runTests({
    vscodeExecutablePath,
    extensionDevelopmentPath: repoRoot,
    extensionTestsPath: testsPath,
    extensionTestsEnv: {
      CODEGEN_MT_TEST_RESULTS: results,
      ...(process.env.CODEGEN_MT_TEST_GREP ? { CODEGEN_MT_TEST_GREP: process.env.CODEGEN_MT_TEST_GREP } : {}),
    },
    // Fresh profile folders each run (the suite writes user settings and restores them; sessions live in the
    // temporary workspace's storage).
    launchArgs: [
      workspace,
      '--disable-extensions',
      '--disable-workspace-trust',
      '--skip-welcome',
      '--skip-release-notes',
      `--user-data-dir=${path.join(dir, 'user-data')}`,
      `--extensions-dir=${path.join(dir, 'extensions')}`,
    ],
  });
} catch (error) {
  runError = error;
}
const seconds = ((Date.now() - started) / 1000).toFixed(1);
let summary;
try {
  summary = JSON.parse(fs.readFileSync(results, 'utf8'));
} catch {
  summary = undefined;
}
if (summary) {
  process.stdout.write(`\nintegration (VS Code desktop): ${summary.passed} passed, ${summary.failed} failed in ${seconds} s\n`);
  for (const f of summary.failures) process.stdout.write(`  FAILED ${f.title}\n    ${f.error.split('\n').slice(0, 4).join('\n    ')}\n`);
} else {
  process.stdout.write(`\nintegration (VS Code desktop): no results (${results} was not written) after ${seconds} s\n`);
}
if (runError) process.stdout.write(`VS Code: ${runError.message}\nworkspace: ${workspace}\n`);
const ok = !runError && summary && summary.failed === 0 && summary.passed > 0;
if (ok) fs.rmSync(workspace, { recursive: true, force: true });
process.exit(ok ? 0 : 1);
