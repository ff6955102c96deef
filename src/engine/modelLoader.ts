// From a model folder and a variant to a running decoder. A published folder with an fp32 file is compiled
// (once, into the cache) to the precision asked for, fp32 by default, so every user gets the fast graph without
// a command; other published files (an exporter's quantized variants), or compile: false, run as they are.
// A Salesforce checkpoint folder (no ONNX) is converted the same way, by default to int8 (350M) or int4 (larger).
import * as path from 'node:path';
import type { LoadCallbacks, LoadOptions } from '../protocol/engine';
import { compiledInfo, compileSource, defaultCacheRoot, ensureCompiled, isPrecision } from './compiler/compile';
import { PRECISIONS, type Precision } from './compiler/graphBuilder';
import { CompiledDecoder } from './compiledDecoder';
import type { Decoder } from './decoder';
import { defaultCheckpointPrecision } from './checkpoint/checkpointFolder';
import { readCodeGenConfig, resolveModelFolder, type CodeGenConfig } from './modelFolder';
import { EngineError } from '../protocol/errors';
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
  const info = compiledInfo(dir);
  const source = info ? undefined : compileSource(dir);
  // A folder with a checkpoint and no ONNX file to run or compile (a Salesforce repository).
  const checkpoint = source?.kind === 'checkpoint' ? readCodeGenConfig(dir) : undefined;
  if (checkpoint && (options.compile === false || (requested !== undefined && !isPrecision(requested)))) {
    throw new EngineError(
      'invalid-model',
      `${dir} holds a PyTorch/safetensors checkpoint, which runs only once converted: choose --variant ${PRECISIONS.join(', ')} (default ${defaultCheckpointPrecision(checkpoint)}), with compiling on.`,
    );
  }
  // A published folder is resolved first, so that its problems are reported as for any published load.
  const published = checkpoint ? { config: checkpoint, availableVariants: [] } : info || options.compile === false ? undefined : resolveModelFolder(dir);
  if (published && source && (requested === undefined || isPrecision(requested))) {
    const { config } = published;
    const precision: Precision = requested ?? (checkpoint ? defaultCheckpointPrecision(config) : 'fp32');
    const started = performance.now();
    const verb = checkpoint ? 'Converting' : 'Compiling';
    const { file, compiledNow } = await ensureCompiled(
      dir,
      precision,
      options.compiledCache ?? defaultCacheRoot(),
      (p) => onProgress?.({ phase: 'compiling', fraction: p.fraction, message: `${verb} ${path.basename(dir)} for this machine (once): ${p.message}` }),
      callbacks.signal,
    );
    const compileMs = performance.now() - started;
    onProgress?.({ phase: 'loading', fraction: 0, message: `Loading ${path.basename(dir)} (${precision})` });
    const decoder = await CompiledDecoder.open(file, config, options.threads);
    return {
      decoder,
      config,
      modelDir: dir,
      variant: precision,
      onnxFile: file,
      availableVariants: [...PRECISIONS, ...published.availableVariants],
      compiled: { precision, source: source.file, compiledNow, compileMs },
    };
  }
  const folder = resolveModelFolder(dir, requested);
  onProgress?.({ phase: 'loading', fraction: 0, message: `Loading ${path.basename(dir)} (${folder.variant})` });
  const compiledHere = info !== undefined && isPrecision(folder.variant);
  const decoder = compiledHere
    ? await CompiledDecoder.open(folder.onnxFile, folder.config, options.threads)
    : new PublishedDecoder(await OnnxDecoder.open(folder.onnxFile, folder.config, options.threads));
  return {
    decoder,
    config: folder.config,
    modelDir: folder.modelDir,
    variant: folder.variant,
    onnxFile: folder.onnxFile,
    availableVariants: folder.availableVariants,
    ...(compiledHere ? { compiled: { precision: folder.variant as Precision, source: info.source.file, compiledNow: false, compileMs: 0 } } : {}),
  };
}
