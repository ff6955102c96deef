// The architecture's boundaries (scripts/check-boundaries.mjs) hold in this checkout, and the check catches what
// it is there to catch: run on a copy of the tree with one boundary broken, it fails and names the file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';

const REPO = path.join(__dirname, '..', '..');
const SCRIPT = path.join(REPO, 'scripts', 'check-boundaries.mjs');

function check(root: string, ...args: string[]): { status: number | null; output: string } {
  const result = spawnSync(process.execPath, [SCRIPT, '--root', root, ...args], { encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** A copy of what the check reads (src, webview, the tsconfigs), with node_modules linked. */
function copyOfTree(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-boundaries-'));
  for (const entry of ['src', 'webview', 'tsconfig.json', 'tsconfig.core.json', path.join('scripts', 'no-vscode.d.ts')]) {
    fs.cpSync(path.join(REPO, entry), path.join(dir, entry), { recursive: true });
  }
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return dir;
}

function prepend(root: string, file: string, line: string): void {
  const p = path.join(root, file);
  fs.writeFileSync(p, `${line}\n${fs.readFileSync(p, 'utf8')}`);
}

test('this checkout keeps its boundaries: the import rules and both boundary type-checks pass', () => {
  const { status, output } = check(REPO);
  assert.equal(status, 0, output);
});

test('a vscode import in src/session or src/engine fails the check, named by file', () => {
  const root = copyOfTree();
  // Unused, so that only the import rule can catch it (the type-check alone would not).
  prepend(root, 'src/session/turnFlow.ts', "import * as vscode from 'vscode'; // eslint-disable-line");
  // Used: the core type-check (no VS Code types) fails on it too.
  prepend(root, 'src/engine/tokenizer.ts', "import { window } from 'vscode';\nexport const shown = window;");
  const { status, output } = check(root);
  assert.equal(status, 1, output);
  assert.match(output, /src\/session\/turnFlow\.ts: imports 'vscode'; only src\/vscode may use the VS Code API/);
  assert.match(output, /src\/engine\/tokenizer\.ts: imports 'vscode'/);
  assert.match(output, /tsconfig\.core\.json: src\/engine\/tokenizer\.ts.*window/);
});

test('an import against the direction of the layers, or Node in the panel, fails the check', () => {
  const root = copyOfTree();
  prepend(root, 'src/engine/tokenizer.ts', "import type { TurnFlow } from '../session/turnFlow';\nexport type Flow = TurnFlow;");
  prepend(root, 'src/session/paperFormat.ts', "import { COMMAND } from '../vscode/contributes';\nexport const commands = COMMAND;");
  prepend(root, 'webview/dom.ts', "import * as fs from 'node:fs';\nexport const files = fs;");
  const { status, output } = check(root, '--no-typecheck');
  assert.equal(status, 1, output);
  assert.match(output, /src\/engine\/tokenizer\.ts: imports \.\.\/session\/turnFlow \(src\/session\); src\/engine may import only src\/protocol/);
  assert.match(output, /src\/session\/paperFormat\.ts: imports \.\.\/vscode\/contributes \(src\/vscode\)/);
  assert.match(output, /webview\/dom\.ts: imports node:fs; the panel runs in the browser/);
  // And the panel's DOM-only type-check fails on Node's API.
  assert.match(check(root).output, /webview[/\\]tsconfig\.json: .*dom\.ts/);
});
