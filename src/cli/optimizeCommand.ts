// codegen-mt optimize: compiles a published fp32 CodeGen folder, or converts a Salesforce checkpoint folder, into
// the fast graph of one precision; or builds random weights in a checkpoint's shape (for the scale benchmarks).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findCheckpoint } from '../engine/checkpoint/checkpointFolder';
import { SALESFORCE_SHAPES, salesforceShape } from '../engine/checkpoint/salesforceModels';
import { compileModel, compileRandomModel, defaultCacheRoot, ensureCompiled, isEmbeddingPrecision, isPrecision } from '../engine/compiler/compile';
import { EMBEDDING_PRECISIONS, PRECISIONS } from '../engine/compiler/graphBuilder';
import { readCodeGenConfig, resolveModelFolder } from '../engine/modelFolder';
import { interruptSignal, progressPrinter, type Io, parse, UsageError } from './common';

export const OPTIMIZE_USAGE = `  optimize    --model DIR --variant fp32|fp16|int8|int4 [--out DIR] [--cache DIR]
                                                        compile a published fp32 model, or convert a checkpoint
                                                        folder (pytorch_model.bin, model.safetensors, sharded),
                                                        into a fused graph (into the cache that loading uses, or
                                                        into --out)
              --embedding int8 --out DIR                int8 embedding rows instead of fp16 (half the size of
                                                        a small model's largest table)
              --random-shape 350M|2B|6B|16B --variant V --out DIR
                                                        random weights in a Salesforce checkpoint's shape (for
                                                        the scale benchmarks)
`;

export async function optimizeCommand(args: string[], io: Io): Promise<void> {
  const values = parse(args, { out: { type: 'string' }, cache: { type: 'string' }, 'random-shape': { type: 'string' }, embedding: { type: 'string' } });
  const precision = typeof values.variant === 'string' ? values.variant : 'int8';
  if (!isPrecision(precision)) throw new UsageError(`--variant must be one of ${PRECISIONS.join(', ')}, got "${precision}"`);
  const embedding = typeof values.embedding === 'string' ? values.embedding : 'fp16';
  if (!isEmbeddingPrecision(embedding)) throw new UsageError(`--embedding must be one of ${EMBEDDING_PRECISIONS.join(', ')}, got "${embedding}"`);
  if (embedding !== 'fp16' && precision === 'fp32') throw new UsageError(`--embedding ${embedding} goes with --variant fp16, int8 or int4, not fp32 (the exact reference)`);
  // The cache holds what loading compiles by itself (fp16 embeddings); another embedding is a file of its own.
  if (embedding !== 'fp16' && typeof values.out !== 'string') throw new UsageError(`--embedding ${embedding} needs --out DIR (the cache holds only what loading compiles)`);
  const started = performance.now();
  const onProgress = progressPrinter(io);
  const signal = interruptSignal();
  let file: string;
  let modelDir = '';
  if (typeof values['random-shape'] === 'string') {
    const shape = salesforceShape(values['random-shape']);
    if (!shape) throw new UsageError(`--random-shape must be one of ${SALESFORCE_SHAPES.map((s) => s.name).join(', ')}, got "${values['random-shape']}"`);
    if (typeof values.out !== 'string') throw new UsageError('--random-shape needs --out DIR (random weights never go to the cache)');
    file = await compileRandomModel(shape, precision, path.resolve(values.out), { onProgress, signal, embedding });
  } else if (typeof values.model !== 'string') {
    throw new UsageError('give the model folder to compile with --model DIR');
  } else if (typeof values.out === 'string') {
    modelDir = checkedFolder(values.model);
    file = await compileModel(modelDir, precision, path.resolve(values.out), { onProgress, signal, embedding });
  } else {
    modelDir = checkedFolder(values.model);
    const cacheRoot = typeof values.cache === 'string' ? path.resolve(values.cache) : defaultCacheRoot();
    const result = await ensureCompiled(modelDir, precision, cacheRoot, onProgress, signal);
    file = result.file;
    if (!result.compiledNow) io.err(`already compiled (the source has not changed)\n`);
  }
  const bytes = fs.statSync(file).size + (fs.existsSync(`${file}.data`) ? fs.statSync(`${file}.data`).size : 0);
  const summary = { variant: precision, modelDir: path.dirname(path.dirname(file)), onnxFile: file, bytes, seconds: (performance.now() - started) / 1000 };
  if (values.json) io.out(JSON.stringify(summary) + '\n');
  else io.out(`${precision}: ${(bytes / 1e6).toFixed(0)} MB in ${summary.modelDir} (${summary.seconds.toFixed(1)} s); load it with --model ${summary.modelDir}${values.out ? '' : ` or --model ${modelDir} --variant ${precision}`}\n`);
}

/** The folder, with its own problems reported as for every command: a checkpoint folder, or a published one. */
function checkedFolder(dir: string): string {
  const modelDir = path.resolve(dir);
  if (fs.existsSync(path.join(modelDir, 'onnx')) || !findCheckpoint(modelDir)) return resolveModelFolder(modelDir).modelDir;
  readCodeGenConfig(modelDir);
  return modelDir;
}
