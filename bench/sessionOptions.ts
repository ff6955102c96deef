// npm run bench:session -- --model DIR [--variants int8,int4] [--threads N]
// How onnxruntime's session options change a compiled graph's load time, prefill, decode and peak RSS: graph
// optimisation level (basic, extended, all), the CPU memory arena and memory patterns, and the thread count. Each
// configuration runs in a process of its own (this script again), so that its peak RSS is its own. The engine's
// defaults for compiled graphs (compiledDecoder.ts: level basic, arena and patterns on, one thread per physical
// core) come from this.
import { fork } from 'node:child_process';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { compiledFile, defaultCacheRoot, ensureCompiled } from '../src/engine/compiler/compile';
import type { Precision } from '../src/engine/compiler/graphBuilder';
import { CompiledDecoder } from '../src/engine/compiledDecoder';
import { readCodeGenConfig } from '../src/engine/modelFolder';
import { physicalCores, type SessionTuning } from '../src/engine/onnx';

interface Config {
  readonly name: string;
  readonly threads: number;
  readonly tuning: SessionTuning;
}

interface Figures {
  readonly loadMs: number;
  readonly prefillMs: number;
  readonly decodeMs: number;
  readonly peakRssMb: number;
}

const PREFILL = 256;
const DECODE = 48;

async function measure(file: string, modelDir: string, config: Config): Promise<Figures> {
  const started = performance.now();
  const decoder = await CompiledDecoder.open(file, readCodeGenConfig(modelDir), config.threads, config.tuning);
  const loadMs = performance.now() - started;
  const ids = Array.from({ length: PREFILL }, (_, i) => (i * 7919 + 13) % 50000);
  let t = performance.now();
  await decoder.feed(ids, true);
  const prefillMs = performance.now() - t;
  const steps: number[] = [];
  for (let i = 0; i < DECODE; i++) {
    t = performance.now();
    await decoder.feed([(i * 31) % 50000], false);
    steps.push(performance.now() - t);
  }
  steps.sort((a, b) => a - b);
  await decoder.dispose();
  return { loadMs, prefillMs, decodeMs: steps[steps.length >> 1], peakRssMb: process.resourceUsage().maxRSS / 1024 };
}

function inChild(file: string, modelDir: string, config: Config): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--child', JSON.stringify({ file, modelDir, config })], { stdio: ['ignore', 2, 2, 'ipc'] });
    child.on('message', (m) => resolve(m as Figures));
    child.on('exit', (code) => (code === 0 ? undefined : reject(new Error(`${config.name}: exit ${code}`))));
  });
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') {
    const { file, modelDir, config } = JSON.parse(process.argv[3]) as { file: string; modelDir: string; config: Config };
    const figures = await measure(file, modelDir, config);
    process.send!(figures, () => process.exit(0));
    return;
  }
  const { values } = parseArgs({ options: { model: { type: 'string' }, variants: { type: 'string' }, threads: { type: 'string' } } });
  if (!values.model) throw new Error('--model DIR is required');
  const modelDir = path.resolve(values.model);
  const cores = values.threads ? Number(values.threads) : physicalCores();
  const configs: Config[] = [
    { name: 'defaults (basic, arena, patterns)', threads: cores, tuning: {} },
    { name: 'level all', threads: cores, tuning: { graphOptimizationLevel: 'all' } },
    { name: 'level extended', threads: cores, tuning: { graphOptimizationLevel: 'extended' } },
    { name: 'level basic', threads: cores, tuning: { graphOptimizationLevel: 'basic' } },
    { name: 'no CPU arena', threads: cores, tuning: { enableCpuMemArena: false } },
    { name: 'no arena, no memory patterns', threads: cores, tuning: { enableCpuMemArena: false, enableMemPattern: false } },
    ...(cores > 1 ? [{ name: '1 thread', threads: 1, tuning: {} }] : []),
  ];
  console.log(`| variant | session options | load ms | prefill ${PREFILL} ms | decode ms/token | peak RSS MB |\n| --- | --- | ---: | ---: | ---: | ---: |`);
  for (const variant of (values.variants ?? 'int8,int4').split(',') as Precision[]) {
    const { dir } = await ensureCompiled(modelDir, variant, defaultCacheRoot());
    const file = compiledFile(dir, variant);
    for (const config of configs) {
      const f = await inChild(file, modelDir, config);
      console.log(`| ${variant} | ${config.name} (${config.threads} threads) | ${f.loadMs.toFixed(0)} | ${f.prefillMs.toFixed(0)} | ${f.decodeMs.toFixed(1)} | ${f.peakRssMb.toFixed(0)} |`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
