// Runs every compiled *.test.js under out/test with node's test runner (spec reporter, closing summary).
// Usage: node scripts/run-tests.mjs [subfolder ...]   e.g. unit model worker cli
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.join('out', 'test');
const folders = process.argv.slice(2);
const files = [];
const walk = (dir) => {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(p);
    else if (entry.name.endsWith('.test.js')) files.push(p);
  }
};
for (const folder of folders.length ? folders : ['.']) walk(path.join(root, folder));
files.sort();
const result = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
