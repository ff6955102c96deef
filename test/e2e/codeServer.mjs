// Runs a real VS Code (code-server, a VS Code 1.139 with a Node extension host) with this extension installed (a
// link to the checkout) or loaded as a development extension, and drives it with Debian's Chromium through
// playwright-core. Shared by `npm start`
// (scripts/start.mjs), the smoke check (scripts/vscode-smoke.mjs) and browser tests. Why code-server:
// test/e2e/README.md. The tools come from scripts/vscode-env.mjs (a cache folder, not our node_modules).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureVsCodeEnv, repoRoot, withoutNpmRunContext } from '../../scripts/vscode-env.mjs';

export { ensureVsCodeEnv, repoRoot };

/** Settings that keep the welcome page, built-in chat, telemetry and update checks out of the way. */
export const DEFAULT_SETTINGS = {
  'workbench.startupEditor': 'none',
  'chat.disableAIFeatures': true,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'workbench.colorTheme': 'Default Dark Modern',
  'security.workspace.trust.enabled': false,
  'workbench.tips.enabled': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
};

/** The Chromium flags that work here (no sandbox as root, no GPU, no calls home). */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

export const EXAMPLE_PY = `# Import libraries.

import numpy as np

# Define a function that returns the mean of a list of numbers.
`;

/** Creates the folder (and `example.py` in it, when the folder has no such file). */
export function ensureWorkspace(workspace, files = { 'example.py': EXAMPLE_PY }) {
  fs.mkdirSync(workspace, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(workspace, name);
    if (!fs.existsSync(file)) fs.writeFileSync(file, text);
  }
  return workspace;
}

/**
 * Writes `User/settings.json` in the user-data dir: DEFAULT_SETTINGS, then `settings`; with `keepUserChanges`,
 * values already in the file win (so what someone changed in the UI survives a restart).
 */
export function writeUserSettings(userDataDir, settings = {}, { keepUserChanges = false } = {}) {
  const file = path.join(userDataDir, 'User', 'settings.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let existing = {};
  if (keepUserChanges && fs.existsSync(file)) {
    try {
      existing = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      existing = {}; // settings.json may hold comments: then it is left as the user wrote it
      return file;
    }
  }
  fs.writeFileSync(file, JSON.stringify({ ...DEFAULT_SETTINGS, ...settings, ...existing }, null, 2) + '\n');
  return file;
}

/** Resolves to `port` when it can be listened on at `host`, else to a free port (or rejects, with `strictPort`). */
export async function choosePort(port, { host = '127.0.0.1', strictPort = false } = {}) {
  const tryListen = (p) =>
    new Promise((resolve) => {
      const server = net.createServer();
      server.unref();
      server.once('error', () => resolve(undefined));
      server.listen({ port: p, host, exclusive: true }, () => {
        const { port: got } = server.address();
        server.close(() => resolve(got));
      });
    });
  if (port) {
    const got = await tryListen(port);
    if (got) return got;
    if (strictPort) throw new Error(`port ${port} on ${host} is taken`);
  }
  const free = await tryListen(0);
  if (!free) throw new Error(`found no free port on ${host}`);
  return free;
}

/** `vscode-remote://HOST:PORT/abs/path`: how the page names a file on the code-server machine. */
export function remoteUri(host, port, absPath) {
  return `vscode-remote://${host}:${port}${encodeURI(path.resolve(absPath)).replaceAll('?', '%3F').replaceAll('#', '%23')}`;
}

/**
 * The page address that opens `workspace`, with the extension at `extensionDevelopmentPath` loaded as a
 * development extension, and with `extensionTestsPath` run as the tests (the server honours the payload only
 * with `--vscode-option enable-smoke-test-driver`).
 */
export function workbenchUrl({ host, port, workspace, extensionDevelopmentPath, extensionTestsPath }) {
  const payload = [];
  if (extensionDevelopmentPath) payload.push(['extensionDevelopmentPath', remoteUri(host, port, extensionDevelopmentPath)]);
  if (extensionTestsPath) payload.push(['extensionTestsPath', remoteUri(host, port, extensionTestsPath)]);
  let url = `http://${host}:${port}/`;
  const query = [];
  if (workspace) query.push(`folder=${encodeURIComponent(path.resolve(workspace)).replaceAll('%2F', '/')}`);
  if (payload.length) query.push(`payload=${encodeURIComponent(JSON.stringify(payload))}`);
  if (query.length) url += `?${query.join('&')}`;
  return url;
}

/**
 * Installs the extension folder (default: this repository) into `extensionsDir` as a symbolic link named
 * `publisher.name-version`, and lists it in the folder's `extensions.json` (VS Code's record of what is
 * installed), replacing any earlier version of it. VS Code then loads it as an installed extension from any page
 * address, and a rebuild shows after "Developer: Reload Window". Returns the extension's id.
 */
export function linkExtension(extensionsDir, extensionPath = repoRoot) {
  const manifest = JSON.parse(fs.readFileSync(path.join(extensionPath, 'package.json'), 'utf8'));
  const id = `${manifest.publisher}.${manifest.name}`;
  const folderName = `${id}-${manifest.version}`;
  fs.mkdirSync(extensionsDir, { recursive: true });
  for (const entry of fs.readdirSync(extensionsDir)) {
    if (entry.toLowerCase().startsWith(`${id.toLowerCase()}-`)) fs.rmSync(path.join(extensionsDir, entry), { recursive: true, force: true });
  }
  const link = path.join(path.resolve(extensionsDir), folderName);
  fs.symlinkSync(path.resolve(extensionPath), link, 'dir');
  const listFile = path.join(extensionsDir, 'extensions.json');
  if (fs.existsSync(listFile)) {
    let list = [];
    try {
      list = JSON.parse(fs.readFileSync(listFile, 'utf8'));
    } catch {
      list = [];
    }
    list = list.filter((e) => e?.identifier?.id?.toLowerCase() !== id.toLowerCase());
    list.push({ identifier: { id }, version: manifest.version, location: { $mid: 1, path: link, scheme: 'file' }, relativeLocation: folderName });
    fs.writeFileSync(listFile, JSON.stringify(list));
  }
  return id;
}

/**
 * Starts code-server and waits until `/healthz` answers. Returns `{ url, baseUrl, host, port, logFile, child,
 * exited, stop() }`: `url` opens the workspace with the extension (see workbenchUrl); `stop()` ends code-server
 * and every process it started (it runs in its own process group), and resolves when they are gone.
 *
 * - port: wanted port (0 or undefined: a free one); taken -> a free one, unless `strictPort`.
 * - userDataDir gets `User/settings.json` (DEFAULT_SETTINGS + `settings`); extensionsDir: installed extensions.
 * - installExtension: an extension folder to install as a link first (see linkExtension).
 * - extensionDevelopmentPath / extensionTestsPath: put in the page URL (a development extension, extension tests).
 * - logFile: code-server's output (default: `<userDataDir>/../code-server.log`); `echo: true` also prints it.
 */
export async function startCodeServer({
  port,
  host = '127.0.0.1',
  strictPort = false,
  workspace,
  userDataDir,
  extensionsDir,
  installExtension,
  extensionDevelopmentPath,
  extensionTestsPath,
  settings = {},
  keepUserSettings = false,
  logFile,
  echo = false,
  healthTimeoutMs = 60_000,
  env: extraEnv = {},
  vsEnv,
} = {}) {
  if (!userDataDir || !extensionsDir) throw new Error('startCodeServer needs userDataDir and extensionsDir');
  const tools = vsEnv ?? (await ensureVsCodeEnv());
  fs.mkdirSync(userDataDir, { recursive: true });
  fs.mkdirSync(extensionsDir, { recursive: true });
  if (installExtension) linkExtension(extensionsDir, installExtension);
  writeUserSettings(userDataDir, settings, { keepUserChanges: keepUserSettings });
  if (workspace) ensureWorkspace(workspace, {});
  logFile ??= path.join(path.dirname(path.resolve(userDataDir)), 'code-server.log');
  fs.mkdirSync(path.dirname(logFile), { recursive: true });

  const chosenPort = await choosePort(port, { host, strictPort });
  const args = [
    tools.codeServerEntry,
    '--auth', 'none',
    '--bind-addr', `${host}:${chosenPort}`,
    '--config', '/dev/null',
    '--user-data-dir', path.resolve(userDataDir),
    '--extensions-dir', path.resolve(extensionsDir),
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--vscode-option', 'enable-smoke-test-driver',
  ];
  if (workspace) args.push(path.resolve(workspace));

  const log = fs.createWriteStream(logFile, { flags: 'w' });
  log.write(`$ ${tools.node24} ${args.join(' ')}\n`);
  const child = spawn(tools.node24, args, {
    cwd: workspace ? path.resolve(workspace) : repoRoot,
    // code-server runs on node24 by its path; PATH stays the user's, so its terminals get the user's own node.
    env: { ...cleanEnv(process.env), ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: stop() ends code-server's helpers (extension host, pty host...) too
  });
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (chunk) => {
      log.write(chunk);
      if (echo) process.stderr.write(chunk);
    });
  }
  let exitInfo;
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
    child.once('error', (error) => {
      exitInfo = { code: null, signal: null, error };
      resolve(exitInfo);
    });
  });

  // If this process exits without stop() (an uncaught error, process.exit() in a signal handler), take
  // code-server's process group with it: it runs detached, so nothing else would end it.
  const killOnExit = () => killGroup(child.pid, 'SIGKILL');
  process.on('exit', killOnExit);

  let stopping;
  const stop = (timeoutMs = 8000) =>
    (stopping ??= (async () => {
      process.removeListener('exit', killOnExit);
      if (!exitInfo) {
        killGroup(child.pid, 'SIGTERM');
        const timer = new Promise((resolve) => setTimeout(resolve, timeoutMs, 'timeout'));
        if ((await Promise.race([exited, timer])) === 'timeout') killGroup(child.pid, 'SIGKILL');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 2000))]);
      }
      // code-server may leave helpers behind when it exits on its own: end what is left of its group.
      killGroup(child.pid, 'SIGKILL');
      await new Promise((resolve) => log.end(resolve));
    })());

  const baseUrl = `http://${host}:${chosenPort}`;
  const deadline = Date.now() + healthTimeoutMs;
  for (;;) {
    if (exitInfo) {
      await stop();
      throw new Error(`code-server exited while starting (${describeExit(exitInfo)}); its log, ${logFile}, ends with:\n${tail(logFile)}`);
    }
    if ((await httpStatus(`${baseUrl}/healthz`)) === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`code-server did not answer ${baseUrl}/healthz within ${healthTimeoutMs / 1000} s; its log, ${logFile}, ends with:\n${tail(logFile)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  const url = workbenchUrl({ host, port: chosenPort, workspace, extensionDevelopmentPath, extensionTestsPath });
  return { url, baseUrl, host, port: chosenPort, logFile, child, exited, stop, userDataDir, extensionsDir, workspace };
}

function describeExit({ code, signal, error }) {
  return error ? error.message : signal ? `signal ${signal}` : `exit code ${code}`;
}

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

// Variables that would make code-server think it runs inside another VS Code or an npm script.
function cleanEnv(env) {
  return Object.fromEntries(
    Object.entries(withoutNpmRunContext(env, { stripAllNpm: true })).filter(([key]) => !/^(VSCODE_|ELECTRON_RUN_AS_NODE$|CODE_SERVER_|PASSWORD$|HASHED_PASSWORD$)/.test(key)),
  );
}

function httpStatus(url) {
  return new Promise((resolve) => {
    const request = http.get(url, { timeout: 2000 }, (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(undefined));
  });
}

export function tail(file, lines = 30) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ---------------------------------------------------------------------------------------------------- browser

/** Launches Debian's Chromium through playwright-core (from the cache folder). Returns the Browser. */
export async function launchChromium({ vsEnv, headless = true, args = [] } = {}) {
  const tools = vsEnv ?? (await ensureVsCodeEnv());
  const { chromium } = await import(pathToFileURL(path.join(tools.playwrightCore, 'index.mjs')).href);
  // Chromium keeps a crash-report folder under $XDG_CONFIG_HOME (~/.config/chromium): keep it in the cache instead.
  const home = path.join(tools.cacheDir, 'chromium-home');
  const env = { ...process.env, XDG_CONFIG_HOME: path.join(home, 'config'), XDG_CACHE_HOME: path.join(home, 'cache') };
  return chromium.launch({ executablePath: tools.chromium, headless, args: [...CHROMIUM_ARGS, ...args], env });
}

/**
 * Opens `url` in a new page and waits for the workbench (`.monaco-workbench`). `onConsole(line)` gets the page's
 * console from the start. `onExit(code)` and `onLog(type, args)` receive the extension-test hooks VS Code calls (`codeAutomationExit`, `codeAutomationLog`);
 * they are exposed before the page loads, as they must be. Returns `{ context, page }`.
 */
export async function openWorkbench(browser, url, { onExit, onLog, onConsole, viewport = { width: 1400, height: 900 }, timeoutMs = 60_000 } = {}) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  if (onConsole) {
    page.on('console', (message) => onConsole(`[${message.type()}] ${message.text()}`));
    page.on('pageerror', (error) => onConsole(`[pageerror] ${error.message}`));
    page.on('response', (response) => response.status() >= 400 && onConsole(`[http ${response.status()}] ${response.url()}`));
    page.on('requestfailed', (request) => onConsole(`[requestfailed] ${request.url()} ${request.failure()?.errorText ?? ''}`));
  }
  if (onExit) await page.exposeFunction('codeAutomationExit', (code) => onExit(code));
  if (onLog) await page.exposeFunction('codeAutomationLog', (type, args) => onLog(type, args));
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: timeoutMs });
  await page.locator('.monaco-workbench').first().waitFor({ state: 'visible', timeout: timeoutMs });
  return { context, page };
}

/** The activity-bar item of a view container, by its title (`CodeGen`). */
export function activityBarItem(page, title) {
  return page.locator(`.part.activitybar .action-item[aria-label^="${title}"], .part.activitybar .action-label[aria-label^="${title}"]`).first();
}

/** The innermost frame of the (first, or `nth`) webview: `iframe.webview` then `#active-frame`. */
export function webviewFrame(page, nth = 0) {
  return page.frameLocator('iframe.webview').nth(nth).frameLocator('#active-frame');
}

// ---------------------------------------------------------------------------------------------------- extension tests

/**
 * Runs an extension test module (`exports.run(): Promise<void>`, as for @vscode/test-electron) in code-server's
 * real extension host, with `extensionDevelopmentPath` loaded. Resolves to `{ code, logs }`: code 0 when `run()`
 * resolved. What VS Code forwards (the extension host's console, with the workbench's own log) goes to `logs`,
 * to `<dir>/automation.log`, to `onLog(line)`, and to stderr unless `quiet`.
 */
export async function runExtensionTests({
  extensionTestsPath,
  extensionDevelopmentPath = repoRoot,
  workspace,
  dir = path.join(repoRoot, '.test-cache', 'e2e-tests'),
  settings = {},
  timeoutMs = 120_000,
  quiet = true,
  onLog: onLogLine,
  env,
} = {}) {
  if (!extensionTestsPath) throw new Error('runExtensionTests needs extensionTestsPath');
  const tools = await ensureVsCodeEnv();
  fs.rmSync(path.join(dir, 'user-data'), { recursive: true, force: true });
  fs.rmSync(path.join(dir, 'extensions'), { recursive: true, force: true });
  workspace ??= ensureWorkspace(path.join(dir, 'workspace'));
  const server = await startCodeServer({
    vsEnv: tools,
    port: 0,
    workspace,
    userDataDir: path.join(dir, 'user-data'),
    extensionsDir: path.join(dir, 'extensions'),
    extensionDevelopmentPath,
    extensionTestsPath: path.resolve(extensionTestsPath),
    settings,
    logFile: path.join(dir, 'code-server.log'),
    env,
  });
  let browser;
  const logs = [];
  try {
    browser = await launchChromium({ vsEnv: tools });
    let finish;
    const finished = new Promise((resolve) => (finish = resolve));
    const onLog = (type, args) => {
      const line = `[${type}] ${(Array.isArray(args) ? args : [args]).map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}`;
      logs.push(line);
      onLogLine?.(line);
      if (!quiet) process.stderr.write(`${line}\n`);
    };
    await openWorkbench(browser, server.url, { onExit: (code) => finish(code), onLog });
    const code = await Promise.race([
      finished,
      new Promise((resolve) => setTimeout(resolve, timeoutMs, 'timeout')),
      server.exited.then((info) => `code-server exited (${describeExit(info)})`),
    ]);
    if (typeof code !== 'number') throw new Error(`extension tests did not finish: ${code === 'timeout' ? `no exit code within ${timeoutMs / 1000} s` : code}; log: ${server.logFile}`);
    return { code, logs, logFile: server.logFile, automationLog: path.join(dir, 'automation.log') };
  } finally {
    fs.writeFileSync(path.join(dir, 'automation.log'), logs.join('\n') + '\n');
    await browser?.close().catch(() => {});
    await server.stop();
  }
}

/** Whether a desktop `code` executable is on PATH (the path, or undefined). */
export function findOnPath(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function buildExtension() {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs')], { cwd: repoRoot, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`node scripts/build.mjs failed (${r.error ? r.error.message : `exit code ${r.status}`})`);
}
