// The house stays small enough to read: no source file over 400 lines, and no function of the panel over 60
// (the panel is components, each with small functions; the limit is where a function stops fitting a screen).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import ts from 'typescript';

const REPO = path.join(__dirname, '..', '..');
const MAX_FILE_LINES = 400;
const MAX_PANEL_FUNCTION_LINES = 60;

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

const lineCount = (file: string): number => fs.readFileSync(file, 'utf8').split('\n').length - 1;

test(`no file of src/ or webview/ is over ${MAX_FILE_LINES} lines`, () => {
  const long = [...sourceFiles(path.join(REPO, 'src')), ...sourceFiles(path.join(REPO, 'webview'))]
    .map((file) => ({ file: path.relative(REPO, file), lines: lineCount(file) }))
    .filter((f) => f.lines > MAX_FILE_LINES);
  assert.deepEqual(long, []);
});

/** Every function-like node of a file with its name and length in lines (signature to closing brace). */
function functionLengths(file: string): { name: string; lines: number }[] {
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: { name: string; lines: number }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const name = node.name && ts.isIdentifier(node.name) ? node.name.text : `<anonymous at line ${start + 1}>`;
      found.push({ name: `${path.relative(REPO, file)}: ${name}`, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

test(`no function of the panel (webview/) is over ${MAX_PANEL_FUNCTION_LINES} lines`, () => {
  const all = sourceFiles(path.join(REPO, 'webview')).flatMap(functionLengths);
  assert.ok(all.length > 20, `${all.length} functions found: the walk works`);
  assert.deepEqual(all.filter((f) => f.lines > MAX_PANEL_FUNCTION_LINES), []);
});
