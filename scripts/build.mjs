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
  quality: 'bench/quality.ts',
  sessionOptions: 'bench/sessionOptions.ts',
  scale: 'bench/scale.ts',
  speculation: 'bench/speculation.ts',
  shapes: 'bench/shapes.ts',
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

// The benchmark's Python harness is read at run time next to the bundle. (The benchmark data stays in data/ at the
// package root, where src/eval/benchmarkData.ts finds it from dist/ as from out/.)
function copyRuntimeFiles() {
  fs.copyFileSync('src/eval/exec_harness.py', 'dist/exec_harness.py');
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
