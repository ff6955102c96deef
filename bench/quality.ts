// Quantization quality of model variants, measured against a reference variant on held-out prompts.
//
//   npm run bench:quality -- --model DIR [--variants fp32,fp16,int8,int4] [--reference published:fp32]
//        [--prompts FILE] [--threads N] [--compiled-cache DIR] [--out FILE]
//
// DIR is a model folder (config.json + onnx/*.onnx); the prompts default to DIR/heldout.json, as written by
// models/train_small_codegen.py: {"prompts": [{"ids": [64 token ids], ...}, ...]}. A variant is what the engine
// loads for that name (openModel: for a published fp32 folder, fp32/fp16/int8/int4 are compiled graphs, made once
// into the compiled cache; other names such as merged or model_int8 are published files), or `published:NAME`,
// the published onnx/ file NAME (a stem or an alias: fp32 = onnx/model.onnx, merged =
// onnx/decoder_model_merged.onnx) run as it is. The reference (default: the published onnx/model.onnx) is
// opened too when it is not in --variants, and is always the first row.
//
// Teacher-forced, on every prompt of N ids, for each prefix length k = 1..N (the model has seen the first k
// ids of the prompt), every variant gives its next-token logits; from them:
//   agreement   share of the N positions per prompt where the variant's greedy choice (argmax over ids < 50295,
//               the tokenizer's vocabulary; the lowest id on a tie) is the reference's;
//   ppl         held-out perplexity: exp(mean -ln p(prompt[k] | prompt[<k])) over k = 1..N-1, and its relative
//               change against the reference;
//   KL          mean KL(reference || variant) of the next-token distributions over the N positions, in nats:
//               more sensitive than agreement, which only sees the top choice;
//   max|dlogit| the largest logit difference from the reference anywhere.
// Every distribution is the softmax over the tokenizer's 50,295 ids, as the engine's perplexity (ids past it are
// padding, never produced, and a compiled graph need not compute their logits).
// The reference's own near ties are reported too (positions whose top-2 margin is under 0.05 nats), since a
// disagreement there means little.
//
// The prompts are fed one token at a time through the engine's ContextCache (the KV-cache decode path the
// extension uses), all variants in lockstep, so no logits are kept beyond the current position. The
// perplexities come from those same rows, not from the cache's own surprisals, so that every figure is computed
// one way for every variant.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ContextCache } from '../src/engine/contextCache';
import { logSumExp } from '../src/engine/decoder';
import { openModel } from '../src/engine/modelLoader';
import { TOKENIZER_VOCAB_SIZE } from '../src/engine/tokenizer';

const NEAR_TIE = 0.05;
const PUBLISHED = 'published:';
/** Every distribution here is over the tokenizer's ids. */
const V = TOKENIZER_VOCAB_SIZE;

/** What the measurement needs from a variant: feed a context (kept across calls), read the next-token logits. */
interface TeacherForced {
  sync(ids: readonly number[]): Promise<unknown>;
  /** At least V wide. */
  readonly nextLogits: Float32Array;
}

interface OpenVariant {
  readonly name: string;
  /** What it runs: the onnx/ file relative to the model folder, or the compiled graph. */
  readonly file: string;
  readonly nPositions: number;
  readonly model: TeacherForced;
  dispose(): Promise<void>;
}

/**
 * Opens one variant of a model folder. The ONLY place that knows how a variant name becomes something that
 * gives next-token logits: adapt this function when the engine's loading API changes.
 */
async function openVariant(modelDir: string, name: string, threads: number, compiledCache?: string): Promise<OpenVariant> {
  const published = name.startsWith(PUBLISHED);
  const variant = published ? name.slice(PUBLISHED.length) : name;
  const opened = await openModel({ modelDir, variant, threads: threads > 0 ? threads : undefined, compile: !published, compiledCache });
  const file = opened.compiled
    ? `compiled ${opened.compiled.precision} from ${path.relative(opened.modelDir, opened.compiled.source)}`
    : path.relative(opened.modelDir, opened.onnxFile);
  return {
    name,
    file,
    nPositions: opened.config.nPositions,
    model: new ContextCache(opened.decoder),
    dispose: () => opened.decoder.dispose(),
  };
}

interface Prompt {
  readonly ids: readonly number[];
}

function readPrompts(file: string): Prompt[] {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: ${(err as Error).message} (give the prompts with --prompts FILE, e.g. the heldout.json of models/train_small_codegen.py)`);
  }
  const prompts = (raw as { prompts?: unknown }).prompts;
  if (!Array.isArray(prompts) || prompts.length === 0) throw new Error(`${file}: expected {"prompts": [{"ids": [...]}, ...]}`);
  return prompts.map((p, i) => {
    const ids = (p as { ids?: unknown }).ids;
    if (!Array.isArray(ids) || ids.length < 2 || !ids.every((id) => Number.isInteger(id) && id >= 0 && id < TOKENIZER_VOCAB_SIZE)) {
      throw new Error(`${file}: prompt ${i} needs "ids", at least 2 token ids below ${TOKENIZER_VOCAB_SIZE}`);
    }
    return { ids: ids as number[] };
  });
}

/** Index of the largest of row[0..limit), the lowest index on a tie. */
function argmax(row: Float32Array, limit: number): number {
  let best = 0;
  for (let i = 1; i < limit; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** KL(p || q) in nats of the softmaxes of two logit rows (each exactly V wide), and their largest difference. */
function compareRows(p: Float32Array, q: Float32Array): { kl: number; maxDiff: number } {
  const lp = logSumExp(p);
  const lq = logSumExp(q);
  let kl = 0;
  let maxDiff = 0;
  for (let i = 0; i < V; i++) {
    const a = p[i] - lp;
    kl += Math.exp(a) * (a - (q[i] - lq));
    const d = Math.abs(p[i] - q[i]);
    if (d > maxDiff) maxDiff = d;
  }
  return { kl: Math.max(0, kl), maxDiff };
}

interface Tally {
  agree: number;
  nll: number;
  kl: number;
  maxDiff: number;
}

interface VariantResult {
  variant: string;
  file: string;
  reference: boolean;
  agreement: number | null;
  agreeingPositions: number | null;
  meanNll: number;
  perplexity: number;
  perplexityChange: number | null;
  meanKl: number | null;
  maxAbsLogitDiff: number | null;
  seconds: number;
}

async function measure(variants: OpenVariant[], prompts: Prompt[]): Promise<{ results: VariantResult[]; positions: number; nllPositions: number; nearTies: number }> {
  const tallies: Tally[] = variants.map(() => ({ agree: 0, nll: 0, kl: 0, maxDiff: 0 }));
  const seconds = variants.map(() => 0);
  let positions = 0;
  let nllPositions = 0;
  let nearTies = 0;
  for (const [n, prompt] of prompts.entries()) {
    const ids = prompt.ids;
    for (let k = 1; k <= ids.length; k++) {
      const prefix = ids.slice(0, k);
      const rows: Float32Array[] = [];
      for (const [v, variant] of variants.entries()) {
        const started = performance.now();
        await variant.model.sync(prefix); // feeds only ids[k-1]: the cache holds the prompt's first k-1 ids
        // A copy of the tokenizer's columns: a decoder's row may be reused by its next feed.
        rows.push(variant.model.nextLogits.slice(0, V));
        seconds[v] += (performance.now() - started) / 1000;
      }
      const ref = rows[0];
      const refTop = argmax(ref, V);
      let second = -Infinity;
      for (let i = 0; i < V; i++) if (i !== refTop && ref[i] > second) second = ref[i];
      if (ref[refTop] - second < NEAR_TIE) nearTies++;
      for (let v = 1; v < variants.length; v++) {
        if (argmax(rows[v], V) === refTop) tallies[v].agree++;
        const { kl, maxDiff } = compareRows(ref, rows[v]);
        tallies[v].kl += kl;
        tallies[v].maxDiff = Math.max(tallies[v].maxDiff, maxDiff);
      }
      // -ln p(ids[k] | ids[<k]); the row after the whole prompt (k = N) predicts nothing in it.
      if (k < ids.length) for (const [v, row] of rows.entries()) tallies[v].nll += logSumExp(row) - row[ids[k]];
      positions++;
    }
    nllPositions += ids.length - 1;
    if (process.stderr.isTTY) process.stderr.write(`\r[quality] prompt ${n + 1}/${prompts.length}`);
  }
  if (process.stderr.isTTY) process.stderr.write('\n');
  const refNll = tallies[0].nll / nllPositions;
  const results = variants.map((variant, v): VariantResult => {
    const meanNll = tallies[v].nll / nllPositions;
    const isRef = v === 0;
    return {
      variant: variant.name,
      file: variant.file,
      reference: isRef,
      agreement: isRef ? null : tallies[v].agree / positions,
      agreeingPositions: isRef ? null : tallies[v].agree,
      meanNll,
      perplexity: Math.exp(meanNll),
      perplexityChange: isRef ? null : Math.exp(meanNll - refNll) - 1,
      meanKl: isRef ? null : tallies[v].kl / positions,
      maxAbsLogitDiff: isRef ? null : tallies[v].maxDiff,
      seconds: seconds[v],
    };
  });
  return { results, positions, nllPositions, nearTies };
}

function table(results: VariantResult[], positions: number): string {
  const head = ['variant', 'file', 'agreement', 'ppl', 'ppl change', 'mean KL (nats)', 'max |dlogit|', 'time (s)'];
  const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
  const rows = results.map((r) => [
    r.variant,
    r.file,
    r.agreement === null ? 'reference' : `${pct(r.agreement)} (${r.agreeingPositions}/${positions})`,
    r.perplexity.toFixed(3),
    r.perplexityChange === null ? '-' : `${r.perplexityChange >= 0 ? '+' : ''}${pct(r.perplexityChange)}`,
    r.meanKl === null ? '-' : r.meanKl.toExponential(2),
    r.maxAbsLogitDiff === null ? '-' : r.maxAbsLogitDiff.toExponential(2),
    r.seconds.toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      variants: { type: 'string', default: 'fp32,fp16,int8,int4' },
      reference: { type: 'string', default: `${PUBLISHED}fp32` },
      prompts: { type: 'string' },
      threads: { type: 'string', default: '0' },
      'compiled-cache': { type: 'string' },
      out: { type: 'string' },
    },
  });
  if (!values.model) throw new Error('usage: quality.js --model DIR [--variants fp32,fp16,int8,int4] [--reference published:fp32] [--prompts FILE] [--threads N] [--compiled-cache DIR] [--out FILE]');
  const threads = Number(values.threads);
  if (!Number.isInteger(threads) || threads < 0) throw new Error('--threads must be a whole number (0: the engine default)');
  const promptsFile = values.prompts ?? path.join(values.model, 'heldout.json');
  const prompts = readPrompts(promptsFile);
  const names = [values.reference, ...values.variants.split(',').map((s) => s.trim()).filter((s) => s && s !== values.reference)];

  const variants: OpenVariant[] = [];
  try {
    for (const name of names) variants.push(await openVariant(values.model, name, threads, values['compiled-cache']));
    const longest = Math.max(...prompts.map((p) => p.ids.length));
    for (const v of variants) if (longest > v.nPositions) throw new Error(`a prompt has ${longest} ids, more than ${v.name}'s ${v.nPositions} positions`);
    const started = Date.now();
    const { results, positions, nllPositions, nearTies } = await measure(variants, prompts);
    console.log(`model ${path.resolve(values.model)}; ${prompts.length} prompts from ${promptsFile}: ${positions} teacher-forced positions ` +
      `(${nllPositions} for perplexity); reference ${variants[0].name} has a top-2 margin under ${NEAR_TIE} nats at ${nearTies} of them`);
    console.log(table(results, positions));
    if (values.out) {
      const report = {
        command: `node ${path.relative(process.cwd(), process.argv[1])} ${process.argv.slice(2).join(' ')}`,
        date: new Date().toISOString(),
        model: path.resolve(values.model),
        prompts: { file: path.resolve(promptsFile), count: prompts.length, positions, nllPositions },
        reference: variants[0].name,
        referenceNearTies: { marginNats: NEAR_TIE, positions: nearTies },
        results,
        seconds: (Date.now() - started) / 1000,
      };
      fs.mkdirSync(path.dirname(path.resolve(values.out)), { recursive: true });
      fs.writeFileSync(values.out, JSON.stringify(report, null, 2) + '\n');
      console.log(`wrote ${values.out}`);
    }
  } finally {
    for (const v of variants) await v.dispose();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
