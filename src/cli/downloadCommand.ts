// codegen-mt download: list a hub repository's ONNX variants, or fetch one into a model folder, with a
// progress bar on stderr. Errors become the CLI's one-line messages (network errors with the manual steps).
import * as path from 'node:path';
import { DownloadError } from '../download/downloadError';
import { DEFAULT_REVISION, fetchRepoSnapshot, hubSettingsFromEnv, normalizeRepoId } from '../download/hubApi';
import {
  defaultModelsRoot,
  downloadModel,
  manualSteps,
  modelFolderName,
  remoteVariants,
  smallFiles,
  type DownloadProgress,
} from '../download/modelDownloader';
import { describeProgress, formatBytes } from '../download/progressMeter';
import { EngineError } from '../protocol/errors';
import { interruptSignal, parse, UsageError, type Io } from './common';

export const DOWNLOAD_USAGE = `  download    --repo R --list                           the ONNX variants of a Hugging Face repository, with sizes
              --repo R [--variant V] [--revision REV] [--dir D]
                                                        download one variant and config.json into a model folder
                                                        (default D: ~/.cache/codegen-mt/models/<owner>--<name>;
                                                        HF_ENDPOINT, HF_TOKEN, HTTPS_PROXY/NO_PROXY are honoured)
`;

export async function downloadCommand(args: string[], io: Io): Promise<void> {
  const values = parse(args, { repo: { type: 'string' }, revision: { type: 'string' }, dir: { type: 'string' }, list: { type: 'boolean', default: false } });
  if (typeof values.repo !== 'string') throw new UsageError('--repo is required (e.g. --repo Xenova/codegen-350M-mono)');
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
    if (values.list) {
      const variants = remoteVariants(snapshot);
      const small = smallFiles(snapshot);
      if (values.json) {
        io.out(JSON.stringify({ repo, revision, commit: snapshot.commit, variants, smallFiles: small }) + '\n');
        return;
      }
      io.out(`${repo} at ${revision} (commit ${snapshot.commit.slice(0, 12)}):\n`);
      if (variants.length === 0) io.out('  no onnx/*.onnx file: this repository is not an ONNX export\n');
      variants.forEach((v, i) => io.out(`  ${v.variant.padEnd(32)} ${formatBytes(v.bytes).padStart(9)}${i === 0 ? '   (default)' : ''}\n`));
      const smallBytes = small.reduce((n, f) => n + f.size, 0);
      io.out(`plus ${small.map((f) => f.path).join(', ') || 'no config.json (not loadable)'} (${formatBytes(smallBytes)})\n`);
      io.out(`Download one with: codegen-mt download --repo ${repo} --variant <name>\n`);
      return;
    }
    bar = progressBar(io, !values.json && process.stderr.isTTY === true);
    const result = await downloadModel({ repo, revision, variant, dir, hub, signal, snapshot, onProgress: bar.update });
    bar.end();
    if (values.json) {
      io.out(JSON.stringify(result) + '\n');
      return;
    }
    const fetched = result.downloaded.length ? `fetched ${result.downloaded.join(', ')}` : 'every file was already there';
    io.out(`${result.modelDir}\n`);
    io.err(`${repo} (${result.variant}, ${formatBytes(result.bytes)}) is ready: ${fetched}; all verified.\n`);
    io.err(`Use it with: codegen-mt session --model ${JSON.stringify(result.modelDir)} --variant ${result.variant} --turns-file FILE\n`);
  } catch (err) {
    bar?.end();
    throw cliError(err, hub.endpoint, repo, revision, dir ?? '<models folder>', variant);
  }
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
