// `codegen-mt optimize` and the automatic compile on load: a published fp32 CodeGen folder (an ONNX export, or a
// Salesforce checkpoint: safetensors or pytorch_model.bin, sharded or not) in, a folder with the compiled graph of
// one precision out (config.json, the tokenizer files, onnx/<precision>.onnx + .data).
// Compiled folders in the cache are keyed by the source files' path, size and mtime and the compiler's version,
// so a changed source or compiler gives a new entry (and the stale one is removed).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineError } from '../../protocol/errors';
import { readCodeGenConfig, type CodeGenConfig } from '../modelFolder';
import { buildDecoderGraph, EMBEDDING_PRECISIONS, PRECISIONS, type EmbeddingPrecision, type GraphOptions, type Precision } from './graphBuilder';
import { GraphWriter, writeOnnxModel } from './onnxFormat';
import { checkCheckpoint, CheckpointWeights, findCheckpoint } from '../checkpoint/checkpointFolder';
import { salesforceConfig, salesforceConfigJson } from '../checkpoint/salesforceModels';
import { RandomWeights, type RandomShape } from './randomWeights';
import { OnnxExportWeights, type CodeGenWeights } from './weights';

/** Bump when the graph changes: every cached compile is then rebuilt. */
export const COMPILER_VERSION = 6;
/** The config.json key that marks a compiled folder and says what it came from. */
export const COMPILED_KEY = 'codegen_mt_compiled';
/** Published fp32 files the compiler reads, best first. */
export const SOURCE_STEMS = ['model', 'decoder_model_merged'] as const;
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'vocab.json', 'merges.txt', 'special_tokens_map.json', 'added_tokens.json', 'generation_config.json'];

export interface CompileProgress {
  readonly phase: 'reading' | 'building' | 'writing';
  /** 0..1 within the whole compile. */
  readonly fraction: number;
  readonly message: string;
}

/** How to compile: the graph's options, and progress and cancellation. */
export interface CompileOptions extends GraphOptions {
  readonly onProgress?: (p: CompileProgress) => void;
  readonly signal?: AbortSignal;
}

export interface CompiledInfo {
  readonly compilerVersion: number;
  /** Set when the embedding is not the default fp16 (`optimize --embedding int8`). */
  readonly embedding?: EmbeddingPrecision;
  readonly source: { readonly file: string; readonly size: number; readonly mtimeMs: number };
}

export function isPrecision(variant: string | undefined): variant is Precision {
  return (PRECISIONS as readonly string[]).includes(variant ?? '');
}

export function isEmbeddingPrecision(value: string | undefined): value is EmbeddingPrecision {
  return (EMBEDDING_PRECISIONS as readonly string[]).includes(value ?? '');
}

/** What a folder can be compiled from: a published fp32 ONNX file, or a checkpoint's weights. */
export interface CompileSource {
  readonly kind: 'onnx' | 'checkpoint';
  /** The file that names the source: the ONNX file, or the checkpoint's weights file or index JSON. */
  readonly file: string;
  /** Every file the compiled graph depends on (the cache key covers each one's size and time). */
  readonly files: readonly string[];
}

/** The source a folder compiles from, if any: its fp32 ONNX export first, else its checkpoint. */
export function compileSource(modelDir: string): CompileSource | undefined {
  for (const stem of SOURCE_STEMS) {
    const file = path.join(modelDir, 'onnx', `${stem}.onnx`);
    if (fs.existsSync(file)) return { kind: 'onnx', file, files: [file] };
  }
  const checkpoint = findCheckpoint(modelDir);
  return checkpoint && { kind: 'checkpoint', file: checkpoint.entry, files: [checkpoint.entry, ...checkpoint.files.filter((f) => f !== checkpoint.entry)] };
}

function requireCompileSource(modelDir: string): CompileSource {
  const source = compileSource(modelDir);
  if (!source) {
    throw new EngineError(
      'invalid-model',
      `${modelDir} has neither an fp32 onnx/model.onnx (or decoder_model_merged.onnx) nor a checkpoint (model.safetensors, pytorch_model.bin) to compile from: download the fp32 model or the checkpoint (codegen-mt download).`,
    );
  }
  return source;
}

/** Total size and newest mtime of a source's files; a shard named by an index but absent is reported here. */
function sourceStat(source: CompileSource): { size: number; mtimeMs: number } {
  let size = 0;
  let mtimeMs = 0;
  for (const file of source.files) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(file);
    } catch {
      throw new EngineError('invalid-model', `${source.file} names ${path.basename(file)}, which is not in ${path.dirname(file)}: download the model again (the download resumes what is missing).`);
    }
    size += stat.size;
    mtimeMs = Math.max(mtimeMs, stat.mtimeMs);
  }
  return { size, mtimeMs };
}

function openWeights(modelDir: string, source: CompileSource, config: CodeGenConfig): CodeGenWeights {
  if (source.kind === 'onnx') return new OnnxExportWeights(source.file, config);
  return new CheckpointWeights(checkCheckpoint(modelDir, config), config);
}

/** What a compiled folder's config.json says about its origin; undefined for a published folder. */
export function compiledInfo(modelDir: string): CompiledInfo | undefined {
  try {
    const config = JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const info = config[COMPILED_KEY] as CompiledInfo | undefined;
    return info && typeof info === 'object' ? info : undefined;
  } catch {
    return undefined;
  }
}

/** Where compiled models are kept unless the caller says otherwise. */
export function defaultCacheRoot(): string {
  if (process.env.CODEGEN_MT_CACHE) return path.resolve(process.env.CODEGEN_MT_CACHE);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'codegen-mt', 'compiled');
}

/** The cache folder for compiles of `source` as it is now. */
export function cacheEntryDir(cacheRoot: string, modelDir: string, source: CompileSource): string {
  const files = source.files.map((file) => {
    const stat = fs.statSync(file);
    return [fs.realpathSync(file), stat.size, stat.mtimeMs];
  });
  const key = createHash('sha256').update(JSON.stringify([COMPILER_VERSION, ...files])).digest('hex').slice(0, 16);
  const name = path.basename(path.resolve(modelDir)).replace(/[^A-Za-z0-9._-]/g, '_') || 'model';
  return path.join(cacheRoot, `${name}-${key}`);
}

export function compiledFile(dir: string, precision: Precision): string {
  return path.join(dir, 'onnx', `${precision}.onnx`);
}

/**
 * Compiles the folder's fp32 source into `outDir/onnx/<precision>.onnx`. Files appear only when complete (built in
 * a temporary folder and renamed in), so a crash, a cancel or a second process never leaves a half-written model
 * behind. Weights are converted one tensor at a time and streamed to the external data file.
 */
export async function compileModel(modelDir: string, precision: Precision, outDir: string, options: CompileOptions = {}): Promise<string> {
  const source = requireCompileSource(modelDir);
  const config = readCodeGenConfig(modelDir);
  const stat = sourceStat(source);
  options.onProgress?.({ phase: 'reading', fraction: 0, message: `reading ${path.basename(source.file)} (${(stat.size / 1e6).toFixed(0)} MB)` });
  const weights = openWeights(modelDir, source, config);
  const sourceConfig = JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  return writeCompiledFolder({
    outDir,
    precision,
    config,
    weights,
    configJson: sourceConfig,
    info: {
      compilerVersion: COMPILER_VERSION,
      ...embeddingInfo(options),
      source: { file: path.resolve(source.file), size: stat.size, mtimeMs: stat.mtimeMs },
    },
    options,
    copyFrom: modelDir,
    verb: source.kind === 'checkpoint' ? 'converting' : 'compiling',
  });
}

/** The compiled marker names the embedding only when it is not the default. */
function embeddingInfo(options: GraphOptions): Pick<CompiledInfo, 'embedding'> {
  return options.embedding && options.embedding !== 'fp16' ? { embedding: options.embedding } : {};
}

interface CompiledFolderPlan {
  readonly outDir: string;
  readonly precision: Precision;
  readonly config: CodeGenConfig;
  readonly weights: CodeGenWeights;
  /** The config.json to write (the compiled marker is added). */
  readonly configJson: Record<string, unknown>;
  readonly info: CompiledInfo;
  readonly options: CompileOptions;
  /** A folder whose tokenizer files are copied along. */
  readonly copyFrom?: string;
  readonly verb: string;
}

/** Builds the graph in a temporary folder next to the target and renames the finished files in. */
async function writeCompiledFolder(plan: CompiledFolderPlan): Promise<string> {
  const { outDir, precision } = plan;
  const { onProgress, signal, ...graphOptions } = plan.options;
  fs.mkdirSync(path.join(outDir, 'onnx'), { recursive: true });
  const tmp = fs.mkdtempSync(path.join(outDir, '.compiling-'));
  try {
    const onnxName = `${precision}.onnx`;
    const graph = new GraphWriter(path.join(tmp, `${onnxName}.data`));
    try {
      await buildDecoderGraph(
        graph,
        plan.config,
        plan.weights,
        precision,
        ({ done, total }) => onProgress?.({ phase: 'building', fraction: 0.1 + (0.85 * done) / total, message: `${plan.verb} ${precision}: ${done} of ${total} layers` }),
        signal,
        graphOptions,
      );
    } finally {
      graph.close();
    }
    onProgress?.({ phase: 'writing', fraction: 0.96, message: `writing ${onnxName}` });
    writeOnnxModel(path.join(tmp, onnxName), graph, { opsets: { '': 17, 'com.microsoft': 1 }, producer: `codegen-mt compiler ${COMPILER_VERSION}` });
    fs.writeFileSync(path.join(tmp, 'config.json'), JSON.stringify({ ...plan.configJson, [COMPILED_KEY]: plan.info }, null, 2) + '\n');
    for (const name of plan.copyFrom ? TOKENIZER_FILES : []) {
      const from = path.join(plan.copyFrom!, name);
      if (fs.existsSync(from)) fs.copyFileSync(from, path.join(tmp, name));
    }
    // Data before graph: a graph file present means its weights are too.
    fs.renameSync(path.join(tmp, `${onnxName}.data`), path.join(outDir, 'onnx', `${onnxName}.data`));
    fs.renameSync(path.join(tmp, onnxName), path.join(outDir, 'onnx', onnxName));
    for (const name of fs.readdirSync(tmp)) fs.renameSync(path.join(tmp, name), path.join(outDir, name));
    onProgress?.({ phase: 'writing', fraction: 1, message: `compiled ${precision} into ${outDir}` });
    return compiledFile(outDir, precision);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * A compiled folder of random weights in a checkpoint's shape (`codegen-mt optimize --random-shape 2B`): what the
 * scale benchmarks load, since the real checkpoints cannot be downloaded here. Its config.json is Salesforce's.
 */
export async function compileRandomModel(shape: RandomShape, precision: Precision, outDir: string, options: CompileOptions = {}): Promise<string> {
  const configJson = salesforceConfigJson(shape);
  const config = salesforceConfig(shape);
  return writeCompiledFolder({
    outDir,
    precision,
    config,
    weights: new RandomWeights(config, shape.seed ?? 1),
    configJson: { ...configJson, _name_or_path: `random-${shape.name}` },
    info: { compilerVersion: COMPILER_VERSION, ...embeddingInfo(options), source: { file: `random:${shape.name}:${shape.seed ?? 1}`, size: 0, mtimeMs: 0 } },
    options,
    verb: 'building random',
  });
}

/**
 * The compiled graph of `precision` for a published folder, from the cache or compiled now. Older cache entries
 * of the same source (it changed, or the compiler did) are removed.
 */
export async function ensureCompiled(
  modelDir: string,
  precision: Precision,
  cacheRoot: string,
  onProgress?: (p: CompileProgress) => void,
  signal?: AbortSignal,
): Promise<{ file: string; dir: string; compiledNow: boolean }> {
  const source = requireCompileSource(modelDir);
  sourceStat(source);
  const dir = cacheEntryDir(cacheRoot, modelDir, source);
  const file = compiledFile(dir, precision);
  if (fs.existsSync(file)) return { file, dir, compiledNow: false };
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new EngineError('invalid-model', `Cannot create the compiled-model cache ${dir} (${(err as Error).message}): choose another folder (--cache, or the setting codegenMt.compiledModelCache).`);
  }
  removeStaleEntries(cacheRoot, dir, path.resolve(source.file));
  try {
    await compileModel(modelDir, precision, dir, { onProgress, signal });
  } catch (err) {
    // A failed or cancelled first compile leaves no empty entry behind (other precisions of it are kept).
    if (!PRECISIONS.some((p) => fs.existsSync(compiledFile(dir, p)))) fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { file, dir, compiledNow: true };
}

function removeStaleEntries(cacheRoot: string, keep: string, sourceFile: string): void {
  for (const name of fs.readdirSync(cacheRoot)) {
    const dir = path.join(cacheRoot, name);
    if (dir === keep) continue;
    if (compiledInfo(dir)?.source.file === sourceFile) fs.rmSync(dir, { recursive: true, force: true });
  }
}
