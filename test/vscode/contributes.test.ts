// The ids in the code and in package.json are the same, both ways; the settings' defaults in package.json are the
// ones the code falls back to; and no module spells a contributed id itself instead of importing it.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { GENERATION_DEFAULTS } from '../../src/protocol/engine';
import { DEFAULT_THRESHOLDS } from '../../src/session/perplexityView';
import { COMMAND, CONFIG_SECTION, MODEL_STATUS_ITEM, PANEL_VIEW, SETTING, VIEW_CONTAINER } from '../../src/vscode/contributes';

const REPO = path.join(__dirname, '..', '..', '..');
interface Manifest {
  contributes: {
    commands: { command: string }[];
    keybindings: { command: string }[];
    viewsContainers: { activitybar: { id: string }[] };
    views: Record<string, { id: string }[]>;
    configuration: { properties: Record<string, { default: unknown }> } | { properties: Record<string, { default: unknown }> }[];
  };
}
const manifest = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as Manifest;
const properties = Object.assign({}, ...[manifest.contributes.configuration].flat().map((c) => c.properties)) as Record<string, { default: unknown }>;

test('the commands in COMMAND are the commands package.json contributes, and its key bindings name them', () => {
  assert.deepEqual(Object.values(COMMAND).sort(), manifest.contributes.commands.map((c) => c.command).sort());
  for (const binding of manifest.contributes.keybindings) assert.ok((Object.values(COMMAND) as string[]).includes(binding.command), binding.command);
});

test('the view container and the panel view are package.json\'s', () => {
  assert.deepEqual(manifest.contributes.viewsContainers.activitybar.map((c) => c.id), [VIEW_CONTAINER]);
  assert.deepEqual(manifest.contributes.views[VIEW_CONTAINER].map((v) => v.id), [PANEL_VIEW]);
});

test('the settings in SETTING are the settings package.json contributes, with the defaults the code uses', () => {
  assert.deepEqual(Object.values(SETTING).map((key) => `${CONFIG_SECTION}.${key}`).sort(), Object.keys(properties).sort());
  const key = (k: keyof typeof SETTING): string => `${CONFIG_SECTION}.${SETTING[k]}`;
  assert.equal(properties[key('temperature')].default, GENERATION_DEFAULTS.temperature);
  assert.equal(properties[key('topP')].default, GENERATION_DEFAULTS.topP);
  assert.equal(properties[key('maxNewTokens')].default, GENERATION_DEFAULTS.maxNewTokens);
  assert.equal(properties[key('lowThreshold')].default, DEFAULT_THRESHOLDS.low);
  assert.equal(properties[key('highThreshold')].default, DEFAULT_THRESHOLDS.high);
});

/** A file's text without its comments (which may name ids freely). */
function code(file: string): string {
  return fs.readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

test('no module but contributes.ts spells a contributed id as a string literal', () => {
  const ids = new Set<string>([...Object.values(COMMAND), PANEL_VIEW, VIEW_CONTAINER, MODEL_STATUS_ITEM, ...Object.keys(properties)]);
  const stray: string[] = [];
  for (const file of [...sourceFiles(path.join(REPO, 'src')), ...sourceFiles(path.join(REPO, 'webview'))]) {
    if (file.endsWith(path.join('vscode', 'contributes.ts'))) continue;
    for (const m of code(file).matchAll(/(['"`])(codegenMt(?:\.[A-Za-z]+)*)\1/g)) if (ids.has(m[2])) stray.push(`${path.relative(REPO, file)}: ${m[0]}`);
  }
  assert.deepEqual(stray, []);
});

test('the defaults are declared once: no other module of src/ writes the paper\'s 0.95 or a 0.2 temperature', () => {
  const stray: string[] = [];
  for (const file of sourceFiles(path.join(REPO, 'src'))) {
    if (file.endsWith(path.join('protocol', 'engine.ts'))) continue;
    for (const m of code(file).matchAll(/(?:\?\?|temperature:|topP:|, )\s*(0\.95|0\.2)\b/g)) stray.push(`${path.relative(REPO, file)}: ${m[0]}`);
  }
  assert.deepEqual(stray, []);
});
