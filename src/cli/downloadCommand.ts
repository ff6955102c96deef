// codegen-mt download: list a hub repository's ONNX variants (or a checkpoint's precisions), or fetch one into a
// model folder with a progress bar on stderr; a checkpoint (Salesforce/codegen-*) is then converted into the
// compiled-model cache. `--catalog` lists the models offered, with what each needs on this machine. Errors become
// the CLI's one-line messages (network errors with the manual steps).
import * as os from 'node:os';
import * as path from 'node:path';
import { catalogEntry, catalogTable, CATALOG, entryEstimates, estimate, estimateRow, fitsInMemory, measureMemoryBandwidth } from '../download/catalog';
import { remoteCheckpoint, remoteCodeGenConfig, type RemoteCheckpoint } from '../download/checkpointPlan';
import { DownloadError } from '../download/downloadError';
import { DEFAULT_REVISION, fetchRepoSnapshot, hubSettingsFromEnv, normalizeRepoId, type HubSettings, type RepoSnapshot } from '../download/hubApi';
import {
  defaultModelsRoot,
  downloadModel,
  manualSteps,
  modelFolderName,
  remoteVariants,
  smallFiles,
  type DownloadProgress,
  type DownloadResult,
} from '../download/modelDownloader';
import { describeProgress, formatBytes } from '../download/progressMeter';
import { defaultCheckpointPrecision } from '../engine/checkpoint/checkpointFolder';
import { defaultCacheRoot, ensureCompiled } from '../engine/compiler/compile';
import { PRECISIONS, type Precision } from '../engine/compiler/graphBuilder';
import { EngineError } from '../protocol/errors';
import { interruptSignal, parse, progressPrinter, UsageError, type Io, type Values } from './common';

export const DOWNLOAD_USAGE = `  download    --repo R --list                           the ONNX variants of a Hugging Face repository, with sizes;
                                                        for a checkpoint (Salesforce/codegen-*), its format and
                                                        size, and each precision's disk, RAM and expected speed
              --repo R [--variant V] [--revision REV] [--dir D] [--cache DIR] [--no-compile]
                                                        download one variant and config.json into a model folder
                                                        (default D: ~/.cache/codegen-mt/models/<owner>--<name>;
                                                        HF_ENDPOINT, HF_TOKEN, HTTPS_PROXY/NO_PROXY are honoured);
                                                        a checkpoint is then converted into the cache to the
                                                        precision V: fp32, fp16, int8, int4 (default int8 for
                                                        350M, int4 for larger; --no-compile: on first load)
              --catalog                                 the models offered (Salesforce's twelve checkpoints, the
                                                        ONNX export): download size, and disk, RAM and expected
                                                        speed per precision here; * marks what will not fit in
                                                        this machine's memory
`;

export async function downloadCommand(args: string[], io: Io): Promise<void> {
  const values = parse(args, {
    repo: { type: 'string' },
    revision: { type: 'string' },
    dir: { type: 'string' },
    list: { type: 'boolean', default: false },
    catalog: { type: 'boolean', default: false },
  });
  if (values.catalog) return catalogCommand(values, io);
  if (typeof values.repo !== 'string') throw new UsageError('--repo is required (e.g. --repo Xenova/codegen-350M-mono), or --catalog for the models offered');
  if (values.model !== undefined) throw new UsageError('download writes a model folder: give it with --dir, not --model');
  const hub = hubSettingsFromEnv();
  const revision = typeof values.revision === 'string' ? values.revision : DEFAULT_REVISION;
  const variant = typeof values.variant === 'string' ? values.variant : undefined;
  let repo = values.repo;
  let dir = typeof values.dir === 'string' ? path.resolve(values.dir) : undefined;
  let bar: ReturnType<typeof progressBar> | undefined;
  try {
    repo = normalizeRepoId(repo);
    dir ??= path.join(defaultModelsRoot(), modelFolderName(repo, revision));
    const signal = interruptSignal();
    const snapshot = await fetchRepoSnapshot(repo, revision, hub, signal);
    if (values.list) return await listCommand(values, io, snapshot, hub, signal);
    bar = progressBar(io, !values.json && process.stderr.isTTY === true);
    const result = await downloadModel({ repo, revision, variant, dir, hub, signal, snapshot, onProgress: bar.update });
    bar.end();
    const onnxFile = result.format === 'checkpoint' && !values['no-compile'] ? await convert(result, values, io, signal) : undefined;
    if (values.json) {
      io.out(JSON.stringify({ ...result, ...(onnxFile ? { onnxFile } : {}) }) + '\n');
      return;
    }
    const fetched = result.downloaded.length ? `fetched ${result.downloaded.join(', ')}` : 'every file was already there';
    io.out(`${result.modelDir}\n`);
    io.err(`${repo} (${result.format === 'checkpoint' ? `checkpoint, ${result.variant}` : result.variant}, ${formatBytes(result.bytes)}) is ready: ${fetched}; all verified.\n`);
    if (result.format === 'checkpoint' && !onnxFile) io.err(`It is converted to ${result.variant} the first time it is loaded (a while for a big model; once).\n`);
    const cache = result.format === 'checkpoint' && typeof values.cache === 'string' ? ` --cache ${JSON.stringify(path.resolve(values.cache))}` : '';
    io.err(`Use it with: codegen-mt session --model ${JSON.stringify(result.modelDir)} --variant ${result.variant}${cache} --turns-file FILE\n`);
  } catch (err) {
    bar?.end();
    throw cliError(err, hub.endpoint, repo, revision, dir ?? '<models folder>', variant);
  }
}

/** Converts a downloaded checkpoint into the cache that loading uses (progress on stderr; Ctrl-C leaves nothing). */
async function convert(result: DownloadResult, values: Values, io: Io, signal: AbortSignal): Promise<string> {
  const cacheRoot = typeof values.cache === 'string' ? path.resolve(values.cache) : defaultCacheRoot();
  const converted = await ensureCompiled(result.modelDir, result.variant as Precision, cacheRoot, progressPrinter(io), signal);
  if (!converted.compiledNow) io.err(`${result.variant} was already converted (in ${converted.dir})\n`);
  return converted.file;
}

/** `--catalog`: every model offered, with each precision's needs on this machine. */
function catalogCommand(values: Values, io: Io): void {
  const bandwidth = measureMemoryBandwidth();
  const totalmem = os.totalmem();
  if (!values.json) {
    io.out(catalogTable(bandwidth, totalmem));
    return;
  }
  const models = CATALOG.map((entry) => ({
    ...entry,
    precisions: entryEstimates(entry, bandwidth).map((e) => ({ ...e, fits: fitsInMemory(e.ramBytes, totalmem) })),
  }));
  io.out(JSON.stringify({ bandwidth, totalmem, models }) + '\n');
}

/** `--list`: an ONNX export's variants with sizes, or a checkpoint's format, size and precisions. */
async function listCommand(values: Values, io: Io, snapshot: RepoSnapshot, hub: HubSettings, signal: AbortSignal): Promise<void> {
  const variants = remoteVariants(snapshot);
  const checkpoint = variants.length === 0 ? remoteCheckpoint(snapshot) : undefined;
  if (checkpoint) return listCheckpoint(values, io, snapshot, checkpoint, hub, signal);
  const small = smallFiles(snapshot);
  const { repo, revision } = snapshot;
  if (values.json) {
    io.out(JSON.stringify({ repo, revision, commit: snapshot.commit, format: 'onnx', variants, smallFiles: small }) + '\n');
    return;
  }
  io.out(`${repo} at ${revision} (commit ${snapshot.commit.slice(0, 12)}):\n`);
  if (variants.length === 0) io.out('  no onnx/*.onnx file and no checkpoint (model.safetensors, pytorch_model.bin): not a model the engine can load\n');
  variants.forEach((v, i) => io.out(`  ${v.variant.padEnd(32)} ${formatBytes(v.bytes).padStart(9)}${i === 0 ? '   (default)' : ''}\n`));
  const smallBytes = small.reduce((n, f) => n + f.size, 0);
  io.out(`plus ${small.map((f) => f.path).join(', ') || 'no config.json (not loadable)'} (${formatBytes(smallBytes)})\n`);
  io.out(`Download one with: codegen-mt download --repo ${repo} --variant <name>\n`);
}

async function listCheckpoint(values: Values, io: Io, snapshot: RepoSnapshot, checkpoint: RemoteCheckpoint, hub: HubSettings, signal: AbortSignal): Promise<void> {
  const { repo, revision } = snapshot;
  const config = catalogEntry(repo)?.config ?? (await remoteCodeGenConfig(snapshot, hub, signal));
  const bandwidth = measureMemoryBandwidth();
  const totalmem = os.totalmem();
  const fallback = defaultCheckpointPrecision(config);
  const estimates = PRECISIONS.map((p) => estimate(config, p, bandwidth));
  const bytes = checkpoint.bytes + smallFiles(snapshot).reduce((n, f) => n + f.size, 0);
  const files = [checkpoint.entry, ...checkpoint.likelyShards].map((f) => f.path);
  if (values.json) {
    const precisions = estimates.map((e) => ({ ...e, fits: fitsInMemory(e.ramBytes, totalmem) }));
    io.out(JSON.stringify({ repo, revision, commit: snapshot.commit, format: 'checkpoint', checkpointFormat: checkpoint.format, files, bytes, defaultPrecision: fallback, precisions }) + '\n');
    return;
  }
  const shards = checkpoint.sharded ? `, sharded: ${checkpoint.entry.path} and ${checkpoint.likelyShards.length} shards` : `: ${checkpoint.entry.path}`;
  io.out(`${repo} at ${revision} (commit ${snapshot.commit.slice(0, 12)}): a ${checkpoint.format === 'pytorch' ? 'PyTorch' : 'safetensors'} checkpoint${shards}, ${formatBytes(bytes)} to download\n`);
  io.out(`converted here to one precision (disk in the cache, RAM to run with the whole context, expected speed; * = more than this machine's memory allows):\n`);
  for (const e of estimates) io.out(`${estimateRow(e, e.precision === fallback, totalmem)}\n`);
  io.out(`Download and convert with: codegen-mt download --repo ${repo} --variant <precision>\n`);
}

function cliError(err: unknown, endpoint: string, repo: string, revision: string, dir: string, variant?: string): unknown {
  if (!(err instanceof DownloadError)) return err;
  if (err.code === 'invalid-request') return new UsageError(err.message);
  let message = err.message;
  const steps = err.manualSteps ?? (err.code === 'network' ? manualSteps({ endpoint }, repo, revision, dir, undefined, variant) : undefined);
  if (steps) message += `\n${steps}`;
  const code = err.code === 'cancelled' ? 'cancelled' : err.code === 'not-found' ? 'model-not-found' : err.code === 'invalid-model' ? 'invalid-model' : 'internal';
  return new EngineError(code, message);
}

/** On a terminal: one line redrawn in place; otherwise a line per finished file. */
function progressBar(io: Io, tty: boolean): { update: (p: DownloadProgress) => void; end: () => void } {
  let drawn = false;
  let ended = false;
  return {
    update: (p) => {
      if (ended) return;
      if (!tty) {
        if (p.phase === 'done') io.err(`${p.file}: ${formatBytes(p.fileSize)}, verified\n`);
        return;
      }
      const fraction = p.totalBytes > 0 ? p.bytes / p.totalBytes : 1;
      const width = 24;
      const filled = Math.round(fraction * width);
      const what = p.phase === 'verify' ? `verifying ${p.file}` : p.file;
      io.err(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${describeProgress(p)}  ${what}\x1b[K`);
      drawn = true;
    },
    end: () => {
      if (drawn && !ended) io.err('\n');
      ended = true;
    },
  };
}
