// Bundles with esbuild: the Node entry points (extension, engine worker, CLI, bench) as CommonJS with
// onnxruntime-node (native), tiktoken (loads its .wasm from its own folder) and vscode external; the webview as a
// browser IIFE with its CSS, and the codicon font it uses copied next to it.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  external: ['onnxruntime-node', 'tiktoken', 'vscode'],
  logLevel: 'warning',
};

const nodeEntries = {
  extension: 'src/vscode/extension.ts',
  cli: 'src/cli/main.ts',
  engineWorker: 'src/worker/engineWorker.ts',
  bench: 'bench/bench.ts',
};
const builds = [
  {
    ...node,
    entryPoints: Object.fromEntries(Object.entries(nodeEntries).filter(([, file]) => fs.existsSync(file))),
    outdir: 'dist',
  },
];
if (fs.existsSync('webview/main.ts')) {
  builds.push({
    bundle: true,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    sourcemap: !production,
    minify: production,
    entryPoints: { main: 'webview/main.ts' },
    outdir: 'dist/webview',
    loader: { '.ttf': 'file' },
    logLevel: 'warning',
  });
}

// Files the bundles read at run time: the benchmark's Python harness (found next to the bundle), and the benchmark
// data from ../shared/data when this checkout has it (found by src/eval under dist/shared/data), so that a packaged
// extension can run MTPB and HumanEval.
function copyRuntimeFiles() {
  fs.copyFileSync('src/eval/exec_harness.py', 'dist/exec_harness.py');
  const data = '../shared/data';
  if (fs.existsSync(data)) {
    fs.mkdirSync('dist/shared/data', { recursive: true });
    for (const file of ['mtpb.jsonl', 'HumanEval.jsonl.gz', 'README.md']) {
      if (fs.existsSync(`${data}/${file}`)) fs.copyFileSync(`${data}/${file}`, `dist/shared/data/${file}`);
    }
  }
}

function copyCodicons() {
  fs.mkdirSync('dist/webview', { recursive: true });
  for (const file of ['codicon.css', 'codicon.ttf']) {
    fs.copyFileSync(`node_modules/@vscode/codicons/dist/${file}`, `dist/webview/${file}`);
  }
}

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
copyCodicons();
copyRuntimeFiles();
