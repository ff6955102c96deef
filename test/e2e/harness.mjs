// Browser end-to-end harness: one real VS Code (code-server with this repository as the development extension) and
// one headless Chromium page per test file, with helpers that drive the CodeGen panel the way a user does, and
// failure diagnostics. Used by test/e2e/*.test.mjs (node's test runner). How code-server is run here:
// ./README.md and ./codeServer.mjs.
//
// Where things go (all under .test-cache/, ignored by git):
// - .test-cache/e2e/<suite>/         the suite's workspace, user-data dir (VS Code's logs), code-server.log,
//                                    browser-console.log, automation.log (what VS Code forwarded: workbench and
//                                    extension-host log lines)
// - .test-cache/e2e/screenshots/     every screenshot the tests take, on every run
// - .test-cache/failures/<test>/     on a failed test: failure.png (the page at the failure), error.txt,
//                                    panel-text.txt, code-server.log, remoteexthost.log (the extension host's log),
//                                    codegen-output.log (the extension's "CodeGen" output channel),
//                                    browser-console.log (the page and webviews, with the extension host's console
//                                    lines VS Code forwards), automation.log (codeAutomationLog, when VS Code calls
//                                    it), vscode-logs/ (the user-data dir's whole logs folder), workspace/
// - docs/*.png                       the README's screenshots: copied from .test-cache/e2e/screenshots when the
//                                    suite passed AND CODEGEN_MT_UPDATE_SCREENSHOTS=1 (so CI never dirties git)
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { activityBarItem, ensureVsCodeEnv, launchChromium, openWorkbench, repoRoot, startCodeServer, webviewFrame } from './codeServer.mjs';

export { repoRoot };
export const E2E_DIR = path.join(repoRoot, '.test-cache', 'e2e');
export const SCREENSHOT_DIR = path.join(E2E_DIR, 'screenshots');
export const FAILURE_DIR = path.join(repoRoot, '.test-cache', 'failures');
export const DOCS_DIR = path.join(repoRoot, 'docs');
export const UPDATE_SCREENSHOTS = process.env.CODEGEN_MT_UPDATE_SCREENSHOTS === '1';

/** The file every suite starts from: the MTPB header, the cursor goes to its end. */
export const EXAMPLE_PY = '# Import libraries.\n\nimport numpy as np\n\n';

/** A viewport tall enough for the panel's turns and composer to show together. */
export const VIEWPORT = { width: 1440, height: 1000 };

/**
 * What every suite runs with on top of codeServer.mjs's DEFAULT_SETTINGS: auto-save shortly after each change,
 * so that the test can read the editor's text exactly from disk (see editorText()); word wrap, so that the
 * model's long lines show in the screenshots.
 */
export const E2E_SETTINGS = {
  'files.autoSave': 'afterDelay',
  'files.autoSaveDelay': 100,
  'editor.wordWrap': 'on',
  'editor.minimap.enabled': false,
  'workbench.editor.enablePreview': false,
  'window.commandCenter': true,
  // The program's runs after each accept ask for consent in a modal dialog: off, except where a test turns them on.
  'codegenMt.run.afterAccept': false,
};

/**
 * The extension host's environment on top of the test process's: no test reaches the real Hugging Face hub (a
 * Download clicked in a test goes to a local port where nothing listens, and fails at once).
 */
export const E2E_ENV = { HF_ENDPOINT: 'http://127.0.0.1:9' };

const require = createRequire(import.meta.url);

/** The extension's own insertion rules (compiled by `tsc -p .`), to compute exactly what Accept must insert. */
export function insertionRules() {
  const file = path.join(repoRoot, 'out', 'src', 'session', 'insertion.js');
  if (!fs.existsSync(file)) throw new Error(`${path.relative(repoRoot, file)} is missing: run \`npx tsc -p .\` first`);
  return require(file);
}

const say = (message) => process.stderr.write(`[e2e] ${message}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const safeName = (name) => name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 80) || 'test';

/**
 * Starts code-server (workspace with example.py, the extension as a development extension, E2E_SETTINGS +
 * `settings`) and a Chromium page on it. Returns a VsCode; call `close()` in after().
 */
export async function launchVsCode({ suite, settings = {}, files = { 'example.py': EXAMPLE_PY } }) {
  const dir = path.join(E2E_DIR, safeName(suite));
  fs.rmSync(dir, { recursive: true, force: true });
  const workspace = path.join(dir, 'workspace');
  fs.mkdirSync(workspace, { recursive: true });
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(workspace, name), text);
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });

  const vsEnv = await ensureVsCodeEnv();
  const vscode = new VsCode({ suite, dir, workspace });
  const started = Date.now();
  vscode.server = await startCodeServer({
    vsEnv,
    port: 0,
    workspace,
    userDataDir: vscode.userDataDir,
    extensionsDir: path.join(dir, 'extensions'),
    extensionDevelopmentPath: repoRoot,
    settings: { ...E2E_SETTINGS, ...settings },
    logFile: path.join(dir, 'code-server.log'),
    env: E2E_ENV,
  });
  vscode.browser = await launchChromium({ vsEnv });
  const { page } = await openWorkbench(vscode.browser, vscode.server.url, {
    viewport: VIEWPORT,
    onConsole: (line) => vscode.consoleLines.push(`${new Date().toISOString()} ${line}`),
    // With this hook exposed, VS Code forwards its log (the workbench's, and the extension host's console) to it.
    onLog: (type, args) => vscode.automationLines.push(`${new Date().toISOString()} [${type}] ${(Array.isArray(args) ? args : [args]).map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}`),
  });
  vscode.page = page;
  say(`${suite}: VS Code ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${vscode.server.baseUrl}, logs in ${path.relative(repoRoot, dir)})`);
  return vscode;
}

export class VsCode {
  constructor({ suite, dir, workspace }) {
    this.suite = suite;
    this.dir = dir;
    this.workspace = workspace;
    this.userDataDir = path.join(dir, 'user-data');
    this.consoleLines = [];
    this.automationLines = [];
    this.server = undefined;
    this.browser = undefined;
    this.page = undefined;
  }

  /** The panel's innermost webview frame (a FrameLocator: locate inside it like a page). */
  get panel() {
    return webviewFrame(this.page);
  }

  // ------------------------------------------------------------------------------------------------ editor

  /** Opens a workspace file with Quick Open and puts the cursor at its end. */
  async openFile(name) {
    const page = this.page;
    const tab = page.locator(`.tabs-container .tab[data-resource-name="${name}"]`).first();
    for (let attempt = 1; ; attempt++) {
      await page.locator('.part.editor').first().click();
      await page.keyboard.press('Control+P');
      const box = page.locator('.quick-input-widget input');
      await box.waitFor({ state: 'visible', timeout: 10_000 });
      await box.fill(name);
      // The file list is indexed shortly after start: wait for the file to be offered.
      const ok = await page
        .locator('.quick-input-widget .monaco-list-row', { hasText: name })
        .first()
        .waitFor({ state: 'visible', timeout: 10_000 })
        .then(() => true, () => false);
      if (ok) {
        await page.keyboard.press('Enter');
        if (await tab.waitFor({ state: 'visible', timeout: 10_000 }).then(() => true, () => false)) break;
      } else {
        await page.keyboard.press('Escape');
      }
      if (attempt >= 3) throw new Error(`could not open ${name} with Quick Open`);
    }
    const lines = page.locator('.part.editor .monaco-editor .view-lines').first();
    await lines.waitFor({ state: 'visible', timeout: 10_000 });
    await lines.click();
    await page.keyboard.press('Control+End');
  }

  /**
   * The editor's text, exactly (empty lines and trailing newlines included), read from disk: the suite runs with
   * auto-save after 100 ms, so once no editor tab is dirty the file holds what the editor holds. (The editor's DOM
   * is not exact: `.view-lines` renders only the visible lines, wrapped, and innerText drops empty ones.)
   */
  async editorText(name = 'example.py', { timeoutMs = 10_000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    await sleep(250); // longer than the auto-save delay: a change just made has marked its tab dirty by now
    for (;;) {
      const dirty = await this.page.locator('.tabs-container .tab.dirty').count();
      if (dirty === 0) return fs.readFileSync(path.join(this.workspace, name), 'utf8');
      if (Date.now() > deadline) throw new Error(`${name}: the editor still has unsaved changes after ${timeoutMs / 1000} s (auto-save)`);
      await sleep(100);
    }
  }

  /** The texts shown after editor lines by decorations (the perplexity hints render as `::after` content). */
  async editorHints() {
    return this.page.locator('.part.editor .monaco-editor .view-lines').first().evaluate((root) => {
      const found = [];
      for (const span of root.querySelectorAll('span')) {
        for (const pseudo of ['::after', '::before']) {
          const content = getComputedStyle(span, pseudo).content;
          if (content && content !== 'none' && content !== 'normal' && content !== '""') found.push(content.replace(/^"|"$/g, '').trim());
        }
        // Newer VS Code versions may render injected text as real text in its own span.
        if (/^\s*ppl\b/.test(span.textContent ?? '') && span.children.length === 0) found.push(span.textContent.trim());
      }
      return [...new Set(found)];
    });
  }

  /** The extension's "CodeGen" output channel, as the extension host writes it to disk (no page in between). */
  extensionLog() {
    const logs = path.join(this.userDataDir, 'logs');
    const files = fs.existsSync(logs) ? walk(logs).filter((f) => path.basename(f) === 'CodeGen.log') : [];
    return files.map((f) => fs.readFileSync(f, 'utf8')).join('');
  }

  // ------------------------------------------------------------------------------------------------ panel

  /** Opens the CodeGen view and waits until the model is loaded. Returns the panel's frame. */
  async openPanel({ timeoutMs = 60_000 } = {}) {
    const item = activityBarItem(this.page, 'CodeGen');
    await item.waitFor({ state: 'visible', timeout: 30_000 });
    const frame = this.panel;
    const input = frame.locator('vscode-textarea.prompt-input');
    if (!(await input.isVisible().catch(() => false))) {
      await item.click();
      await input.waitFor({ state: 'visible', timeout: 30_000 });
    }
    await frame.locator('.model-line[data-state="ready"]').waitFor({ state: 'visible', timeout: timeoutMs });
    return frame;
  }

  /** Makes the side bar wider (drags its sash), so that the panel's code is readable in screenshots. Best effort. */
  async widenSideBar(width = 520) {
    const page = this.page;
    const sidebar = page.locator('.part.sidebar').first();
    const box = await sidebar.boundingBox().catch(() => null);
    if (!box) return;
    const x = box.x + box.width - 1;
    const y = box.y + box.height / 2;
    await page.mouse.move(x + 2, y);
    await page.mouse.down();
    await page.mouse.move(box.x + width, y, { steps: 8 });
    await page.mouse.up();
    await sleep(300);
  }

  /** The prompt input's inner <textarea>. */
  promptInput() {
    return this.panel.locator('vscode-textarea.prompt-input textarea');
  }

  /** Types into the prompt input as a user does (key by key), replacing what is there. */
  async typeDraft(text, { delay = 15 } = {}) {
    const box = this.promptInput();
    await box.click();
    await box.fill('');
    await box.pressSequentially(text, { delay });
  }

  /** Types the prompt and presses Enter (the panel submits on Enter). */
  async submit(prompt) {
    await this.typeDraft(prompt, { delay: 5 });
    await this.promptInput().press('Enter');
  }

  /** The newest turn's <li>. */
  lastTurn() {
    return this.panel.locator('ol.turns > li.turn').last();
  }

  /** A button of a turn (or of the panel), by its visible label. */
  button(scope, label) {
    return scope.locator('vscode-button', { hasText: label }).first();
  }

  /** The code shown in a turn, exactly (textContent of its <code>: the highlighter's spans add no text). */
  async turnCode(turn) {
    return (await turn.locator('pre.code code').first().textContent({ timeout: 5000 })) ?? '';
  }

  // ------------------------------------------------------------------------------------------------ screenshots

  /** Saves a screenshot of the page in .test-cache/e2e/screenshots/NAME.png (and remembers it for docs/). */
  async screenshot(name) {
    const file = path.join(SCREENSHOT_DIR, `${name}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  // ------------------------------------------------------------------------------------------------ failures

  /**
   * Keeps what explains a failure in .test-cache/failures/<test>/ and returns that folder: the page at the
   * failure, the error, code-server's log, the extension host's log(s), what VS Code forwarded to
   * codeAutomationLog, the browser console, and VS Code's whole logs folder.
   */
  async saveFailure(testName, error) {
    const dir = path.join(FAILURE_DIR, safeName(`${this.suite}--${testName}`));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'error.txt'), `${testName}\n\n${error?.stack ?? String(error)}\n`);
    if (this.page) {
      await this.page.screenshot({ path: path.join(dir, 'failure.png'), timeout: 10_000 }).catch((e) => fs.writeFileSync(path.join(dir, 'failure.png.txt'), `no screenshot: ${e.message}\n`));
      const panelText = await this.panel.locator('body').innerText({ timeout: 3000 }).catch(() => undefined);
      if (panelText !== undefined) fs.writeFileSync(path.join(dir, 'panel-text.txt'), panelText);
    }
    fs.writeFileSync(path.join(dir, 'browser-console.log'), this.consoleLines.join('\n') + '\n');
    // codeAutomationLog: VS Code calls it only in some modes (extension tests); the extension host's console
    // reaches the browser console ("[Extension Host]" lines) and its log is remoteexthost.log below.
    if (this.automationLines.length) fs.writeFileSync(path.join(dir, 'automation.log'), this.automationLines.join('\n') + '\n');
    if (this.server?.logFile && fs.existsSync(this.server.logFile)) fs.copyFileSync(this.server.logFile, path.join(dir, 'code-server.log'));
    const logs = path.join(this.userDataDir, 'logs');
    if (fs.existsSync(logs)) {
      fs.cpSync(logs, path.join(dir, 'vscode-logs'), { recursive: true });
      // The extension host's log and the extension's output channel, at the top where they are found first.
      for (const file of walk(logs)) {
        const base = path.basename(file);
        if (/exthost\.log$/i.test(base)) fs.copyFileSync(file, path.join(dir, uniqueName(dir, base)));
        else if (/CodeGen\.log$/.test(base)) fs.copyFileSync(file, path.join(dir, uniqueName(dir, 'codegen-output.log')));
      }
    }
    if (fs.existsSync(this.workspace)) fs.cpSync(this.workspace, path.join(dir, 'workspace'), { recursive: true });
    return dir;
  }

  async close() {
    fs.mkdirSync(this.dir, { recursive: true });
    fs.writeFileSync(path.join(this.dir, 'browser-console.log'), this.consoleLines.join('\n') + '\n');
    fs.writeFileSync(path.join(this.dir, 'automation.log'), this.automationLines.join('\n') + '\n');
    await this.browser?.close().catch(() => {});
    await this.server?.stop();
  }
}

function walk(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

function uniqueName(dir, base) {
  if (!fs.existsSync(path.join(dir, base))) return base;
  const ext = path.extname(base);
  for (let i = 2; ; i++) {
    const name = `${path.basename(base, ext)}-${i}${ext}`;
    if (!fs.existsSync(path.join(dir, name))) return name;
  }
}

/**
 * A suite: `const suite = e2eSuite('panel', { settings })`, then `suite.test(name, async (vscode, t) => ...)`.
 * Starts VS Code in before() and stops it in after(); a failing test (or a failing start) keeps its diagnostics
 * in .test-cache/failures/ and says where; once every test passed, the screenshots named in `docs` are copied
 * to docs/ when CODEGEN_MT_UPDATE_SCREENSHOTS=1.
 */
export function e2eSuite(suite, { settings = {}, files, docs = [] } = {}, { test, before, after }) {
  let vscode;
  let startError;
  let failures = 0;
  before(async () => {
    try {
      vscode = await launchVsCode({ suite, settings, files });
    } catch (error) {
      startError = error;
      const dir = path.join(FAILURE_DIR, safeName(`${suite}--start`));
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'error.txt'), `${error.stack ?? error}\n`);
      const csLog = path.join(E2E_DIR, safeName(suite), 'code-server.log');
      if (fs.existsSync(csLog)) fs.copyFileSync(csLog, path.join(dir, 'code-server.log'));
      say(`${suite}: VS Code did not start; diagnostics in ${path.relative(repoRoot, dir)}`);
      throw error;
    }
  });
  after(async () => {
    await vscode?.close();
    if (failures === 0 && !startError && UPDATE_SCREENSHOTS) {
      fs.mkdirSync(DOCS_DIR, { recursive: true });
      for (const name of docs) {
        const from = path.join(SCREENSHOT_DIR, `${name}.png`);
        if (fs.existsSync(from)) {
          fs.copyFileSync(from, path.join(DOCS_DIR, `${name}.png`));
          say(`docs/${name}.png updated`);
        }
      }
    } else if (docs.length && !UPDATE_SCREENSHOTS) {
      say(`screenshots in ${path.relative(repoRoot, SCREENSHOT_DIR)} (CODEGEN_MT_UPDATE_SCREENSHOTS=1 copies ${docs.map((d) => `${d}.png`).join(', ')} to docs/)`);
    }
  });
  return {
    test(name, fn, options = {}) {
      test(name, { timeout: 180_000, ...options }, async (t) => {
        if (!vscode) throw new Error(`VS Code did not start: ${startError?.message ?? 'unknown error'}`);
        try {
          await fn(vscode, t);
        } catch (error) {
          failures++;
          const dir = await vscode.saveFailure(name, error).catch((e) => `(could not save diagnostics: ${e.message})`);
          const where = path.isAbsolute(dir) ? path.relative(repoRoot, dir) : dir;
          say(`FAILED "${name}": diagnostics in ${where}/ (failure.png, error.txt, code-server.log, remoteexthost.log, codegen-output.log, browser-console.log, vscode-logs/)`);
          t.diagnostic(`diagnostics: ${where}/`);
          throw error;
        }
      });
    },
  };
}

let pythonOkCache;

/** Whether a python3 here has numpy and pandas (the benchmarks' programs need them); asked once, when first wanted. */
export function pythonOk() {
  pythonOkCache ??= ['python3', '/usr/bin/python3'].some((p) => spawnSync(p, ['-c', 'import numpy, pandas'], { stdio: 'ignore' }).status === 0);
  return pythonOkCache;
}

/** Skips the test `t` when no python3 here has numpy and pandas: `if (skipWithoutPython(t)) return;`. */
export function skipWithoutPython(t) {
  if (pythonOk()) return false;
  t.skip('no python3 with numpy and pandas');
  return true;
}

export { assert, sleep };
