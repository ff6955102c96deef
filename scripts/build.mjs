// Bundles the Node entry points with esbuild. onnxruntime-node (native) and tiktoken (loads its .wasm from its
// own folder) stay external and are resolved from node_modules at run time.
import * as esbuild from 'esbuild';

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

const builds = [
  { ...node, entryPoints: { cli: 'src/cli/main.ts', engineWorker: 'src/worker/engineWorker.ts', bench: 'bench/bench.ts' }, outdir: 'dist' },
];

if (watch) {
  for (const options of builds) await (await esbuild.context(options)).watch();
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
