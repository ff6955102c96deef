#!/usr/bin/env -S node --no-concurrent-recompilation
// The `codegen-mt` command: the bundle in dist/, built here on first use in a checkout (`npm ci` runs no scripts,
// see .npmrc; `npm run build` rebuilds it after a change). The flag in the first line keeps Node 20 from
// deadlocking at exit (src/worker/nodeFlags.ts says why); run the file itself (npx codegen-mt, bin/codegen-mt.js),
// not `node bin/codegen-mt.js`, which drops it.
const path = require('node:path');
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const bundle = path.join(root, 'dist', 'cli.js');
if (!fs.existsSync(bundle)) {
  const build = path.join(root, 'scripts', 'build.mjs');
  if (fs.existsSync(build)) {
    process.stderr.write('codegen-mt: building the command line bundle (first run in this checkout)...\n');
    spawnSync(process.execPath, [build], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  }
  if (!fs.existsSync(bundle)) {
    process.stderr.write(`codegen-mt: ${bundle} is missing: run "npm ci" and then "npm run build" in ${root}.\n`);
    process.exit(1);
  }
}
// Output piped into a program that stops reading (`| head`) ends the command quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}
require(bundle)
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
