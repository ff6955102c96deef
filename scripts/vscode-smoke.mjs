#!/usr/bin/env node
// A quick check that the extension loads in a real VS Code: starts code-server with the extension installed as a
// link to this checkout (as `npm start` does), opens it in headless Chromium, screenshots the workbench, opens the
// CodeGen view and screenshots its webview, then runs test/e2e/sampleSuite.cjs (or --tests FILE) in the real
// extension host, with the extension loaded as a development extension.
// Everything goes to .test-cache/smoke/ (workbench.png, panel.png, code-server.log, browser-console.log).
//
//   node scripts/vscode-smoke.mjs [--no-build] [--no-tests] [--tests FILE] [--generate] [--headed] [--strict] [--url URL]
// --generate: also submit one prompt in the panel and wait for the turn (turn.png): the engine, end to end.
// --url: check an already running VS Code (such as the address `npm start` printed) instead of starting one.
// Exit code 0 when the workbench rendered (and the extension tests, if run, passed); the CodeGen item and its
// webview are reported, and fail the check only with --strict.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  activityBarItem,
  buildExtension,
  ensureVsCodeEnv,
  ensureWorkspace,
  launchChromium,
  openWorkbench,
  repoRoot,
  runExtensionTests,
  startCodeServer,
  webviewFrame,
} from '../test/e2e/codeServer.mjs';

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const option = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const urlArg = option('--url');
const testsIndex = argv.indexOf('--tests');
const testsPath = testsIndex >= 0 ? path.resolve(argv[testsIndex + 1]) : path.join(repoRoot, 'test', 'e2e', 'sampleSuite.cjs');
const outDir = path.join(repoRoot, '.test-cache', 'smoke');
const say = (message) => process.stdout.write(`[smoke] ${message}\n`);
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

const findings = { workbench: false, activityBarItem: false, webview: false, extensionTests: 'not run' };
let server;
let browser;
let failed = false;
// Ctrl-C: exit, which ends code-server's process group (see startCodeServer); playwright closes Chromium itself.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

try {
  if (!flag('--no-build')) {
    say('building the extension: node scripts/build.mjs');
    buildExtension();
  }
  const bundle = path.join(repoRoot, 'dist', 'extension.js');
  say(`extension bundle ${path.relative(repoRoot, bundle)}: ${fs.existsSync(bundle) ? 'present' : 'MISSING (the extension cannot activate)'}`);

  const vsEnv = await ensureVsCodeEnv();
  for (const name of ['user-data', 'extensions', 'workbench.png', 'panel.png', 'turn.png']) fs.rmSync(path.join(outDir, name), { recursive: true, force: true });
  const workspace = ensureWorkspace(path.join(outDir, 'workspace'));

  const t0 = Date.now();
  let pageUrl = urlArg;
  if (pageUrl) {
    say(`using the running VS Code at ${pageUrl}`);
  } else {
    server = await startCodeServer({
      vsEnv,
      port: 0,
      workspace,
      userDataDir: path.join(outDir, 'user-data'),
      extensionsDir: path.join(outDir, 'extensions'),
      installExtension: repoRoot,
      logFile: path.join(outDir, 'code-server.log'),
    });
    pageUrl = server.url;
    say(`code-server up on ${server.baseUrl} (/healthz after ${seconds(Date.now() - t0)})`);
  }
  const tHealthy = Date.now();

  browser = await launchChromium({ vsEnv, headless: !flag('--headed') });
  const consoleLines = [];
  const { page } = await openWorkbench(browser, pageUrl, { onConsole: (line) => consoleLines.push(line) });
  const tWorkbench = Date.now();
  findings.workbench = true;
  say(`workbench rendered ${seconds(tWorkbench - tHealthy)} after opening the page${server ? ` (${seconds(tWorkbench - t0)} after starting code-server)` : ''}`);

  // The activity bar fills in once the extension host has scanned the extensions; give it a moment.
  const item = activityBarItem(page, 'CodeGen');
  findings.activityBarItem = await item.waitFor({ state: 'visible', timeout: 20_000 }).then(() => true, () => false);
  await page.waitForTimeout(1000);
  await page.screenshot({ path: path.join(outDir, 'workbench.png') });
  say(`screenshot: ${path.relative(repoRoot, path.join(outDir, 'workbench.png'))}`);
  const items = await page
    .locator('.part.activitybar .action-item')
    .evaluateAll((nodes) => nodes.map((n) => (n.getAttribute('aria-label') || n.querySelector('[aria-label]')?.getAttribute('aria-label') || '').split('(')[0].trim()));
  say(`activity bar: ${items.map((label) => JSON.stringify(label)).join(', ')}`);
  say(`CodeGen activity-bar item: ${findings.activityBarItem ? 'found' : 'NOT FOUND'}`);

  if (findings.activityBarItem) {
    await item.click();
    const title = await page.locator('.part.sidebar .composite.title h2, .part.sidebar .title-label h2').first().textContent({ timeout: 5000 }).catch(() => undefined);
    say(`side bar title after the click: ${JSON.stringify(title?.trim())}`);
    const frame = webviewFrame(page);
    findings.webview = await page
      .locator('iframe.webview')
      .first()
      .waitFor({ state: 'attached', timeout: 15_000 })
      .then(() => frame.locator('body').waitFor({ state: 'attached', timeout: 15_000 }))
      .then(() => true, () => false);
    if (findings.webview) {
      await page.waitForTimeout(1500); // let the webview script render
      const text = (await frame.locator('body').innerText({ timeout: 5000 }).catch(() => '')).replace(/\s+/g, ' ').trim();
      say(`webview: found; its text begins ${JSON.stringify(text.slice(0, 300))}`);
    } else {
      const message = await page.locator('.part.sidebar .pane-body').first().innerText({ timeout: 2000 }).catch(() => '');
      say(`webview: NOT FOUND (side bar says ${JSON.stringify(message.replace(/\s+/g, ' ').trim().slice(0, 200))})`);
    }
    await page.screenshot({ path: path.join(outDir, 'panel.png') });
    say(`screenshot: ${path.relative(repoRoot, path.join(outDir, 'panel.png'))}`);

    if (flag('--generate') && findings.webview) {
      // One turn through the real engine: type a prompt, Submit, wait for the turn's Accept button.
      const tGenerate = Date.now();
      await frame.locator('vscode-textarea textarea').first().fill('Define a function that returns the sum of a list.');
      await frame.locator('vscode-button', { hasText: 'Submit' }).first().click();
      const ready = await frame
        .locator('vscode-button', { hasText: 'Accept' })
        .first()
        .waitFor({ state: 'visible', timeout: 90_000 })
        .then(() => true, () => false);
      findings.generate = ready ? `turn ready in ${seconds(Date.now() - tGenerate)}` : 'NO TURN within 90 s';
      say(`generate: ${findings.generate}`);
      await page.screenshot({ path: path.join(outDir, 'turn.png') });
      say(`screenshot: ${path.relative(repoRoot, path.join(outDir, 'turn.png'))}`);
    }
  }

  const problems = urlArg ? [] : extensionHostProblems(path.join(outDir, 'user-data'));
  if (problems.length) say(`extension host log lines about codegen-mt:\n  ${problems.join('\n  ')}`);
  const pageErrors = consoleLines.filter((line) => /^\[(error|pageerror)\]/.test(line));
  fs.writeFileSync(path.join(outDir, 'browser-console.log'), consoleLines.join('\n') + '\n');
  say(`browser console: ${consoleLines.length} lines, ${pageErrors.length} errors (${path.relative(repoRoot, path.join(outDir, 'browser-console.log'))})`);

  await browser.close();
  browser = undefined;
  await server?.stop();
  server = undefined;

  if (!flag('--no-tests')) {
    const tTests = Date.now();
    say(`extension tests: ${path.relative(repoRoot, testsPath)} in the real extension host`);
    // VS Code forwards its whole log; show the test's own lines and errors (everything is in tests/automation.log).
    const show = (line) => {
      if (/sampleSuite|assert|test|\[error\]/i.test(line) && !/ENOTFOUND|open-vsx/.test(line)) say(`  ${line.split('\n')[0].slice(0, 300)}`);
    };
    const { code } = await runExtensionTests({ extensionTestsPath: testsPath, dir: path.join(outDir, 'tests'), onLog: show });
    findings.extensionTests = code === 0 ? 'passed' : `FAILED (exit code ${code})`;
    say(`extension tests: ${findings.extensionTests} in ${seconds(Date.now() - tTests)} (log: ${path.relative(repoRoot, path.join(outDir, 'tests', 'code-server.log'))})`);
    if (code !== 0) failed = true;
  }
} catch (error) {
  failed = true;
  say(`error: ${error.stack ?? error.message}`);
} finally {
  await browser?.close().catch(() => {});
  await server?.stop();
}

say(`summary: ${JSON.stringify(findings)}`);
if (!findings.workbench) failed = true;
if (flag('--strict') && !(findings.activityBarItem && findings.webview)) failed = true;
if (flag('--generate') && !String(findings.generate ?? '').startsWith('turn ready')) failed = true;
process.exit(failed ? 1 : 0);

// Lines of the extension host's logs that mention the extension (activation errors show up there).
function extensionHostProblems(userDataDir) {
  const lines = [];
  const walk = (dir) => {
    for (const entry of fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : []) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (/exthost|remoteexthost|remoteagent/i.test(p) && entry.name.endsWith('.log')) {
        const all = fs.readFileSync(p, 'utf8').split('\n');
        all.forEach((line, i) => {
          if (/codegen-mt|codegenMt/i.test(line) && /error|fail|cannot|warn/i.test(line)) lines.push(`${line} ${all[i + 1] ?? ''}`.slice(0, 400));
        });
      }
    }
  };
  walk(path.join(userDataDir, 'logs'));
  return lines.slice(0, 20);
}
