// How the tests start the codegen-mt command: as its shebang line does (node with the flags it names), so that a
// test runs exactly what `npx codegen-mt` runs, whatever PATH the test gives the command.
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.join(__dirname, '..', '..', '..');
export const BIN = path.join(ROOT, 'bin', 'codegen-mt.js');

/** The node flags of bin/codegen-mt.js's first line (`#!/usr/bin/env -S node FLAGS`). */
export function binNodeFlags(): string[] {
  const shebang = fs.readFileSync(BIN, 'utf8').split('\n')[0];
  const words = shebang.replace(/^#!\s*/, '').split(/\s+/);
  return words.slice(words.indexOf('node') + 1);
}

/** process.execPath's arguments that run the command with `args`. */
export function cliArgv(args: readonly string[]): string[] {
  return [...binNodeFlags(), BIN, ...args];
}
