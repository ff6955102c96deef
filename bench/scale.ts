// npm run bench:scale -- [--shapes 350M,2B] [--variants int8,int4] [--work DIR] [--checkpoint DIR] [--tokens N]
//                         [--keep] [--out FILE]
// The Salesforce shapes at scale, on random weights (none of the real checkpoints can be downloaded here). For each
// shape and precision, each step in a process of its own so that its peak RSS is its own:
//   build   the compiler's random-weight mode writes the compiled graph (codegen-mt optimize --random-shape): time,
//           peak RSS, file size;
//   run     load it and decode greedily after a short prompt: load time, decode ms/token, RSS after load and peak.
// With --checkpoint DIR (a checkpoint folder, e.g. the 2B shape written by models/make_tiny_codegen.py
// --checkpoint-preset 2B), the conversion from that file is timed too, per precision: what a user's first load costs.
// Figures are printed as markdown and written as JSON (--out, else bench-results/scale-<time>.json).
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { parameterCount } from '../src/engine/checkpoint/checkpointFolder';
import { salesforceConfig, salesforceShape, type CheckpointShape } from '../src/engine/checkpoint/salesforceModels';
import { compiledFile, compileModel, compileRandomModel, isPrecision } from '../src/engine/compiler/compile';
import type { Precision } from '../src/engine/compiler/graphBuilder';
import { LocalEngine } from '../src/engine/localEngine';

interface StepFigures {
  readonly seconds: number;
  readonly peakRssMb: number;
  readonly extra?: Record<string, number>;
}

type Step = { kind: 'build'; shape: string; precision: Precision; out: string } | { kind: 'convert'; checkpoint: string; precision: Precision; out: string } | { kind: 'run'; dir: string; tokens: number };

const peakRssMb = (): number => process.resourceUsage().maxRSS / 1024;
const dirBytes = (dir: string): number => fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).reduce((n, e) => n + fs.statSync(path.join(e.parentPath, e.name)).size, 0);

async function runStep(step: Step): Promise<StepFigures> {
  const started = performance.now();
  if (step.kind === 'build') {
    await compileRandomModel(salesforceShape(step.shape)!, step.precision, step.out);
    return { seconds: (performance.now() - started) / 1000, peakRssMb: peakRssMb(), extra: { bytes: dirBytes(step.out) } };
  }
  if (step.kind === 'convert') {
    await compileModel(step.checkpoint, step.precision, step.out);
    return { seconds: (performance.now() - started) / 1000, peakRssMb: peakRssMb(), extra: { bytes: dirBytes(step.out) } };
  }
  const engine = new LocalEngine();
  const loaded = await engine.load({ modelDir: step.dir });
  const loadSeconds = (performance.now() - started) / 1000;
  const rssAfterLoadMb = process.memoryUsage().rss / 2 ** 20;
  const prompt = 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n';
  let best = Infinity;
  for (let i = 0; i < 2; i++) {
    engine.clearCache();
    const r = await engine.generate({ context: { header: '', turns: [], prompt }, temperature: 0, stop: 'none', maxNewTokens: step.tokens });
    best = Math.min(best, r.timings.decodeMs / Math.max(1, r.timings.decodeTokens));
  }
  const rssMb = process.memoryUsage().rss / 2 ** 20;
  await engine.dispose();
  return { seconds: loadSeconds, peakRssMb: peakRssMb(), extra: { decodeMsPerToken: best, rssAfterLoadMb, rssMb, weightBytes: dirBytes(path.dirname(loaded.onnxFile)) } };
}

function inChild(step: Step): Promise<StepFigures> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--scale-child', JSON.stringify(step)], { stdio: ['ignore', 2, 2, 'ipc'], execArgv: ['--max-old-space-size=16384'] });
    let message: { ok: boolean; figures?: StepFigures; error?: string } | undefined;
    child.on('message', (m) => (message = m as typeof message));
    child.on('exit', (code, signal) => {
      if (message?.ok) resolve(message.figures!);
      else reject(new Error(message?.error ?? `the ${step.kind} step exited (${signal ?? `code ${code}`})`));
    });
  });
}

async function main(): Promise<void> {
  const childAt = process.argv.indexOf('--scale-child');
  if (childAt >= 0) {
    const step = JSON.parse(process.argv[childAt + 1]) as Step;
    const message = await runStep(step).then(
      (figures) => ({ ok: true, figures }),
      (err: unknown) => ({ ok: false, error: err instanceof Error ? err.stack ?? err.message : String(err) }),
    );
    await new Promise<void>((resolve) => process.send!(message, () => resolve()));
    process.exit(0);
  }
  const { values } = parseArgs({
    options: {
      shapes: { type: 'string', default: '350M,2B' },
      variants: { type: 'string', default: 'int8,int4' },
      work: { type: 'string', default: path.join(os.tmpdir(), 'codegen-mt-scale') },
      checkpoint: { type: 'string' },
      tokens: { type: 'string', default: '24' },
      keep: { type: 'boolean', default: false },
      out: { type: 'string' },
    },
  });
  const shapes = values.shapes.split(',').map((name) => salesforceShape(name) ?? fail(`unknown shape ${name}`));
  const precisions = values.variants.split(',').map((v) => (isPrecision(v) ? v : fail(`unknown variant ${v}`)));
  const tokens = Number(values.tokens);
  const rows: Record<string, unknown>[] = [];
  const table: string[] = ['| shape | params | precision | build s | build peak RSS | size | load s | decode ms/tok | RSS | RSS / size |', '|---|---|---|---|---|---|---|---|---|---|'];
  for (const shape of shapes) {
    for (const precision of precisions) {
      const out = path.join(values.work, `${shape.name}-${precision}`);
      fs.rmSync(out, { recursive: true, force: true });
      console.error(`[scale] ${shape.name} ${precision}: building random weights into ${out}`);
      const build = await inChild({ kind: 'build', shape: shape.name, precision, out });
      console.error(`[scale] ${shape.name} ${precision}: built in ${build.seconds.toFixed(0)} s; running`);
      const run = await inChild({ kind: 'run', dir: out, tokens });
      const size = build.extra!.bytes;
      const row = { shape: shape.name, params: paramsOf(shape), precision, build, run };
      rows.push(row);
      table.push(
        `| ${shape.name} | ${(row.params / 1e9).toFixed(2)}B | ${precision} | ${build.seconds.toFixed(0)} | ${(build.peakRssMb / 1024).toFixed(1)} GB | ${(size / 2 ** 30).toFixed(2)} GiB | ${run.seconds.toFixed(1)} | ${run.extra!.decodeMsPerToken.toFixed(1)} | ${(run.extra!.rssMb / 1024).toFixed(2)} GiB | ${((run.extra!.rssMb * 2 ** 20) / size).toFixed(2)} |`,
      );
      console.error(table[table.length - 1]);
      if (!values.keep) fs.rmSync(out, { recursive: true, force: true });
    }
  }
  if (values.checkpoint) {
    table.push('', '| conversion from | precision | seconds | peak RSS | output |', '|---|---|---|---|---|');
    for (const precision of precisions) {
      const out = path.join(values.work, `convert-${precision}`);
      fs.rmSync(out, { recursive: true, force: true });
      console.error(`[scale] converting ${values.checkpoint} to ${precision}`);
      const convert = await inChild({ kind: 'convert', checkpoint: path.resolve(values.checkpoint), precision, out });
      rows.push({ checkpoint: values.checkpoint, precision, convert });
      table.push(`| ${path.basename(values.checkpoint)} | ${precision} | ${convert.seconds.toFixed(0)} | ${(convert.peakRssMb / 1024).toFixed(1)} GB | ${(convert.extra!.bytes / 2 ** 30).toFixed(2)} GiB |`);
      console.error(table[table.length - 1]);
      if (!values.keep) fs.rmSync(out, { recursive: true, force: true });
      else console.error(`[scale] kept ${compiledFile(out, precision)}`);
    }
  }
  const report = { machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, memoryGb: Math.round(os.totalmem() / 2 ** 30) }, date: new Date().toISOString(), rows };
  const file = values.out ?? path.join('bench-results', `scale-${Date.now()}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  console.log(table.join('\n'));
  console.error(`[scale] figures in ${file}`);
}

function paramsOf(shape: CheckpointShape): number {
  return parameterCount(salesforceConfig(shape));
}

function fail(message: string): never {
  console.error(`bench:scale: ${message}`);
  process.exit(2);
}

void main();
