#!/usr/bin/env node
// The `codegen-mt` command: the bundle built by `npm install` (or `npm run build`).
const path = require('node:path');
const fs = require('node:fs');
const bundle = path.join(__dirname, '..', 'dist', 'cli.js');
if (!fs.existsSync(bundle)) {
  process.stderr.write(`codegen-mt: ${bundle} is missing; run "npm install" (or "npm run build") in ${path.dirname(__dirname)} first.\n`);
  process.exit(1);
}
require(bundle)
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
