// npm run bench -- [--model DIR] [--variant V | --variants fp32,int8,...] [--threads N] [--build-350m DIR] [--turns N]
//                  [--long-turns N] [--no-transformers-js] [--out FILE]
// Speed and memory (never asserted in tests), side by side in one run on the same model folder: transformers.js on
// the published fp32 onnx/model.onnx, and our engine at each variant. Each engine/variant runs in its own child
// process (this script again, with --bench-child), so that its peak RSS is its own. Figures: load time, TTFT of a
// 16-token turn after a 1,000-token history, cold prefill tokens/s, decode ms/token, the per-turn latency of a
// multi-turn session, peak RSS, and the memory-bandwidth floor of decoding (weights read per token ÷ the machine's
// read bandwidth). Our engine also runs its session without prefix reuse and a session long enough for its oldest
// turns to be dropped. Prints markdown and writes the figures as JSON (--out, else bench-results/).
import { fork, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { bundledModelDir } from '../src/engine/bundledModel';
import { bestOf, measureReadBandwidth, type Bandwidth } from './memoryBandwidth';
import { benchOurs } from './oursBench';
import { longSessionLine, notes, sessionTable, summaryTable, weightBytes, type Row } from './report';
import { benchTransformersJs, transformersJsVersion } from './transformersJsBench';
import type { ChildSpec, EngineFigures } from './workload';

/** What `--variants` means when neither it nor `--variant` is given: every one of these that loads. */
const DEFAULT_VARIANTS = ['fp32', 'fp16', 'int8', 'int4'];

type ChildMessage<T> = { ok: true; figures: T } | { ok: false; error: string };

async function runChild(spec: ChildSpec): Promise<EngineFigures> {
  return spec.engine === 'ours' ? benchOurs(spec) : benchTransformersJs(spec);
}

/**
 * Runs one measurement in a child process of its own (this script with an internal flag); its stdout and stderr go
 * to our stderr. This process stays small (the bandwidth test runs in a child too): on Linux a child's peak RSS
 * starts at its parent's RSS when it was forked.
 */
function inChild<T>(flag: '--bench-child' | '--bench-bandwidth', argument: string): Promise<ChildMessage<T>> {
  return new Promise((resolve) => {
    const child = fork(__filename, [flag, argument], { stdio: ['ignore', 2, 2, 'ipc'], execArgv: process.execArgv });
    let message: ChildMessage<T> | undefined;
    child.on('message', (m) => (message = m as ChildMessage<T>));
    child.on('error', (err) => resolve({ ok: false, error: err.message }));
    child.on('exit', (code, signal) => resolve(message ?? { ok: false, error: `the child process exited (${signal ?? `code ${code}`}) without figures` }));
  });
}

async function answerParent<T>(work: () => Promise<T>): Promise<never> {
  const message = await work().then(
    (figures): ChildMessage<T> => ({ ok: true, figures }),
    (err: unknown): ChildMessage<T> => ({ ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
  await new Promise<void>((resolve) => process.send!(message, () => resolve()));
  process.exit(0);
}

function machine(): Record<string, string | number | number[]> {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    onnxruntime: require('onnxruntime-node/package.json').version as string,
    transformersJs: transformersJsVersion() ?? 'not installed',
    loadAverageAtStart: os.loadavg().map((l) => Number(l.toFixed(2))),
  };
}

/** Builds a random-weight model with codegen-350M-mono's shape (about 1.4 GB) with the repository's script. */
function build350mShape(dir: string): void {
  if (fs.existsSync(path.join(dir, 'onnx', 'model.onnx'))) return;
  const script = path.join(__dirname, '..', 'models', 'make_tiny_codegen.py');
  console.error(`building a random codegen-350M-shaped model in ${dir} (needs python3-torch and python3-onnx; a few minutes)...`);
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const r = spawnSync('/usr/bin/python3', [script, '--preset', '350M', '--out', dir], { stdio: 'inherit', env });
  if (r.status !== 0) throw new Error(`building the 350M-shaped model failed (exit ${r.status})`);
}

const quote = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      variant: { type: 'string' },
      variants: { type: 'string' },
      threads: { type: 'string' },
      turns: { type: 'string', default: '10' },
      'long-turns': { type: 'string', default: '60' },
      'build-350m': { type: 'string' },
      'no-transformers-js': { type: 'boolean', default: false },
      out: { type: 'string' },
      'bench-child': { type: 'string' },
      'bench-bandwidth': { type: 'string' },
    },
  });
  const child = values['bench-child'];
  if (child !== undefined) await answerParent(() => runChild(JSON.parse(child) as ChildSpec));
  const bandwidthThreads = values['bench-bandwidth'];
  if (bandwidthThreads !== undefined) await answerParent(() => measureReadBandwidth(Number(bandwidthThreads)));

  const threads = values.threads ? Number(values.threads) : undefined;
  const turns = Number(values.turns);
  const longTurns = Number(values['long-turns']);
  const explicitVariants = values.variants?.split(',').map((v) => v.trim()).filter(Boolean) ?? (values.variant ? [values.variant] : undefined);
  const variants = explicitVariants ?? DEFAULT_VARIANTS;
  const targets: { name: string; dir: string }[] = [];
  if (values.model) targets.push({ name: path.resolve(values.model), dir: path.resolve(values.model) });
  else targets.push({ name: 'bundled tiny random model', dir: bundledModelDir() });
  if (values['build-350m']) {
    const dir = path.resolve(values['build-350m']);
    if (dir.startsWith(path.resolve(__dirname, '..') + path.sep)) throw new Error('--build-350m must point outside the repository');
    build350mShape(dir);
    targets.push({ name: 'random weights, codegen-350M-mono shape', dir });
  }

  const info = machine();
  const command = `npm run bench --${process.argv.slice(2).map((a) => ` ${quote(a)}`).join('')}`;
  // The bandwidth is measured before and after the engines (the machine may be shared): the best pass counts.
  const measureBandwidth = async (): Promise<Bandwidth> => {
    console.error('measuring the memory read bandwidth...');
    const m = await inChild<Bandwidth>('--bench-bandwidth', String(threads ?? 2));
    if (!m.ok) throw new Error(`the bandwidth test failed: ${m.error}`);
    return m.figures;
  };
  const before = await measureBandwidth();

  const results: Record<string, { rows: Row[]; failed: { label: string; error: string }[]; dir: string }> = {};
  for (const target of targets) {
    const specs: { label: string; spec: ChildSpec }[] = [];
    const base = { modelDir: target.dir, threads, turns, longTurns };
    if (!values['no-transformers-js']) specs.push({ label: 'transformers.js fp32', spec: { ...base, engine: 'transformers.js', variant: 'fp32', longTurns: 0 } });
    for (const variant of variants) specs.push({ label: `ours ${variant}`, spec: { ...base, engine: 'ours', variant } });
    const rows: Row[] = [];
    const failed: { label: string; error: string }[] = [];
    for (const { label, spec } of specs) {
      console.error(`${target.name}: ${label}...`);
      const parentRssMb = process.memoryUsage.rss() / 2 ** 20;
      const m = await inChild<EngineFigures>('--bench-child', JSON.stringify(spec));
      const published = m.ok && spec.engine === 'ours' && (m.figures.extra?.model as { layout?: string } | undefined)?.layout !== 'compiled';
      const shown = published ? `${label} (published file as is)` : label;
      if (m.ok) rows.push({ label: shown, figures: { ...m.figures, parentRssMbAtFork: parentRssMb }, weights: weightBytes(target.dir, spec.variant) });
      else failed.push({ label, error: m.error });
    }
    results[target.name] = { rows, failed, dir: target.dir };
  }
  info.loadAverageAtEnd = os.loadavg().map((l) => Number(l.toFixed(2)));
  const after = await measureBandwidth();
  const bandwidth = bestOf(before, after);

  console.log(`## Benchmark (${new Date().toISOString().slice(0, 10)})\n`);
  console.log(`Command: \`${command}\`\n`);
  console.log(
    `Machine: ${info.cpu}, ${info.cores} cores, ${info.memoryGb} GB, ${info.os}, load average ${(info.loadAverageAtStart as number[]).join(' ')} at the start ` +
      `and ${(info.loadAverageAtEnd as number[]).join(' ')} at the end (1, 5, 15 min); Node ${info.node}, onnxruntime-node ${info.onnxruntime}, ` +
      `transformers.js ${info.transformersJs}; ${threads ? `${threads} threads` : "onnxruntime's default threads"}.\n`,
  );
  for (const [name, { rows, failed, dir }] of Object.entries(results)) {
    const out = [`### ${name === dir ? name : `${name} (${dir})`}`, '', summaryTable(rows, bandwidth), '', notes(rows, bandwidth)];
    for (const f of failed) out.push(`- ${f.label}: not measured (${f.error})`);
    for (const r of rows) {
      const line = longSessionLine(r.label, r.figures.longSession);
      if (line) out.push(line);
    }
    out.push('', sessionTable(rows), '');
    console.log(out.join('\n'));
  }
  const file = values.out ?? path.join('bench-results', `bench-${Date.now()}.json`);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ command, machine: info, bandwidth, bandwidthMeasurements: { before, after }, results }, null, 2));
  console.log(`(figures saved to ${file})`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
