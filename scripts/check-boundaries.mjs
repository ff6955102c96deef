#!/usr/bin/env node
// The architecture's boundaries, checked (npm test runs this through test/architecture/boundaries.test.ts):
//
//   1. imports run one way between the folders of src/ (IMPORTS_ALLOWED below), and only src/vscode imports
//      `vscode`; the panel (webview/) imports only its own files, its npm packages and src/protocol/webview.ts;
//   2. the plain-Node folders type-check without VS Code's types (tsconfig.core.json maps `vscode` to a module
//      with nothing in it), and the panel type-checks with the DOM alone (webview/tsconfig.json: no Node types).
//
// Every violation is one line: the file, what it imports, and the rule. Exit code 0 when there is none.
//
//   node scripts/check-boundaries.mjs [--root DIR] [--no-typecheck]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const rootArg = argv.indexOf('--root');
const root = rootArg >= 0 ? path.resolve(argv[rootArg + 1]) : repoRoot;
const typecheck = !argv.includes('--no-typecheck');
// TypeScript from this checkout (the root checked may be a copy without node_modules).
const ts = createRequire(path.join(repoRoot, 'package.json'))('typescript');

/** Which folders of src/ each folder may import from (besides itself). */
export const IMPORTS_ALLOWED = {
  protocol: [],
  engine: ['protocol'],
  session: ['protocol'],
  worker: ['engine', 'protocol'],
  download: ['engine', 'protocol'],
  eval: ['protocol', 'session'],
  server: ['engine', 'protocol', 'worker'],
  cli: ['download', 'engine', 'eval', 'protocol', 'server', 'session', 'worker'],
  vscode: ['download', 'engine', 'eval', 'protocol', 'server', 'session', 'worker'],
};
const WEBVIEW_MAY_IMPORT = [path.join('src', 'protocol', 'webview.ts')];

function sourceFiles(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return /\.(ts|mts|cts)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** The module specifiers a file imports (import, export ... from, require, import()), comments ignored. */
function importsOf(file) {
  const info = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
  return info.importedFiles.map((f) => f.fileName);
}

/** The folder of src/ a relative import of `file` lands in ('' outside src/), and the path it resolves to. */
function target(file, specifier) {
  const resolved = path.resolve(path.dirname(file), specifier);
  const relative = path.relative(path.join(root, 'src'), resolved);
  const folder = relative.startsWith('..') || path.isAbsolute(relative) ? '' : relative.split(path.sep)[0];
  return { resolved, folder };
}

function checkImports() {
  const problems = [];
  const rel = (p) => path.relative(root, p);
  for (const [folder, allowed] of Object.entries(IMPORTS_ALLOWED)) {
    for (const file of sourceFiles(path.join(root, 'src', folder))) {
      for (const specifier of importsOf(file)) {
        if (specifier === 'vscode' && folder !== 'vscode') problems.push(`${rel(file)}: imports 'vscode'; only src/vscode may use the VS Code API`);
        if (!specifier.startsWith('.')) continue;
        const to = target(file, specifier);
        if (to.folder === '' ) problems.push(`${rel(file)}: imports ${specifier}, outside src/`);
        else if (to.folder !== folder && !allowed.includes(to.folder)) {
          problems.push(`${rel(file)}: imports ${specifier} (src/${to.folder}); src/${folder} may import only ${allowed.length ? allowed.map((a) => `src/${a}`).join(', ') : 'itself'}`);
        }
      }
    }
  }
  for (const file of sourceFiles(path.join(root, 'webview'))) {
    for (const specifier of importsOf(file)) {
      if (specifier.startsWith('node:') || specifier === 'vscode') problems.push(`${rel(file)}: imports ${specifier}; the panel runs in the browser`);
      if (!specifier.startsWith('.')) continue;
      const resolved = path.relative(root, path.resolve(path.dirname(file), specifier)).replace(/\.js$/, '');
      const inWebview = !resolved.startsWith('..') && resolved.split(path.sep)[0] === 'webview';
      if (!inWebview && !WEBVIEW_MAY_IMPORT.some((allowed) => allowed.replace(/\.ts$/, '') === resolved.replace(/\.ts$/, ''))) {
        problems.push(`${rel(file)}: imports ${specifier}; the panel may import only webview/ and ${WEBVIEW_MAY_IMPORT.join(', ')}`);
      }
    }
  }
  return problems;
}

/** tsc on one project of `root`; its errors as lines. */
function tsc(project) {
  const tscJs = path.join(path.dirname(createRequire(path.join(repoRoot, 'package.json')).resolve('typescript/package.json')), 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tscJs, '-p', path.join(root, project), '--noEmit', '--pretty', 'false'], { cwd: root, encoding: 'utf8' });
  if (result.status === 0) return [];
  const lines = `${result.stdout}${result.stderr}`.split('\n').filter((l) => l.trim());
  return lines.length ? lines.map((l) => `${project}: ${l}`) : [`${project}: tsc exited with ${result.status}`];
}

const problems = checkImports();
if (typecheck) problems.push(...tsc('tsconfig.core.json'), ...tsc(path.join('webview', 'tsconfig.json')));
for (const p of problems) process.stderr.write(`boundary: ${p}\n`);
process.stdout.write(problems.length ? `check-boundaries: ${problems.length} problem(s)\n` : 'check-boundaries: the imports and both boundary type-checks are clean\n');
process.exit(problems.length ? 1 : 0);
