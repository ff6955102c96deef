// `codegen-mt optimize` and the automatic compile on load: a published fp32 CodeGen folder in, a folder with the
// compiled graph of one precision out (config.json, the tokenizer files, onnx/<precision>.onnx + .data).
// Compiled folders in the cache are keyed by the source file's path, size and mtime and the compiler's version,
// so a changed source or compiler gives a new entry (and the stale one is removed).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineError } from '../../protocol/errors';
import { readCodeGenConfig } from '../modelFolder';
import { buildDecoderGraph, PRECISIONS, type Precision } from './graphBuilder';
import { GraphWriter, writeOnnxModel } from './onnxFormat';
import { OnnxExportWeights } from './weights';

/** Bump when the graph changes: every cached compile is then rebuilt. */
export const COMPILER_VERSION = 3;
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

export interface CompiledInfo {
  readonly compilerVersion: number;
  readonly source: { readonly file: string; readonly size: number; readonly mtimeMs: number };
}

export function isPrecision(variant: string | undefined): variant is Precision {
  return (PRECISIONS as readonly string[]).includes(variant ?? '');
}

/** The fp32 ONNX file a published folder can be compiled from, if any. */
export function compileSource(modelDir: string): string | undefined {
  for (const stem of SOURCE_STEMS) {
    const file = path.join(modelDir, 'onnx', `${stem}.onnx`);
    if (fs.existsSync(file)) return file;
  }
  return undefined;
}

function requireCompileSource(modelDir: string): string {
  const file = compileSource(modelDir);
  if (!file) {
    throw new EngineError('invalid-model', `${path.join(modelDir, 'onnx')} has no fp32 model.onnx or decoder_model_merged.onnx to compile from: download the fp32 model (codegen-mt download).`);
  }
  return file;
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

/** The cache folder for compiles of `sourceFile` as it is now. */
export function cacheEntryDir(cacheRoot: string, modelDir: string, sourceFile: string): string {
  const stat = fs.statSync(sourceFile);
  const key = createHash('sha256').update(JSON.stringify([COMPILER_VERSION, fs.realpathSync(sourceFile), stat.size, stat.mtimeMs])).digest('hex').slice(0, 16);
  const name = path.basename(path.resolve(modelDir)).replace(/[^A-Za-z0-9._-]/g, '_') || 'model';
  return path.join(cacheRoot, `${name}-${key}`);
}

export function compiledFile(dir: string, precision: Precision): string {
  return path.join(dir, 'onnx', `${precision}.onnx`);
}

/**
 * Compiles the folder's fp32 source into `outDir/onnx/<precision>.onnx`. Files appear only when complete (built in
 * a temporary folder and renamed in), so a crash or a second process never leaves a half-written model behind.
 */
export async function compileModel(modelDir: string, precision: Precision, outDir: string, onProgress?: (p: CompileProgress) => void): Promise<string> {
  const sourceFile = requireCompileSource(modelDir);
  const config = readCodeGenConfig(modelDir);
  const stat = fs.statSync(sourceFile);
  fs.mkdirSync(path.join(outDir, 'onnx'), { recursive: true });
  const tmp = fs.mkdtempSync(path.join(outDir, '.compiling-'));
  try {
    onProgress?.({ phase: 'reading', fraction: 0, message: `reading ${path.basename(sourceFile)} (${(stat.size / 1e6).toFixed(0)} MB)` });
    const weights = new OnnxExportWeights(sourceFile, config);
    const onnxName = `${precision}.onnx`;
    const graph = new GraphWriter(path.join(tmp, `${onnxName}.data`));
    try {
      await buildDecoderGraph(graph, config, weights, precision, ({ done, total }) =>
        onProgress?.({ phase: 'building', fraction: 0.1 + (0.85 * done) / total, message: `compiling ${precision}: ${done} of ${total} layers` }),
      );
    } finally {
      graph.close();
    }
    onProgress?.({ phase: 'writing', fraction: 0.96, message: `writing ${onnxName}` });
    writeOnnxModel(path.join(tmp, onnxName), graph, { opsets: { '': 17, 'com.microsoft': 1 }, producer: `codegen-mt compiler ${COMPILER_VERSION}` });

    const sourceConfig = JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const info: CompiledInfo = { compilerVersion: COMPILER_VERSION, source: { file: path.resolve(sourceFile), size: stat.size, mtimeMs: stat.mtimeMs } };
    fs.writeFileSync(path.join(tmp, 'config.json'), JSON.stringify({ ...sourceConfig, [COMPILED_KEY]: info }, null, 2) + '\n');
    for (const name of TOKENIZER_FILES) {
      const from = path.join(modelDir, name);
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
 * The compiled graph of `precision` for a published folder, from the cache or compiled now. Older cache entries
 * of the same source (it changed, or the compiler did) are removed.
 */
export async function ensureCompiled(modelDir: string, precision: Precision, cacheRoot: string, onProgress?: (p: CompileProgress) => void): Promise<{ file: string; dir: string; compiledNow: boolean }> {
  const sourceFile = requireCompileSource(modelDir);
  const dir = cacheEntryDir(cacheRoot, modelDir, sourceFile);
  const file = compiledFile(dir, precision);
  if (fs.existsSync(file)) return { file, dir, compiledNow: false };
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new EngineError('invalid-model', `Cannot create the compiled-model cache ${dir} (${(err as Error).message}): choose another folder (--cache, or the setting codegenMt.compiledModelCache).`);
  }
  removeStaleEntries(cacheRoot, dir, path.resolve(sourceFile));
  await compileModel(modelDir, precision, dir, onProgress);
  return { file, dir, compiledNow: true };
}

function removeStaleEntries(cacheRoot: string, keep: string, sourceFile: string): void {
  for (const name of fs.readdirSync(cacheRoot)) {
    const dir = path.join(cacheRoot, name);
    if (dir === keep) continue;
    if (compiledInfo(dir)?.source.file === sourceFile) fs.rmSync(dir, { recursive: true, force: true });
  }
}
