// codegen-mt optimize: compiles a published fp32 CodeGen folder into the fast graph of one precision.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compileModel, defaultCacheRoot, ensureCompiled, isPrecision } from '../engine/compiler/compile';
import { PRECISIONS } from '../engine/compiler/graphBuilder';
import { resolveModelFolder } from '../engine/modelFolder';
import { progressPrinter, type Io, parse, UsageError } from './common';

export const OPTIMIZE_USAGE = `  optimize    --model DIR --variant fp32|fp16|int8|int4 [--out DIR] [--cache DIR]
                                                        compile a published fp32 model into a fused graph
                                                        (into the cache that loading uses, or into --out)
`;

export async function optimizeCommand(args: string[], io: Io): Promise<void> {
  const values = parse(args, { out: { type: 'string' }, cache: { type: 'string' } });
  if (typeof values.model !== 'string') throw new UsageError('give the model folder to compile with --model DIR');
  const precision = typeof values.variant === 'string' ? values.variant : 'int8';
  if (!isPrecision(precision)) throw new UsageError(`--variant must be one of ${PRECISIONS.join(', ')}, got "${precision}"`);
  const modelDir = resolveModelFolder(values.model).modelDir; // the folder's own problems, as for every command
  const started = performance.now();
  const onProgress = progressPrinter(io);
  let file: string;
  if (typeof values.out === 'string') {
    file = await compileModel(modelDir, precision, path.resolve(values.out), onProgress);
  } else {
    const cacheRoot = typeof values.cache === 'string' ? path.resolve(values.cache) : defaultCacheRoot();
    const result = await ensureCompiled(modelDir, precision, cacheRoot, onProgress);
    file = result.file;
    if (!result.compiledNow) io.err(`already compiled (the source has not changed)\n`);
  }
  const bytes = fs.statSync(file).size + (fs.existsSync(`${file}.data`) ? fs.statSync(`${file}.data`).size : 0);
  const summary = { variant: precision, modelDir: path.dirname(path.dirname(file)), onnxFile: file, bytes, seconds: (performance.now() - started) / 1000 };
  if (values.json) io.out(JSON.stringify(summary) + '\n');
  else io.out(`${precision}: ${(bytes / 1e6).toFixed(0)} MB in ${summary.modelDir} (${summary.seconds.toFixed(1)} s); load it with --model ${summary.modelDir}${values.out ? '' : ` or --model ${modelDir} --variant ${precision}`}\n`);
}
