// From a model folder and a variant to a running decoder. A published folder with an fp32 file is compiled
// (once, into the cache) to the precision asked for, fp32 by default, so every user gets the fast graph without
// a command; other published files (an exporter's quantized variants), or compile: false, run as they are.
import * as path from 'node:path';
import type { LoadCallbacks, LoadOptions } from '../protocol/engine';
import { compiledInfo, compileSource, defaultCacheRoot, ensureCompiled, isPrecision } from './compiler/compile';
import { PRECISIONS, type Precision } from './compiler/graphBuilder';
import { CompiledDecoder } from './compiledDecoder';
import type { Decoder } from './decoder';
import { readCodeGenConfig, resolveModelFolder, type CodeGenConfig } from './modelFolder';
import { OnnxDecoder, PublishedDecoder } from './onnx';

export interface OpenedModel {
  readonly decoder: Decoder;
  readonly config: CodeGenConfig;
  readonly modelDir: string;
  readonly variant: string;
  readonly onnxFile: string;
  readonly availableVariants: readonly string[];
  /** Set for compiled graphs: the precision and the published file it was compiled from. */
  readonly compiled?: { readonly precision: Precision; readonly source: string; readonly compiledNow: boolean; readonly compileMs: number };
}

export async function openModel(options: LoadOptions, callbacks: LoadCallbacks = {}): Promise<OpenedModel> {
  const { onProgress } = callbacks;
  const dir = path.resolve(options.modelDir);
  const requested = options.variant || undefined;
  const source = options.compile === false ? undefined : compileSourceOf(dir);
  if (source && (requested === undefined || isPrecision(requested))) {
    const precision: Precision = requested ?? 'fp32';
    const config = readCodeGenConfig(dir);
    const started = performance.now();
    const { file, compiledNow } = await ensureCompiled(dir, precision, options.compiledCache ?? defaultCacheRoot(), (p) =>
      onProgress?.({ phase: 'compiling', fraction: p.fraction, message: `Compiling ${path.basename(dir)} for this machine (once): ${p.message}` }),
    );
    const compileMs = performance.now() - started;
    onProgress?.({ phase: 'loading', fraction: 0, message: `Loading ${path.basename(dir)} (${precision})` });
    const decoder = await CompiledDecoder.open(file, config, options.threads);
    const published = resolveModelFolder(dir).availableVariants;
    return {
      decoder,
      config,
      modelDir: dir,
      variant: precision,
      onnxFile: file,
      availableVariants: [...PRECISIONS, ...published],
      compiled: { precision, source, compiledNow, compileMs },
    };
  }
  const folder = resolveModelFolder(dir, requested);
  onProgress?.({ phase: 'loading', fraction: 0, message: `Loading ${path.basename(dir)} (${folder.variant})` });
  const info = compiledInfo(dir);
  const decoder = info && isPrecision(folder.variant)
    ? await CompiledDecoder.open(folder.onnxFile, folder.config, options.threads)
    : new PublishedDecoder(await OnnxDecoder.open(folder.onnxFile, folder.config, options.threads));
  return {
    decoder,
    config: folder.config,
    modelDir: folder.modelDir,
    variant: folder.variant,
    onnxFile: folder.onnxFile,
    availableVariants: folder.availableVariants,
    ...(info && isPrecision(folder.variant) ? { compiled: { precision: folder.variant, source: info.source.file, compiledNow: false, compileMs: 0 } } : {}),
  };
}

/** The fp32 source of a published (not compiled) folder, validated as a model folder first. */
function compileSourceOf(dir: string): string | undefined {
  if (compiledInfo(dir)) return undefined;
  resolveModelFolder(dir); // every problem of the folder is reported the same way as for a published load
  return compileSource(dir);
}
