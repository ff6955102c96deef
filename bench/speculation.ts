// npm run bench:speculation -- [--model DIR] [--variants fp32,int8,int4] [--shapes 350M,2B] [--shape-variants int4,int8]
//                               [--draft DIR] [--files N] [--tokens N] [--pairs N] [--work DIR] [--out FILE]
// Speculative decoding, measured as ratios in one run (the machines are shared and noisy; every figure pairs the
// two things it compares, alternating, and takes medians):
//   verify cost   one run that checks k = 2, 4, 8 guesses (k + 1 tokens fed) against one decode step, after a
//                 500-token context, on the model and on random-weight graphs of Salesforce's shapes;
//   lookup        greedy continuations of standard-library files (the first ~400 tokens as the context, --tokens
//                 new ones) with speculation off and with prompt lookup (and --draft DIR): the outputs compared
//                 token for token, the share of guessed tokens accepted, tokens per check, tokens/s and speed-up;
//   floor         decode ms/token against the memory-bandwidth floor (weights read per token / read bandwidth),
//                 plain and with lookup.
// Prints markdown and writes JSON (--out, else bench-results/speculation-<time>.json).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { bundledModelDir } from '../src/engine/bundledModel';
import { parameterCount } from '../src/engine/checkpoint/checkpointFolder';
import { salesforceConfig, salesforceShape } from '../src/engine/checkpoint/salesforceModels';
import { COMPILER_VERSION, compiledFile, compiledInfo, compileRandomModel, isPrecision } from '../src/engine/compiler/compile';
import type { Precision } from '../src/engine/compiler/graphBuilder';
import { ContextCache } from '../src/engine/contextCache';
import { LocalEngine } from '../src/engine/localEngine';
import { openModel } from '../src/engine/modelLoader';
import { CodeGenTokenizer } from '../src/engine/tokenizer';
import type { LoadOptions } from '../src/protocol/engine';
import { measureReadBandwidth, type Bandwidth } from './memoryBandwidth';
import { bytesPerWeight, floorMs, weightBytes } from './report';

const TRAINED = '/work/trained-codegen';
const STDLIB = '/usr/lib/python3.11';
const CONTEXT = 500;
const KS = [2, 4, 8] as const;
const tokenizer = new CodeGenTokenizer();
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n: number, d = 2): string => (Number.isFinite(n) ? n.toFixed(d) : '-');
const log = (line: string): boolean => process.stderr.write(`[speculation] ${line}\n`);

interface VerifyCost {
  readonly model: string;
  readonly variant: string;
  readonly stepMs: number;
  /** k -> median over rounds of (verify ms / step ms of the same round). */
  readonly ratio: Record<number, number>;
  readonly floorMs: number;
  readonly buildSeconds?: number;
}

/** Per round: one step and one verify per k, in an order that turns each round; the cache rolled back after each. */
async function timeRounds(cache: ContextCache, guess: readonly number[], pairs: number): Promise<Record<number, number[]>> {
  const length = cache.length;
  const next = cache.nextLogits.slice();
  const ks = [0, ...KS];
  const times: Record<number, number[]> = Object.fromEntries(ks.map((k) => [k, []]));
  for (let round = -2; round < pairs; round++) {
    for (const k of ks.map((_, i) => ks[(i + Math.max(0, round)) % ks.length])) {
      const started = performance.now();
      if (k === 0) await cache.step(guess[0]);
      else await cache.verify(guess.slice(0, k + 1));
      if (round >= 0) times[k].push(performance.now() - started); // two warm-up rounds left out
      cache.keep(length, next);
    }
  }
  return times;
}

async function verifyCost(modelDir: string, variant: string, label: string, pairs: number, context: readonly number[], bandwidth: Bandwidth): Promise<VerifyCost> {
  const opened = await openModel({ modelDir, variant });
  const cache = new ContextCache(opened.decoder);
  try {
    if (!cache.verifies) throw new Error(`${label} ${variant}: the graph gives no logits per position (compile it again)`);
    await cache.sync(context.slice(0, CONTEXT));
    const times = await timeRounds(cache, context.slice(CONTEXT, CONTEXT + 9), pairs);
    const ratio = Object.fromEntries(KS.map((k) => [k, median(times[k].map((ms, i) => ms / times[0][i]))]));
    return { model: label, variant, stepMs: median(times[0]), ratio, floorMs: floorMs(weightBytes(opened.modelDir, variant), bandwidth) };
  } finally {
    await opened.decoder.dispose();
  }
}

/** Standard-library files, chosen deterministically: the model's held-out files where it lists them. */
function continuationFiles(count: number, modelDir: string): string[] {
  const heldout = path.join(modelDir, 'heldout.json');
  const listed = fs.existsSync(heldout) ? (JSON.parse(fs.readFileSync(heldout, 'utf8')) as { heldout_files?: string[] }).heldout_files : undefined;
  const all = listed ?? fs.readdirSync(STDLIB).filter((f) => f.endsWith('.py') && !f.startsWith('test'));
  const files = all
    .map((f) => path.join(STDLIB, f))
    .filter((f) => fs.existsSync(f) && fs.statSync(f).size > 8000)
    .sort();
  const step = Math.max(1, Math.floor(files.length / count));
  return files.filter((_, i) => i % step === 0).slice(0, count);
}

const promptOf = (file: string): string => tokenizer.decode(tokenizer.encode(fs.readFileSync(file, 'utf8')).slice(0, 400));

interface LookupFigures {
  readonly proposer: string;
  readonly prompts: number;
  readonly mismatches: number;
  readonly acceptance: number;
  readonly tokensPerCheck: number;
  /** Decoded tokens per model run, plain steps included. */
  readonly tokensPerRun: number;
  readonly plainTokensPerSecond: number;
  readonly tokensPerSecond: number;
  /** Total plain decode time / total speculative decode time (per token). */
  readonly speedUp: number;
  /** Median over prompts of the same ratio, prompt by prompt. */
  readonly medianSpeedUp: number;
  readonly plainMsPerToken: number;
  readonly msPerToken: number;
}

type Result = Awaited<ReturnType<LocalEngine['generate']>>;

/** Both engines on each prompt, the first of them alternating prompt by prompt. */
async function pairedRuns(plain: LocalEngine, spec: LocalEngine, prompts: readonly string[], tokens: number): Promise<[Result, Result][]> {
  const pairs: [Result, Result][] = [];
  for (const [i, prompt] of prompts.entries()) {
    const request = { context: { header: '', turns: [], prompt }, maxNewTokens: tokens, temperature: 0, stop: 'none' as const };
    if (i % 2 === 0) {
      const a = await plain.generate(request);
      pairs.push([a, await spec.generate(request)]);
    } else {
      const b = await spec.generate(request);
      pairs.push([await plain.generate(request), b]);
    }
  }
  return pairs;
}

function lookupFigures(pairs: readonly [Result, Result][]): LookupFigures {
  const sum = (f: (r: [Result, Result]) => number): number => pairs.reduce((n, r) => n + f(r), 0);
  const msPerToken = (r: Result): number => r.timings.decodeMs / Math.max(1, r.timings.decodeTokens);
  const proposed = sum(([, b]) => b.speculation?.proposed ?? 0);
  const accepted = sum(([, b]) => b.speculation?.accepted ?? 0);
  const checks = sum(([, b]) => b.speculation?.verifies ?? 0);
  const decoded = sum(([, b]) => b.timings.decodeTokens);
  const plainRate = (sum(([a]) => a.timings.decodeTokens) * 1000) / sum(([a]) => a.timings.decodeMs);
  const rate = (decoded * 1000) / sum(([, b]) => b.timings.decodeMs);
  return {
    proposer: pairs.find(([, b]) => b.speculation)?.[1].speculation?.proposer ?? '-',
    prompts: pairs.length,
    mismatches: pairs.filter(([a, b]) => JSON.stringify(a.ids) !== JSON.stringify(b.ids)).length,
    acceptance: proposed ? accepted / proposed : 0,
    tokensPerCheck: checks ? (accepted + checks) / checks : 1,
    tokensPerRun: decoded / Math.max(1, decoded - accepted),
    plainTokensPerSecond: plainRate,
    tokensPerSecond: rate,
    speedUp: rate / plainRate,
    medianSpeedUp: median(pairs.map(([a, b]) => msPerToken(a) / msPerToken(b))),
    plainMsPerToken: 1000 / plainRate,
    msPerToken: 1000 / rate,
  };
}

async function lookupRun(load: LoadOptions, speculate: LoadOptions['speculate'], prompts: readonly string[], tokens: number): Promise<LookupFigures> {
  const plain = new LocalEngine();
  const spec = new LocalEngine();
  try {
    await plain.load({ ...load, speculate: 'off' });
    await spec.load({ ...load, speculate });
    await pairedRuns(plain, spec, prompts.slice(0, 1), 16); // warm-up
    return lookupFigures(await pairedRuns(plain, spec, prompts, tokens));
  } finally {
    await Promise.all([plain.dispose(), spec.dispose()]);
  }
}

/** Bytes the system can still give (MemAvailable), else Node's free memory. */
function availableBytes(): number {
  try {
    const kb = /MemAvailable:\s+(\d+)/.exec(fs.readFileSync('/proc/meminfo', 'utf8'))?.[1];
    if (kb) return Number(kb) * 1024;
  } catch {
    // not Linux
  }
  return os.freemem();
}

/** A random-weight graph of a Salesforce shape, built once into the work folder (again after a compiler change). */
async function shapeModel(name: string, precision: Precision, work: string): Promise<{ dir: string; buildSeconds?: number }> {
  const shape = salesforceShape(name);
  if (!shape) throw new Error(`unknown shape ${name}`);
  const bytes = parameterCount(salesforceConfig(shape)) * bytesPerWeight(precision);
  const available = availableBytes();
  if (2 * bytes > available) throw new Error(`skipped: needs about ${fmt(bytes / 2 ** 30, 1)} GiB of weights (twice that to load), ${fmt(available / 2 ** 30, 1)} GiB available`);
  const dir = path.join(work, `random-${name}-${precision}`);
  if (fs.existsSync(compiledFile(dir, precision)) && compiledInfo(dir)?.compilerVersion === COMPILER_VERSION) return { dir };
  fs.rmSync(dir, { recursive: true, force: true });
  const started = performance.now();
  log(`building the random ${name} graph at ${precision} (${fmt(bytes / 2 ** 30, 2)} GiB of weights) in ${dir} ...`);
  await compileRandomModel(shape, precision, dir);
  const buildSeconds = (performance.now() - started) / 1000;
  log(`  built in ${fmt(buildSeconds, 0)} s`);
  return { dir, buildSeconds };
}

function verifyTable(rows: readonly VerifyCost[]): string {
  const lines = [
    '| model | precision | one step (ms) | floor (ms) | step / floor | k = 2 | k = 4 | k = 8 |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const ks = KS.map((k) => `${fmt(r.ratio[k])}x`).join(' | ');
    lines.push(`| ${r.model} | ${r.variant} | ${fmt(r.stepMs, 1)} | ${fmt(r.floorMs, 2)} | ${fmt(r.stepMs / r.floorMs, 1)}x | ${ks} |`);
  }
  return lines.join('\n');
}

type LookupRow = LookupFigures & { variant: string; floorMs: number };

function lookupTable(rows: readonly LookupRow[]): string {
  const lines = [
    '| precision | proposer | same tokens | accepted | tokens per check | tokens per run | plain tok/s | speculative tok/s | speed-up (total; median of prompts) | floor ms/token | plain / floor | speculative / floor |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.variant} | ${r.proposer} | ${r.prompts - r.mismatches}/${r.prompts} | ${fmt(100 * r.acceptance, 1)}% | ${fmt(r.tokensPerCheck)} | ${fmt(r.tokensPerRun)} | ` +
        `${fmt(r.plainTokensPerSecond, 1)} | ${fmt(r.tokensPerSecond, 1)} | ${fmt(r.speedUp)}x; ${fmt(r.medianSpeedUp)}x | ${fmt(r.floorMs, 3)} | ` +
        `${fmt(r.plainMsPerToken / r.floorMs)}x | ${fmt(r.msPerToken / r.floorMs)}x |`,
    );
  }
  return lines.join('\n');
}

function options() {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      variants: { type: 'string', default: 'fp32,int8,int4' },
      shapes: { type: 'string', default: '350M' },
      'shape-variants': { type: 'string', default: 'int4,int8' },
      draft: { type: 'string' },
      files: { type: 'string', default: '12' },
      tokens: { type: 'string', default: '128' },
      pairs: { type: 'string', default: '30' },
      work: { type: 'string', default: path.join(os.tmpdir(), 'codegen-mt-speculation-bench') },
      out: { type: 'string' },
    },
  });
  const precisions = (list: string): Precision[] => list.split(',').filter(Boolean).map((v) => (isPrecision(v) ? v : fail(`unknown precision ${v}`)));
  return {
    model: values.model ?? (fs.existsSync(path.join(TRAINED, 'config.json')) ? TRAINED : bundledModelDir()),
    variants: precisions(values.variants),
    shapes: values.shapes.split(',').filter(Boolean),
    shapeVariants: precisions(values['shape-variants']),
    draft: values.draft,
    files: Number(values.files),
    tokens: Number(values.tokens),
    pairs: Number(values.pairs),
    work: values.work,
    out: values.out ?? path.join('bench-results', `speculation-${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
  };
}
type Options = ReturnType<typeof options>;

async function measureVerify(o: Options, bandwidth: Bandwidth, notes: string[]): Promise<VerifyCost[]> {
  const context = tokenizer.encode(fs.readFileSync(path.join(STDLIB, 'argparse.py'), 'utf8')).slice(0, CONTEXT + 20);
  const rows: VerifyCost[] = [];
  for (const variant of o.variants) {
    log(`verify cost: ${path.basename(o.model)} ${variant}`);
    rows.push(await verifyCost(o.model, variant, path.basename(o.model), o.pairs, context, bandwidth));
  }
  for (const shape of o.shapes) {
    for (const precision of o.shapeVariants) {
      try {
        const { dir, buildSeconds } = await shapeModel(shape, precision, o.work);
        log(`verify cost: random ${shape} ${precision}`);
        rows.push({ ...(await verifyCost(dir, precision, `random ${shape}`, o.pairs, context, bandwidth)), buildSeconds });
        if (buildSeconds !== undefined) notes.push(`random ${shape} ${precision} built in ${fmt(buildSeconds, 0)} s (cached in ${o.work})`);
      } catch (err) {
        notes.push(`${shape} ${precision}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
  return rows;
}

async function measureLookup(o: Options, bandwidth: Bandwidth, prompts: readonly string[]): Promise<LookupRow[]> {
  const rows: LookupRow[] = [];
  const proposers: LoadOptions['speculate'][] = ['lookup', ...(o.draft ? [{ draftModelDir: o.draft }] : [])];
  for (const variant of o.variants) {
    const floor = floorMs(weightBytes(o.model, variant), bandwidth);
    for (const speculate of proposers) {
      log(`lookup: ${variant}, ${typeof speculate === 'string' ? speculate : 'draft'}, ${prompts.length} prompts`);
      rows.push({ variant, floorMs: floor, ...(await lookupRun({ modelDir: o.model, variant }, speculate, prompts, o.tokens)) });
    }
  }
  return rows;
}

async function main(): Promise<void> {
  const o = options();
  const started = performance.now();
  const notes: string[] = [];
  if (o.model === bundledModelDir()) {
    notes.push('THE BUNDLED RANDOM MODEL: random weights make acceptance meaningless; train one with models/train_small_codegen.py (/work/trained-codegen) or pass --model DIR');
    log(`WARNING: ${notes[0]}`);
  }
  const files = continuationFiles(o.files, o.model);
  const bandwidth = await measureReadBandwidth(Math.max(1, os.availableParallelism()));
  const verify = await measureVerify(o, bandwidth, notes);
  const lookup = await measureLookup(o, bandwidth, files.map(promptOf));
  const report = [
    `# Speculative decoding (${new Date().toISOString().slice(0, 10)}, ${os.cpus()[0]?.model ?? 'cpu'}, ${os.availableParallelism()} threads)`,
    '',
    `Model: ${o.model}. Read bandwidth ${fmt(bandwidth.gbPerSecond, 1)} GB/s (${bandwidth.method}, ${bandwidth.threads} threads). ${fmt((performance.now() - started) / 1000, 0)} s in all; load average ${os.loadavg().map((n) => fmt(n, 1)).join(' / ')} (1 / 5 / 15 min) at the end.`,
    ...notes.map((n) => `- note: ${n}`),
    '',
    `## Cost of checking k guesses (one run of k + 1 tokens after ${CONTEXT} tokens) relative to one decode step (median of ${o.pairs} paired ratios)`,
    '',
    verifyTable(verify),
    '',
    ...(lookup.length ? [`## Prompt lookup on standard-library continuations (${files.length} files, ~400 tokens of context, ${o.tokens} greedy tokens each)`, '', lookupTable(lookup), ''] : []),
  ].join('\n');
  process.stdout.write(report);
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  fs.writeFileSync(o.out, JSON.stringify({ date: new Date().toISOString(), options: o, files, bandwidth, verify, lookup, notes }, null, 2) + '\n');
  log(`figures written to ${o.out}`);
}

function fail(message: string): never {
  process.stderr.write(`bench:speculation: ${message}\n`);
  process.exit(2);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:speculation: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
