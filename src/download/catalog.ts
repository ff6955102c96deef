// The models offered for download: Salesforce's twelve CodeGen checkpoints (converted on this machine) and the
// ONNX export of the recommended one, each with what it is, its download size, and for each precision the disk
// and memory it needs and the speed to expect on this machine. Pure functions build what the pickers and the
// command line show, so that all of it is tested without VS Code.
import * as os from 'node:os';
import { defaultCheckpointPrecision, parameterCount } from '../engine/checkpoint/checkpointFolder';
import { salesforceConfig, SALESFORCE_SHAPES } from '../engine/checkpoint/salesforceModels';
import { bytesReadPerToken, compiledWeightBytes, runtimeBytes } from '../engine/compiler/footprint';
import { PRECISIONS, type Precision } from '../engine/compiler/graphBuilder';
import type { CodeGenConfig } from '../engine/modelFolder';
import { formatBytes } from './progressMeter';
import { RECOMMENDED_MODEL } from './recommendedModel';

export type TrainingData = 'nl' | 'multi' | 'mono';

export interface CatalogEntry {
  /** The Hugging Face repository. */
  readonly repo: string;
  /** `CodeGen-2B-mono`. */
  readonly name: string;
  /** A checkpoint is converted here to a precision; an ONNX export runs its published 8-bit file. */
  readonly format: 'checkpoint' | 'onnx';
  readonly data: TrainingData;
  /** What it was trained on, in a few words. */
  readonly about: string;
  readonly config: CodeGenConfig;
  /** Bytes of the files a download fetches (the weights file dominates). */
  readonly downloadBytes: number;
  /** The paper's HumanEval pass@1 in percent, where CODEGEN.md states it (Mono only). */
  readonly humanEvalPass1?: number;
  /** What a download converts to (or, for the ONNX export, the precision its published file stands closest to). */
  readonly defaultPrecision: Precision;
}

/** What the precision picker and the memory warning need of a model: the catalog's entries, or any checkpoint. */
export type SizedModel = Pick<CatalogEntry, 'repo' | 'config' | 'defaultPrecision'>;

const DATA_ABOUT: Readonly<Record<TrainingData, string>> = {
  nl: 'natural language: trained on the Pile (English text and some code)',
  multi: 'several programming languages: the nl model trained further on code',
  mono: 'Python: the multi model trained further on Python',
};

/** The paper's HumanEval pass@1 (CODEGEN.md), Mono models only. */
const MONO_HUMANEVAL: Readonly<Record<string, number>> = { '350M': 12.76, '2B': 23.7, '6B': 26.13, '16B': 29.28 };

/**
 * The published pytorch_model.bin: every parameter in fp16, plus each layer's bool causal mask buffer
 * [1, 1, n_positions, n_positions] (the pickle and zip headers are a few kB more).
 */
export function checkpointDownloadBytes(config: CodeGenConfig): number {
  return parameterCount(config) * 2 + config.nLayer * config.nPositions ** 2;
}

/** Bytes of the ONNX export's 8-bit file and small files (the hub's listing, RECOMMENDED_MODEL's "about 360 MB"). */
const ONNX_EXPORT_BYTES = 360e6;

function buildCatalog(): CatalogEntry[] {
  const entries: CatalogEntry[] = [];
  const m350 = SALESFORCE_SHAPES.find((s) => s.name === '350M');
  if (m350) {
    entries.push({
      repo: RECOMMENDED_MODEL.repo,
      name: `${RECOMMENDED_MODEL.name} (ONNX)`,
      format: 'onnx',
      data: 'mono',
      about: `${DATA_ABOUT.mono}; Xenova's ONNX export, 8-bit, runs as published`,
      config: salesforceConfig(m350),
      downloadBytes: ONNX_EXPORT_BYTES,
      humanEvalPass1: MONO_HUMANEVAL['350M'],
      defaultPrecision: 'int8',
    });
  }
  // Mono first (the paper's Python models), smallest first within each.
  for (const data of ['mono', 'multi', 'nl'] as const) {
    for (const shape of SALESFORCE_SHAPES) {
      const config = salesforceConfig(shape);
      entries.push({
        repo: `Salesforce/codegen-${shape.name}-${data}`,
        name: `CodeGen-${shape.name}-${data}`,
        format: 'checkpoint',
        data,
        about: DATA_ABOUT[data],
        config,
        downloadBytes: checkpointDownloadBytes(config),
        humanEvalPass1: data === 'mono' ? MONO_HUMANEVAL[shape.name] : undefined,
        defaultPrecision: defaultCheckpointPrecision(config),
      });
    }
  }
  return entries;
}

export const CATALOG: readonly CatalogEntry[] = buildCatalog();

/** The catalog's entry for a repository id (case-insensitive, as the hub treats them), if it has one. */
export function catalogEntry(repo: string): CatalogEntry | undefined {
  return CATALOG.find((e) => e.repo.toLowerCase() === repo.trim().toLowerCase());
}

// ---------------------------------------------------------------------------------------------------------------
// Speed and memory on this machine

let measuredBandwidth: number | undefined;

/**
 * This machine's memory read bandwidth in bytes/s: the best of a few Buffer.compare (memcmp) runs over two equal
 * 128 MB buffers (far larger than any cache; filled, so their pages are real), counting both buffers' bytes. One
 * thread, so conservative where one core cannot saturate the memory (here it matched the bench's two-thread
 * figure). Takes about 0.3 s, once per process; later calls return the first figure.
 */
export function measureMemoryBandwidth(): number {
  if (measuredBandwidth !== undefined) return measuredBandwidth;
  const size = 128 * 2 ** 20;
  const a = Buffer.alloc(size, 1);
  const b = Buffer.alloc(size, 1);
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    Buffer.compare(a, b);
    best = Math.min(best, performance.now() - started);
  }
  measuredBandwidth = (2 * size) / (Math.max(best, 0.01) / 1000);
  return measuredBandwidth;
}

/**
 * What a decode step costs beyond reading the weights, per layer: attention over the cache, the small operators,
 * the kernels' own overhead. Measured by npm run bench:scale with 2 threads (README): at 350M, 2B and 6B, int8 and
 * int4 decode took the floor (bytes read / 27.8 GB/s) plus 0.2 to 0.45 ms a layer (6B int4 ran at its floor).
 */
export const DECODE_MS_PER_LAYER = 0.35;

export interface PrecisionEstimate {
  readonly precision: Precision;
  /** The compiled graph in the cache. */
  readonly diskBytes: number;
  /** Resident memory with the whole context (2048 tokens) held. */
  readonly ramBytes: number;
  /** The memory floor of one decode step on this machine. */
  readonly floorMs: number;
  /** What to expect: the floor plus the per-layer cost the bench measured. */
  readonly msPerToken: number;
}

export function estimate(config: CodeGenConfig, precision: Precision, bandwidth: number): PrecisionEstimate {
  const floorMs = (bytesReadPerToken(config, precision) / bandwidth) * 1000;
  return {
    precision,
    diskBytes: compiledWeightBytes(config, precision),
    ramBytes: runtimeBytes(config, precision),
    floorMs,
    msPerToken: floorMs + DECODE_MS_PER_LAYER * config.nLayer,
  };
}

/**
 * The precisions an entry offers, with estimates: all four for a checkpoint; for the ONNX export, its 8-bit file
 * as downloaded (it runs in place), with the memory and speed of our int8 graph of the same shape.
 */
export function entryEstimates(entry: CatalogEntry, bandwidth: number): PrecisionEstimate[] {
  if (entry.format === 'onnx') return [{ ...estimate(entry.config, entry.defaultPrecision, bandwidth), diskBytes: entry.downloadBytes }];
  return PRECISIONS.map((p) => estimate(entry.config, p, bandwidth));
}

function defaultEstimate(entry: CatalogEntry, bandwidth: number): PrecisionEstimate {
  return entryEstimates(entry, bandwidth).find((e) => e.precision === entry.defaultPrecision) as PrecisionEstimate;
}

/** The precision an ONNX export's variant runs closest to, for its estimates (`model` compiles to fp32). */
export function onnxVariantPrecision(stem: string): Precision {
  if (/q4|bnb4|int4/.test(stem)) return 'int4';
  if (/int8|uint8|quantized/.test(stem)) return 'int8';
  return /fp16/.test(stem) ? 'fp16' : 'fp32';
}

/** Share of the machine's memory a model may take: the rest is for the system, the editor and everything else. */
export const MEMORY_SHARE = 0.75;

export function fitsInMemory(ramBytes: number, totalmem: number = os.totalmem()): boolean {
  return ramBytes <= totalmem * MEMORY_SHARE;
}

// ---------------------------------------------------------------------------------------------------------------
// What the pickers and the command line show

export function formatMsPerToken(ms: number): string {
  return ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`;
}

/** `1.96 GB on disk, 5.94 GB of RAM, about 174 ms a token (5.7 tokens/s)`. */
export function describeEstimate(e: PrecisionEstimate): string {
  return `${formatBytes(e.diskBytes)} on disk, ${formatBytes(e.ramBytes)} of RAM, about ${formatMsPerToken(e.msPerToken)} a token (${(1000 / e.msPerToken).toFixed(1)} tokens/s)`;
}

export interface PickItem {
  readonly label: string;
  readonly description: string;
  readonly detail: string;
}

function tooBig(totalmem: number): string {
  return `needs more memory than this machine's ${formatBytes(totalmem)} allows`;
}

/** The repository picker's item: name, download size and score; the default precision's figures below. */
export function repoPickItem(entry: CatalogEntry, bandwidth: number, totalmem: number): PickItem {
  const e = defaultEstimate(entry, bandwidth);
  const score = entry.humanEvalPass1 !== undefined ? `, HumanEval ${entry.humanEvalPass1}%` : '';
  const fit = fitsInMemory(e.ramBytes, totalmem) ? '' : ` $(warning) ${tooBig(totalmem)}`;
  const how = entry.format === 'onnx' ? '8-bit as published' : `${entry.defaultPrecision} (default)`;
  return {
    label: entry.repo,
    description: `${formatBytes(entry.downloadBytes)} download${score}`,
    detail: `${capitalize(entry.about)}. ${how}: ${describeEstimate(e)}${fit}`,
  };
}

/** The precision picker's item for a checkpoint: the precision, what it costs, the default marked. */
export function precisionPickItem(entry: SizedModel, precision: Precision, bandwidth: number, totalmem: number): PickItem & { readonly precision: Precision } {
  const e = estimate(entry.config, precision, bandwidth);
  const fit = fitsInMemory(e.ramBytes, totalmem) ? '' : ` $(warning) ${tooBig(totalmem)}`;
  return {
    label: precision,
    description: `${PRECISION_NOTES[precision]}${precision === entry.defaultPrecision ? ' (default)' : ''}`,
    detail: `${describeEstimate(e)}${fit}`,
    precision,
  };
}

const PRECISION_NOTES: Readonly<Record<Precision, string>> = {
  fp32: 'full precision: best output, largest, slowest',
  fp16: 'half the disk of fp32; runs as fp32 (about its RAM and speed)',
  int8: '8-bit weights: close to fp32',
  int4: '4-bit weights: smallest and fastest, some quality loss',
};

/** The warning before downloading a model that does not fit, or undefined when it fits. */
export function memoryWarning(entry: SizedModel, precision: Precision, totalmem: number): string | undefined {
  const ram = runtimeBytes(entry.config, precision);
  if (fitsInMemory(ram, totalmem)) return undefined;
  const smaller = PRECISIONS.filter((p) => fitsInMemory(runtimeBytes(entry.config, p), totalmem));
  const instead = smaller.length > 0 ? ` It fits at ${smaller.join(' or ')}.` : ' Choose a smaller model.';
  return `${entry.repo} at ${precision} needs about ${formatBytes(ram)} of memory to run, more than ${Math.round(MEMORY_SHARE * 100)}% of this machine's ${formatBytes(totalmem)}: it may not load, or may slow the machine down.${instead}`;
}

/** `codegen-mt download --catalog`: every entry, each precision's disk, RAM and speed, a mark where it does not fit. */
export function catalogTable(bandwidth: number, totalmem: number): string {
  const lines = [
    `Models offered for download (this machine: ${formatBytes(totalmem)} of memory, ${(bandwidth / 1e9).toFixed(1)} GB/s read bandwidth; * = needs more than ${Math.round(MEMORY_SHARE * 100)}% of the memory):`,
  ];
  for (const entry of CATALOG) {
    const score = entry.humanEvalPass1 !== undefined ? `, HumanEval pass@1 ${entry.humanEvalPass1}% (paper)` : '';
    lines.push('', `${entry.repo}  ${formatBytes(entry.downloadBytes)} download${score}`, `  ${entry.about}`);
    for (const e of entryEstimates(entry, bandwidth)) lines.push(estimateRow(e, e.precision === entry.defaultPrecision, totalmem));
  }
  lines.push('', 'Download one with: codegen-mt download --repo REPO [--variant fp32|fp16|int8|int4]');
  return lines.join('\n') + '\n';
}

/** One row of a precision table: `  int4    1.95 GB disk   5.94 GB RAM    158 ms/token   (default)`. */
export function estimateRow(e: PrecisionEstimate, isDefault: boolean, totalmem: number): string {
  const mark = fitsInMemory(e.ramBytes, totalmem) ? ' ' : '*';
  const speed = `${formatMsPerToken(e.msPerToken)}/token`;
  return `  ${e.precision.padEnd(5)} ${formatBytes(e.diskBytes).padStart(9)} disk ${formatBytes(e.ramBytes).padStart(9)} RAM${mark} ${speed.padStart(14)}${isDefault ? '   (default)' : ''}`;
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
