// npm run bench -- [--model DIR] [--variant V] [--threads N] [--build-350m DIR] [--turns N] [--long-turns N] [--out FILE]
// Speed and memory of the engine (never asserted in tests): prefill and decode tokens/s, time to first token,
// peak RSS, a multi-turn session's per-turn latency with and without prefix reuse, and a session long enough for
// its oldest turns to be dropped (how much of each context the KV cache still reuses then).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { bundledModelDir } from '../src/engine/bundledModel';
import { LocalEngine } from '../src/engine/localEngine';
import type { ModelInfo } from '../src/protocol/engine';
import { MTPB_HEADER, promptContext, type TurnText } from '../src/session/paperFormat';

const SESSION_PROMPTS = [
  'Define a list of integers named "values" from 1 to 20.',
  'Keep only the even numbers of "values".',
  'Square each of them.',
  'Compute their sum and store it in "total".',
  'Define a function "mean" that returns the average of a list.',
  'Compute the mean of the squared values.',
  'Build a dictionary mapping each value to its square.',
  'Sort the dictionary items by value in descending order.',
  'Take the first three items.',
  'Print the result.',
];

/** Some ordinary Python to prefill with (repeated to the wanted length). */
const CODE = `import numpy as np\n\ndef moving_average(values, window):\n    result = []\n    for i in range(len(values) - window + 1):\n        result.append(sum(values[i:i + window]) / window)\n    return result\n\n`;

interface Figures {
  readonly model: ModelInfo;
  readonly prefill: { tokens: number; ms: number; tokensPerSecond: number };
  readonly decode: { tokens: number; ms: number; tokensPerSecond: number; timeToFirstTokenMs: number };
  readonly session: { turns: number; withReuseMs: number[]; withoutReuseMs: number[]; promptTokens: number[] };
  readonly longSession: LongSession;
  readonly peakRssMb: number;
}

interface LongSession {
  readonly turns: number;
  /** Per turn: context tokens, tokens reused from the KV cache, old turns left out, milliseconds. */
  readonly perTurn: { promptTokens: number; reusedTokens: number; droppedTurns: number; ms: number }[];
}

/** Turns whose context had old turns left out, and the share of their context tokens the cache reused. */
function droppingFigures(long: LongSession): { turns: number; reuse: number; meanMs: number } {
  const dropping = long.perTurn.filter((t) => t.droppedTurns > 0);
  const sum = (f: (t: LongSession['perTurn'][number]) => number): number => dropping.reduce((a, t) => a + f(t), 0);
  return { turns: dropping.length, reuse: dropping.length ? sum((t) => t.reusedTokens) / sum((t) => t.promptTokens) : NaN, meanMs: dropping.length ? sum((t) => t.ms) / dropping.length : NaN };
}

async function benchModel(modelDir: string, variant: string | undefined, threads: number | undefined, turns: number, longTurns: number): Promise<Figures> {
  const engine = new LocalEngine();
  const model = await engine.load({ modelDir, variant, threads });

  // Prefill: a 512-token context on an empty cache (loaded again so nothing is reused), best of 3.
  const prefillText = await fitText(engine, 512);
  let prefill = { tokens: 0, ms: Infinity, tokensPerSecond: 0 };
  for (let i = 0; i < 3; i++) {
    engine.clearCache();
    const r = await engine.perplexity({ context: { header: '', turns: [], prompt: prefillText } });
    if (r.timings.prefillMs < prefill.ms) prefill = { tokens: r.promptTokens, ms: r.timings.prefillMs, tokensPerSecond: r.promptTokens / (r.timings.prefillMs / 1000) };
  }

  // Decode: 64 greedy tokens after a short prompt, stop rules off so the length is fixed; best of 3.
  let decode = { tokens: 0, ms: Infinity, tokensPerSecond: 0, timeToFirstTokenMs: 0 };
  for (let i = 0; i < 3; i++) {
    engine.clearCache();
    const r = await engine.generate({ context: { header: MTPB_HEADER, turns: [], prompt: '# Print the numbers from 1 to 10.\n' }, temperature: 0, maxNewTokens: 64, stop: 'none' });
    const t = r.timings;
    if (t.decodeMs < decode.ms) decode = { tokens: t.decodeTokens, ms: t.decodeMs, tokensPerSecond: t.decodeTokens / (t.decodeMs / 1000), timeToFirstTokenMs: t.timeToFirstTokenMs };
  }

  // A multi-turn session: each turn 32 greedy tokens; once reusing the cache, once starting every turn cold.
  const prompts = Array.from({ length: turns }, (_, i) => SESSION_PROMPTS[i % SESSION_PROMPTS.length]);
  const runSession = async (reuse: boolean): Promise<{ ms: number[]; promptTokens: number[] }> => {
    engine.clearCache();
    const done: TurnText[] = [];
    const ms: number[] = [];
    const promptTokens: number[] = [];
    for (const prompt of prompts) {
      if (!reuse) engine.clearCache();
      const r = await engine.generate({ context: promptContext(MTPB_HEADER, done, prompt), temperature: 0, maxNewTokens: 32, stop: 'none' });
      ms.push(r.timings.totalMs);
      promptTokens.push(r.promptTokens);
      done.push({ prompt, code: r.text });
    }
    return { ms, promptTokens };
  };
  const withReuse = await runSession(true);
  const withoutReuse = await runSession(false);

  // A session that outgrows the model's positions: 32 tokens a turn until its oldest turns are being dropped.
  engine.clearCache();
  const history: TurnText[] = [];
  const perTurn: LongSession['perTurn'] = [];
  for (let i = 0; i < longTurns; i++) {
    const prompt = `${SESSION_PROMPTS[i % SESSION_PROMPTS.length]} (step ${i + 1})`;
    const r = await engine.generate({ context: promptContext(MTPB_HEADER, history, prompt), temperature: 0, maxNewTokens: 32, stop: 'none' });
    perTurn.push({ promptTokens: r.promptTokens, reusedTokens: r.reusedTokens, droppedTurns: r.droppedTurns, ms: r.timings.totalMs });
    history.push({ prompt, code: r.text });
  }
  await engine.dispose();
  return {
    model,
    prefill,
    decode,
    session: { turns, withReuseMs: withReuse.ms, withoutReuseMs: withoutReuse.ms, promptTokens: withReuse.promptTokens },
    longSession: { turns: longTurns, perTurn },
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  };
}

async function fitText(engine: LocalEngine, tokens: number): Promise<string> {
  let text = CODE;
  while ((await engine.tokenize(text)).length < tokens) text += CODE;
  const ids = (await engine.tokenize(text)).slice(0, tokens);
  return engine.tokenizerInstance.decode(ids);
}

function machine(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    onnxruntime: require('onnxruntime-node/package.json').version as string,
  };
}

function report(name: string, f: Figures): string {
  const sum = (a: number[]): number => a.reduce((x, y) => x + y, 0);
  const fmt = (n: number, d = 1): string => n.toFixed(d);
  const lines = [
    `### ${name} (${f.model.variant}, ${f.model.nLayer} layers, ${f.model.nHead} heads of ${f.model.headDim})`,
    '',
    '| figure | value |',
    '| --- | --- |',
    `| load | ${fmt(f.model.loadMs, 0)} ms |`,
    `| prefill (${f.prefill.tokens} tokens, one call) | ${fmt(f.prefill.tokensPerSecond)} tokens/s (${fmt(f.prefill.ms, 0)} ms) |`,
    `| decode (greedy) | ${fmt(f.decode.tokensPerSecond)} tokens/s |`,
    `| time to first token (${'MTPB header + one prompt'}) | ${fmt(f.decode.timeToFirstTokenMs, 0)} ms |`,
    `| peak RSS of the process | ${fmt(f.peakRssMb, 0)} MB |`,
    `| ${f.session.turns}-turn session, 32 tokens a turn, with prefix reuse | ${fmt(sum(f.session.withReuseMs), 0)} ms in all |`,
    `| the same, every turn from an empty cache | ${fmt(sum(f.session.withoutReuseMs), 0)} ms in all |`,
    longRow(f.longSession),
    '',
    '| turn | context tokens | with reuse (ms) | without (ms) |',
    '| --- | --- | --- | --- |',
    ...f.session.withReuseMs.map((ms, i) => `| ${i + 1} | ${f.session.promptTokens[i]} | ${fmt(ms, 0)} | ${fmt(f.session.withoutReuseMs[i], 0)} |`),
  ];
  return lines.join('\n');
}

function longRow(long: LongSession): string {
  const d = droppingFigures(long);
  if (d.turns === 0) return `| ${long.turns}-turn session: never outgrew the model's positions (no turn dropped) | - |`;
  return `| ${long.turns}-turn session, once old turns are dropped (${d.turns} turns) | ${(100 * d.reuse).toFixed(1)}% of each context reused from the cache, ${d.meanMs.toFixed(0)} ms a turn |`;
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

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      variant: { type: 'string' },
      threads: { type: 'string' },
      turns: { type: 'string', default: '10' },
      'long-turns': { type: 'string', default: '60' },
      'build-350m': { type: 'string' },
      out: { type: 'string' },
    },
  });
  const threads = values.threads ? Number(values.threads) : undefined;
  const turns = Number(values.turns);
  const targets: { name: string; dir: string; variant?: string }[] = [];
  if (values.model) targets.push({ name: values.model, dir: values.model, variant: values.variant });
  else targets.push({ name: 'bundled tiny random model', dir: bundledModelDir(), variant: values.variant });
  if (values['build-350m']) {
    const dir = path.resolve(values['build-350m']);
    if (dir.startsWith(path.resolve(__dirname, '..') + path.sep)) throw new Error('--build-350m must point outside the repository');
    build350mShape(dir);
    targets.push({ name: 'random weights, codegen-350M-mono shape', dir });
  }

  const info = machine();
  const results: Record<string, Figures> = {};
  console.log(`## Benchmark (${new Date().toISOString().slice(0, 10)})\n\nMachine: ${info.cpu}, ${info.cores} cores, ${info.memoryGb} GB, ${info.os}; Node ${info.node}, onnxruntime-node ${info.onnxruntime}${threads ? `, ${threads} threads` : ''}.\n`);
  for (const target of targets) {
    // Each model in its own process would give cleaner RSS figures; here peak RSS is cumulative, so the
    // larger model is measured last.
    const figures = await benchModel(target.dir, target.variant, threads, turns, Number(values['long-turns']));
    results[target.name] = figures;
    console.log(report(target.name, figures) + '\n');
  }
  const out = values.out ?? path.join('bench-results', `bench-${Date.now()}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ machine: info, results }, null, 2));
  console.log(`(figures saved to ${out})`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
