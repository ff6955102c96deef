#!/usr/bin/env node
// `npm start`: builds the extension and opens VS Code with it loaded as a development extension.
// - With a desktop VS Code (`code` on PATH): `code --extensionDevelopmentPath=<repo> <workspace>`.
// - Without one (or with --web): a real VS Code in the browser, code-server from npm (installed on first use into
//   .test-cache/vscode-env by scripts/vscode-env.mjs; about 2 minutes and 620 MB, then seconds), with the extension
//   installed as a link to this checkout. It prints the address to open, and runs until Ctrl-C.
//   State (settings, workspace, log) lives in .test-cache/start/.
// Environment: PORT (default 8080; a free port if it is taken), CODEGEN_MT_TEST_CACHE (the tools' cache folder).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { buildExtension, ensureVsCodeEnv, ensureWorkspace, findOnPath, repoRoot, startCodeServer, tail } from '../test/e2e/codeServer.mjs';

const web = process.argv.includes('--web');
const stateDir = path.join(repoRoot, '.test-cache', 'start');
const workspace = ensureWorkspace(path.join(stateDir, 'workspace'));
const say = (message) => process.stderr.write(`[start] ${message}\n`);

try {
  say('building the extension: node scripts/build.mjs');
  buildExtension();

  const code = web ? undefined : findOnPath('code');
  if (code) {
    say(`opening VS Code (${code}) with the extension from ${repoRoot}`);
    const r = spawnSync(code, [`--extensionDevelopmentPath=${repoRoot}`, workspace], { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  }

  say('no desktop VS Code (`code`) on PATH: starting VS Code in the browser (code-server)');
  const vsEnv = await ensureVsCodeEnv();
  const wanted = process.env.PORT ? Number.parseInt(process.env.PORT, 10) : 8080;
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > 65535) throw new Error(`PORT=${process.env.PORT} is not a port number`);
  const started = Date.now();
  const server = await startCodeServer({
    vsEnv,
    port: wanted,
    workspace,
    userDataDir: path.join(stateDir, 'user-data'),
    extensionsDir: path.join(stateDir, 'extensions'),
    installExtension: repoRoot, // a link to this checkout: any address of this server opens VS Code with it
    keepUserSettings: true,
    logFile: path.join(stateDir, 'code-server.log'),
  });
  if (server.port !== wanted) say(`port ${wanted} is taken: using ${server.port}`);
  say(`code-server answered /healthz after ${((Date.now() - started) / 1000).toFixed(1)} s`);

  process.stdout.write(
    [
      '',
      'VS Code with CodeGen Multi-Turn is running. Open this address in a browser:',
      '',
      `    ${server.url}`,
      '',
      'It has no password and listens on 127.0.0.1 only: anyone who can connect to that port on this machine gets an editor with your files.',
      `The extension is installed there as a link to ${repoRoot}: click the CodeGen icon in the activity bar.`,
      'After a rebuild (npm run build), run "Developer: Reload Window" in VS Code to load it.',
      `Workspace: ${workspace}`,
      `code-server log: ${server.logFile}`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n') + '\n',
  );

  let stopping = false;
  const shutdown = async (signal) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping code-server`);
    await server.stop();
    process.exit(0);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => void shutdown(signal));

  const info = await server.exited;
  if (!stopping) {
    await server.stop();
    say(`code-server stopped by itself (${info.signal ? `signal ${info.signal}` : `exit code ${info.code}`}); its log ends with:\n${tail(server.logFile)}`);
    process.exit(1);
  }
} catch (error) {
  say(`error: ${error.message}`);
  process.exit(1);
}
