// npm run bench:speculation -- [--model DIR] [--variants fp32,int8,int4] [--shapes 350M,2B] [--shape-variants int4]
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
import { salesforceShape } from '../src/engine/checkpoint/salesforceModels';
import { compiledFile, compileRandomModel } from '../src/engine/compiler/compile';
import type { Precision } from '../src/engine/compiler/graphBuilder';
import { ContextCache } from '../src/engine/contextCache';
import { LocalEngine } from '../src/engine/localEngine';
import { openModel } from '../src/engine/modelLoader';
import { CodeGenTokenizer } from '../src/engine/tokenizer';
import type { LoadOptions } from '../src/protocol/engine';
import { measureReadBandwidth } from './memoryBandwidth';
import { floorMs, weightBytes } from './report';

const TRAINED = '/work/trained-codegen';
const STDLIB = '/usr/lib/python3.11';
const tokenizer = new CodeGenTokenizer();
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n: number, d = 2): string => (Number.isFinite(n) ? n.toFixed(d) : '-');

interface VerifyCost {
  readonly model: string;
  readonly variant: string;
  readonly stepMs: number;
  /** k -> median verify ms / median step ms. */
  readonly ratio: Record<number, number>;
}

/** Median step and verify times after a 500-token context, the cache rolled back after each (alternating). */
async function verifyCost(modelDir: string, variant: string, label: string, pairs: number, context: readonly number[]): Promise<VerifyCost> {
  const opened = await openModel({ modelDir, variant });
  const cache = new ContextCache(opened.decoder);
  try {
    await cache.sync(context.slice(0, 500));
    const length = cache.length;
    const next = cache.nextLogits.slice();
    const times: Record<number, number[]> = { 0: [], 2: [], 4: [], 8: [] };
    const guess = context.slice(500, 509);
    for (let round = 0; round < pairs; round++) {
      // The order turns each round, so that drift in the machine's speed falls on all of them alike.
      const order = [0, 2, 4, 8].map((_, i, all) => all[(i + round) % all.length]);
      for (const k of order) {
        const started = performance.now();
        if (k === 0) await cache.step(guess[0]);
        else await cache.verify(guess.slice(0, k + 1));
        times[k].push(performance.now() - started);
        cache.keep(length, next);
      }
    }
    const stepMs = median(times[0]);
    return { model: label, variant, stepMs, ratio: Object.fromEntries([2, 4, 8].map((k) => [k, median(times[k]) / stepMs])) };
  } finally {
    await opened.decoder.dispose();
  }
}

/** Standard-library files, chosen deterministically (every n-th of the larger ones, tests left out). */
function continuationPrompts(count: number): string[] {
  const files = fs
    .readdirSync(STDLIB)
    .filter((f) => f.endsWith('.py') && !f.startsWith('test'))
    .sort()
    .map((f) => path.join(STDLIB, f))
    .filter((f) => fs.statSync(f).size > 8000);
  const step = Math.max(1, Math.floor(files.length / count));
  return files
    .filter((_, i) => i % step === 0)
    .slice(0, count)
    .map((f) => {
      const ids = tokenizer.encode(fs.readFileSync(f, 'utf8')).slice(0, 400);
      return tokenizer.decode(ids);
    });
}

interface LookupFigures {
  readonly proposer: string;
  readonly prompts: number;
  readonly mismatches: number;
  readonly acceptance: number;
  readonly tokensPerCheck: number;
  readonly plainTokensPerSecond: number;
  readonly tokensPerSecond: number;
  readonly speedUp: number;
  readonly plainMsPerToken: number;
  readonly msPerToken: number;
}

/** Greedy continuations with speculation off and on, alternating per prompt; the same tokens are checked. */
async function lookupRun(load: LoadOptions, speculate: LoadOptions['speculate'], prompts: readonly string[], tokens: number): Promise<LookupFigures> {
  const plain = new LocalEngine();
  const spec = new LocalEngine();
  await plain.load({ ...load, speculate: 'off' });
  await spec.load({ ...load, speculate });
  const ms = { plain: 0, spec: 0 };
  const count = { plain: 0, spec: 0 };
  let mismatches = 0;
  let proposed = 0;
  let accepted = 0;
  let checks = 0;
  let proposer = '';
  try {
    for (const [i, prompt] of prompts.entries()) {
      const request = { context: { header: '', turns: [], prompt }, maxNewTokens: tokens, temperature: 0, stop: 'none' as const };
      const runs = i % 2 === 0 ? [plain, spec] : [spec, plain];
      const results = new Map<LocalEngine, Awaited<ReturnType<LocalEngine['generate']>>>();
      for (const engine of runs) results.set(engine, await engine.generate(request));
      const a = results.get(plain)!;
      const b = results.get(spec)!;
      if (JSON.stringify(a.ids) !== JSON.stringify(b.ids)) mismatches++;
      ms.plain += a.timings.decodeMs;
      ms.spec += b.timings.decodeMs;
      count.plain += a.timings.decodeTokens;
      count.spec += b.timings.decodeTokens;
      proposed += b.speculation?.proposed ?? 0;
      accepted += b.speculation?.accepted ?? 0;
      checks += b.speculation?.verifies ?? 0;
      proposer = b.speculation?.proposer ?? proposer;
    }
  } finally {
    await Promise.all([plain.dispose(), spec.dispose()]);
  }
  const plainRate = (count.plain * 1000) / ms.plain;
  const rate = (count.spec * 1000) / ms.spec;
  return {
    proposer,
    prompts: prompts.length,
    mismatches,
    acceptance: proposed ? accepted / proposed : 0,
    tokensPerCheck: checks ? (accepted + checks) / checks : 1,
    plainTokensPerSecond: plainRate,
    tokensPerSecond: rate,
    speedUp: rate / plainRate,
    plainMsPerToken: 1000 / plainRate,
    msPerToken: 1000 / rate,
  };
}

/** A random-weight graph of a Salesforce shape, built once into the work folder. */
async function shapeModel(shape: string, precision: Precision, work: string): Promise<string> {
  const dir = path.join(work, `random-${shape}-${precision}`);
  if (!fs.existsSync(compiledFile(dir, precision))) {
    const started = performance.now();
    process.stderr.write(`building the random ${shape} graph at ${precision} in ${dir} ...\n`);
    await compileRandomModel(salesforceShape(shape)!, precision, dir);
    process.stderr.write(`  built in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  }
  return dir;
}

function verifyTable(rows: readonly VerifyCost[]): string {
  const lines = ['| model | precision | one step (ms) | k = 2 | k = 4 | k = 8 |', '| --- | --- | ---: | ---: | ---: | ---: |'];
  for (const r of rows) lines.push(`| ${r.model} | ${r.variant} | ${fmt(r.stepMs, 1)} | ${fmt(r.ratio[2])}x | ${fmt(r.ratio[4])}x | ${fmt(r.ratio[8])}x |`);
  return lines.join('\n');
}

function lookupTable(rows: readonly (LookupFigures & { variant: string; floorMs: number })[]): string {
  const lines = [
    '| precision | proposer | same tokens | accepted | tokens per check | plain tok/s | speculative tok/s | speed-up | floor ms/token | plain / floor | speculative / floor |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.variant} | ${r.proposer} | ${r.prompts - r.mismatches}/${r.prompts} | ${fmt(100 * r.acceptance, 1)}% | ${fmt(r.tokensPerCheck)} | ${fmt(r.plainTokensPerSecond, 1)} | ${fmt(r.tokensPerSecond, 1)} | ${fmt(r.speedUp)}x | ${fmt(r.floorMs, 3)} | ${fmt(r.plainMsPerToken / r.floorMs)}x | ${fmt(r.msPerToken / r.floorMs)}x |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      variants: { type: 'string', default: 'fp32,int8,int4' },
      shapes: { type: 'string', default: '350M' },
      'shape-variants': { type: 'string', default: 'int4' },
      draft: { type: 'string' },
      files: { type: 'string', default: '12' },
      tokens: { type: 'string', default: '128' },
      pairs: { type: 'string', default: '30' },
      work: { type: 'string', default: path.join(os.tmpdir(), 'codegen-mt-speculation-bench') },
      out: { type: 'string' },
    },
  });
  const model = values.model ?? (fs.existsSync(path.join(TRAINED, 'config.json')) ? TRAINED : bundledModelDir());
  const notes: string[] = [];
  if (model === bundledModelDir()) notes.push('the bundled random model: random weights make acceptance meaningless; train one with models/train_small_codegen.py (/work/trained-codegen)');
  const variants = values.variants!.split(',').filter(Boolean) as Precision[];
  const prompts = continuationPrompts(Number(values.files));
  const context = tokenizer.encode(fs.readFileSync(path.join(STDLIB, 'argparse.py'), 'utf8')).slice(0, 520);
  const pairs = Number(values.pairs);

  const verify: VerifyCost[] = [];
  for (const variant of variants) verify.push(await verifyCost(model, variant, path.basename(model), pairs, context));
  for (const shape of values.shapes!.split(',').filter(Boolean)) {
    for (const precision of values['shape-variants']!.split(',').filter(Boolean) as Precision[]) {
      try {
        verify.push(await verifyCost(await shapeModel(shape, precision, values.work!), precision, `random ${shape}`, pairs, context));
      } catch (err) {
        notes.push(`${shape} ${precision}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  const bandwidth = await measureReadBandwidth(Math.max(1, os.availableParallelism()));
  const lookup = [];
  for (const variant of variants) {
    const floor = floorMs(weightBytes(model, variant), bandwidth);
    lookup.push({ variant, floorMs: floor, ...(await lookupRun({ modelDir: model, variant }, 'lookup', prompts, Number(values.tokens))) });
    if (values.draft) lookup.push({ variant, floorMs: floor, ...(await lookupRun({ modelDir: model, variant }, { draftModelDir: values.draft }, prompts, Number(values.tokens))) });
  }

  const report = [
    `# Speculative decoding (${new Date().toISOString().slice(0, 10)}, ${os.cpus()[0]?.model ?? 'cpu'}, ${os.availableParallelism()} threads)`,
    '',
    `Model: ${model}. Read bandwidth ${fmt(bandwidth.gbPerSecond, 1)} GB/s (${bandwidth.method}).`,
    ...notes.map((n) => `- note: ${n}`),
    '',
    '## Cost of checking k guesses (one run of k + 1 tokens) relative to one decode step',
    '',
    verifyTable(verify),
    '',
    `## Prompt lookup on standard-library continuations (${prompts.length} files, ${values.tokens} greedy tokens each)`,
    '',
    lookupTable(lookup),
    '',
  ].join('\n');
  process.stdout.write(report);
  const out = values.out ?? path.join('bench-results', `speculation-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify({ model, bandwidth, verify, lookup, notes }, null, 2) + '\n');
  process.stderr.write(`figures written to ${out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:speculation: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
