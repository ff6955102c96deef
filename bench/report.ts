// Weight bytes and the memory-bandwidth floor of decoding, and the markdown the bench prints.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Bandwidth } from './memoryBandwidth';
import type { EngineFigures, LongSession } from './workload';

export interface WeightBytes {
  /** Bytes per weight assumed for the variant (scales and zero points of quantised weights left out). */
  readonly bytesPerWeight: number;
  /** Every parameter of the model at that width. */
  readonly total: number;
  /** Read once per decoded token: every parameter but the token embedding table (one row of it is read). */
  readonly perToken: number;
}

/** Nominal bytes per weight of a variant name (ours: fp32, fp16, int8, int4; the published files' stems too). */
export function bytesPerWeight(variant: string): number {
  const v = variant.toLowerCase();
  if (/int4|q4|bnb4|4bit/.test(v)) return 0.5;
  if (/int8|uint8|quantized|q8/.test(v)) return 1;
  if (/fp16|f16|half/.test(v)) return 2;
  return 4;
}

/** CodeGen's parameters from config.json: embedding, per layer ln_1, qkv, out_proj, fc_in, fc_out; ln_f, lm_head. */
export function weightBytes(modelDir: string, variant: string): WeightBytes {
  const c = JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8')) as Record<string, number | null>;
  const e = c.n_embd as number;
  const v = c.vocab_size as number;
  const inner = c.n_inner ?? 4 * e;
  const layer = 2 * e + 3 * e * e + e * e + (e * inner + inner) + (inner * e + e);
  const embedding = v * e;
  const rest = (c.n_layer as number) * layer + 2 * e + (e * v + v);
  const b = bytesPerWeight(variant);
  return { bytesPerWeight: b, total: (embedding + rest) * b, perToken: rest * b };
}

export interface Row {
  readonly label: string;
  readonly figures: EngineFigures;
  readonly weights: WeightBytes;
}

const fmt = (n: number, d = 0): string => (Number.isFinite(n) ? n.toFixed(d) : '-');

export function floorMs(weights: WeightBytes, bandwidth: Bandwidth): number {
  return (weights.perToken / (bandwidth.gbPerSecond * 1e9)) * 1000;
}

export function flatness(ms: readonly number[]): number {
  return ms.length ? Math.max(...ms) / Math.min(...ms) : NaN;
}

/** One row per engine/variant. */
export function summaryTable(rows: readonly Row[], bandwidth: Bandwidth): string {
  const reference = rows.find((r) => r.figures.engine === 'transformers.js');
  const lines = [
    '| engine / variant | load s | TTFT after 1k history ms | prefill tok/s (512, cold) | decode ms/token | decode speedup vs transformers.js fp32 | per-turn ms first / last (max/min) | peak RSS MB (÷ weight bytes) | floor ms/token (measured ÷ floor) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const { label, figures: f, weights } of rows) {
    const turns = f.session.perTurnMs;
    const floor = floorMs(weights, bandwidth);
    const speedup = reference ? `${fmt(reference.figures.decode.msPerToken / f.decode.msPerToken, 2)}×` : '-';
    const load = `${fmt(f.loadMs / 1000, 1)}${f.compileMs !== undefined ? ` (compiling ${fmt(f.compileMs / 1000, 1)})` : ''}`;
    const ratio = f.decode.msPerToken / floor;
    lines.push(
      `| ${label} | ${load} | ${fmt(f.ttft.ms)} | ${fmt(f.prefill.tokensPerSecond)} | ${fmt(f.decode.msPerToken, 1)} | ${speedup} | ` +
        `${fmt(turns[0])} / ${fmt(turns[turns.length - 1])} (${fmt(flatness(turns), 2)}) | ${fmt(f.peakRssMb)} (${fmt((f.peakRssMb * 2 ** 20) / weights.total, 2)}) | ` +
        `${fmt(floor, floor < 1 ? 2 : 1)} (${fmt(ratio, 2)}×${ratio < 1 ? ', below the floor: the bandwidth was underestimated' : ''}) |`,
    );
  }
  return lines.join('\n');
}

/** Notes under the table: what each column means and what each engine did with its KV cache. */
export function notes(rows: readonly Row[], bandwidth: Bandwidth): string {
  const methods = Object.entries(bandwidth.methods)
    .map(([name, m]) => `${name} ${fmt(m.gbPerSecond, 1)} (passes ${m.passes.map((g) => fmt(g, 1)).join(', ')})`)
    .join('; ');
  const lines = [
    `Memory read bandwidth: ${fmt(bandwidth.gbPerSecond, 1)} GB/s with ${bandwidth.threads} threads, the highest of three ways of reading far more than the caches hold ` +
      `(best pass of each, before and after the engines ran): ${methods}. js-sum: worker threads summing 512 MB Float64Arrays; ort-reducesum: onnxruntime ReduceSum over 1 GiB; ` +
      `ort-gemv: onnxruntime MatMul [1, 8192] × [8192, 16384] (512 MB of float32), the kind of product decoding runs.`,
    'Floor: the bytes of weights read per decoded token (every weight but the embedding table, at the variant\'s nominal width; KV cache reads not counted) ÷ that bandwidth.',
    'TTFT: a 16-token turn after a 1,000-token history that an earlier call prefilled; prefill: 512 tokens on an empty cache; decode: 64 greedy tokens, stop rules off; ' +
      `per-turn: a ${rows[0]?.figures.session.turns ?? '-'}-turn session, 32 greedy tokens a turn, with the KV cache carried over; peak RSS: of the engine's own process (after those measurements), ÷ all its weights at the variant's width.`,
    '',
  ];
  for (const { label, figures: f, weights } of rows) {
    lines.push(
      `- ${label}: ${f.onnxFile}; weights ${fmt(weights.total / 1e9, 3)} GB, ${fmt(weights.perToken / 1e9, 3)} GB read per token; ` +
        `TTFT call reused ${f.ttft.reusedTokens} cached tokens and ran ${f.ttft.prefillTokens}; KV cache: ${f.kvCache}.`,
    );
  }
  return lines.join('\n');
}

/** Per-turn latencies of every engine/variant, side by side. */
export function sessionTable(rows: readonly Row[]): string {
  const turns = Math.max(0, ...rows.map((r) => r.figures.session.perTurnMs.length));
  const head = rows.map((r) => `${r.label} ms (context tokens, reused)`);
  const withoutReuse = rows.filter((r) => r.figures.session.withoutReuseMs);
  const lines = [
    `| turn | ${[...head, ...withoutReuse.map((r) => `${r.label}, every turn from an empty cache, ms`)].join(' | ')} |`,
    `| --- | ${[...head, ...withoutReuse].map(() => '---:').join(' | ')} |`,
  ];
  for (let i = 0; i < turns; i++) {
    const cells = rows.map(({ figures: { session: s } }) => `${fmt(s.perTurnMs[i])} (${s.promptTokens[i]}, ${s.reusedTokens[i]})`);
    const cold = withoutReuse.map((r) => fmt(r.figures.session.withoutReuseMs![i]));
    lines.push(`| ${i + 1} | ${[...cells, ...cold].join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Turns whose context had old turns left out, and the share of their context tokens the cache reused. */
export function longSessionLine(label: string, long: LongSession | undefined): string | undefined {
  if (!long) return undefined;
  const dropping = long.perTurn.filter((t) => t.droppedTurns > 0);
  if (long.turns === 0) return undefined;
  if (dropping.length === 0) return `- ${label}, ${long.turns}-turn session: never outgrew the model's positions (no turn dropped).`;
  const sum = (f: (t: LongSession['perTurn'][number]) => number): number => dropping.reduce((a, t) => a + f(t), 0);
  return (
    `- ${label}, ${long.turns}-turn session, once old turns are dropped (${dropping.length} turns): ` +
    `${fmt((100 * sum((t) => t.reusedTokens)) / sum((t) => t.promptTokens), 1)}% of each context reused from the cache, ${fmt(sum((t) => t.ms) / dropping.length)} ms a turn.`
  );
}
