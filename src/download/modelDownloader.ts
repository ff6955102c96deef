// Downloads a CodeGen model from the Hugging Face hub into a model folder the engine accepts: config.json and the
// small JSON files next to it, and one onnx/ variant (plus any external-data file it has), or for a repository
// without onnx/ (Salesforce's), its checkpoint in one format (checkpointPlan.ts), converted when it is loaded.
// Each file is fetched, resumed and verified by fileFetcher.ts; the folder is then checked by the engine's rules.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkCheckpoint, CHECKPOINT_ENTRIES } from '../engine/checkpoint/checkpointFolder';
import { PRECISIONS, type Precision } from '../engine/compiler/graphBuilder';
import { listVariants, readCodeGenConfig, resolveModelFolder, VARIANT_ALIASES, VARIANT_PREFERENCE } from '../engine/modelFolder';
import { EngineError } from '../protocol/errors';
import { checkpointPrecision, precisionFor, remoteCheckpoint, shardFiles } from './checkpointPlan';
import { DownloadError } from './downloadError';
import { fetchFailure, FileFetcher, localPath, readManifest, type FetchOptions } from './fileFetcher';
import { DEFAULT_REVISION, fetchRepoSnapshot, normalizeRepoId, resolveUrl, type HubSettings, type RemoteFile, type RepoSnapshot } from './hubApi';

export { MANIFEST_FILE, readManifest, verifyFile, type DownloadManifest, type DownloadPhase, type DownloadProgress } from './fileFetcher';

/** Fetched with every variant when the repository has them; only config.json is required by the engine. */
export const SMALL_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'] as const;

export interface RemoteVariant {
  /** The onnx/ stem (`model_int8`). */
  readonly variant: string;
  /** The .onnx file and any external-data file next to it. */
  readonly files: readonly RemoteFile[];
  /** Bytes of the variant's files. */
  readonly bytes: number;
}

function rank(stem: string): number {
  const i = (VARIANT_PREFERENCE as readonly string[]).indexOf(stem);
  return i < 0 ? VARIANT_PREFERENCE.length : i;
}

/** The onnx/ variants a repository has, in the engine's order of preference (its default first). */
export function remoteVariants(snapshot: RepoSnapshot): RemoteVariant[] {
  const onnx = snapshot.files.filter((f) => /^onnx\/[^/]+\.onnx$/.test(f.path));
  return onnx
    .map((f) => {
      const variant = f.path.slice('onnx/'.length, -'.onnx'.length);
      const data = snapshot.files.filter((d) => d.path.startsWith(`onnx/${variant}.onnx_data`) || d.path.startsWith(`onnx/${variant}.onnx.data`));
      const files = [f, ...data];
      return { variant, files, bytes: files.reduce((n, x) => n + x.size, 0) };
    })
    .sort((a, b) => rank(a.variant) - rank(b.variant) || a.variant.localeCompare(b.variant));
}

/** The small files the repository has (config.json first). */
export function smallFiles(snapshot: RepoSnapshot): RemoteFile[] {
  return SMALL_FILES.map((name) => snapshot.files.find((f) => f.path === name)).filter((f): f is RemoteFile => f !== undefined);
}

/** The variant a user asked for (a stem or one of the engine's aliases), or the engine's default. */
export function pickVariant(snapshot: RepoSnapshot, requested?: string): RemoteVariant {
  const variants = remoteVariants(snapshot);
  if (variants.length === 0) {
    throw new DownloadError('invalid-model', `${snapshot.repo} has no onnx/*.onnx file: it is not an ONNX export (look for one such as Xenova/codegen-350M-mono, or a checkpoint such as Salesforce/codegen-350M-mono).`);
  }
  if (requested === undefined || requested === '') return variants[0];
  const stem = VARIANT_ALIASES[requested] ?? requested;
  const found = variants.find((v) => v.variant === stem);
  if (!found) {
    throw new DownloadError(
      'not-found',
      `${snapshot.repo} has no variant "${requested}" (onnx/${stem}.onnx); it has: ${variants.map((v) => v.variant).join(', ')}.`,
    );
  }
  return found;
}

/** Where the extension looks for downloaded models: its own folder (under its global storage), then the CLI's. */
export function downloadedModelRoots(globalStoragePath: string): string[] {
  return [path.join(globalStoragePath, 'models'), defaultModelsRoot()];
}

export function defaultModelsRoot(env: Readonly<Record<string, string | undefined>> = process.env): string {
  if (process.platform === 'win32' && env.LOCALAPPDATA) return path.join(env.LOCALAPPDATA, 'codegen-mt', 'models');
  const cache = env.XDG_CACHE_HOME?.trim() || path.join(os.homedir(), '.cache');
  return path.join(cache, 'codegen-mt', 'models');
}

/** `Xenova--codegen-350M-mono`, with `@revision` when it is not main. */
export function modelFolderName(repo: string, revision = DEFAULT_REVISION): string {
  const base = normalizeRepoId(repo).replace('/', '--');
  return revision === DEFAULT_REVISION ? base : `${base}@${revision.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

export interface DownloadOptions extends FetchOptions {
  readonly repo: string;
  readonly revision?: string;
  /**
   * A stem or an alias; default: the engine's default among those the repository has. For a checkpoint, the
   * precision to convert to (fp32, fp16, int8, int4; default by size).
   */
  readonly variant?: string;
  /** The model folder; default `<defaultModelsRoot()>/<modelFolderName(repo)>`. */
  readonly dir?: string;
  /** A snapshot fetched earlier (the variant list shown to the user): saves one API call. */
  readonly snapshot?: RepoSnapshot;
}

export interface DownloadResult {
  readonly modelDir: string;
  /** The onnx/ stem; for a checkpoint, the precision it converts to when loaded (`--variant`). */
  readonly variant: string;
  /** An ONNX export's variant, or a checkpoint that the engine converts on first load. */
  readonly format: 'onnx' | 'checkpoint';
  /** For a checkpoint: the precision (the same as `variant`). */
  readonly precision?: Precision;
  readonly repo: string;
  readonly commit: string;
  /** Files fetched now, and files found already in place and verified. */
  readonly downloaded: readonly string[];
  readonly reused: readonly string[];
  readonly bytes: number;
}

/** The manual steps for when the hub cannot be reached: which files to put where. */
export function manualSteps(hub: HubSettings, repo: string, revision: string, dir: string, files?: readonly string[], variant?: string): string {
  const stem = variant ? (VARIANT_ALIASES[variant] ?? variant) : 'model_int8';
  const list = files ?? ['config.json', 'generation_config.json', 'tokenizer.json', `onnx/${stem}.onnx`];
  const lines = list.map((f) => `  ${resolveUrl(hub.endpoint, repo, revision, f)}\n    -> ${path.join(dir, ...f.split('/'))}`);
  return [
    `To install the model by hand, download these files (from a browser or a machine that can reach ${hub.endpoint}; the weights are large) and put each at the path shown:`,
    ...lines,
    `(or: huggingface-cli download ${repo} ${list.join(' ')} --revision ${revision} --local-dir ${dir})`,
    `Then use the folder: codegen-mt session --model ${dir} ..., or in VS Code "CodeGen: Select Model..." > "Choose folder...".`,
  ].join('\n');
}

/**
 * Downloads a model; resolves with the folder, checked by the engine's rules: an ONNX export's variant, or (for a
 * repository with no onnx/ but a checkpoint) the checkpoint in one format, its shards after its index.
 */
export async function downloadModel(options: DownloadOptions): Promise<DownloadResult> {
  const hub = options.hub;
  const repo = normalizeRepoId(options.repo);
  const revision = options.revision ?? DEFAULT_REVISION;
  const dir = path.resolve(options.dir ?? path.join(defaultModelsRoot(), modelFolderName(repo, revision)));
  const withSteps = (err: unknown, files?: readonly string[]): unknown => {
    if (!(err instanceof DownloadError) && (err as NodeJS.ErrnoException)?.syscall) err = fetchFailure(err, '', dir);
    if (err instanceof DownloadError && err.code === 'network' && !err.manualSteps) {
      return new DownloadError('network', `${err.message} Check the network, or the proxy (HTTPS_PROXY, NO_PROXY; in VS Code the http.proxy setting).`, manualSteps(hub, repo, revision, dir, files, options.variant));
    }
    return err;
  };

  let snapshot: RepoSnapshot;
  try {
    snapshot = options.snapshot ?? (await fetchRepoSnapshot(repo, revision, hub, options.signal));
  } catch (err) {
    throw withSteps(err);
  }
  if (!snapshot.files.some((f) => f.path === 'config.json')) throw new DownloadError('invalid-model', `${repo} has no config.json: it is not a model the engine can load.`);
  const checkpoint = remoteVariants(snapshot).length === 0 ? remoteCheckpoint(snapshot) : undefined;
  const precision = checkpoint && checkpointPrecision(repo, options.variant);
  const chosen = checkpoint ? undefined : pickVariant(snapshot, options.variant);
  const first = [...smallFiles(snapshot), ...(checkpoint ? [checkpoint.entry] : (chosen as RemoteVariant).files)];
  const expected = [...first, ...(checkpoint?.likelyShards ?? [])];
  fs.mkdirSync(dir, { recursive: true });
  const fetcher = new FileFetcher(options, repo, dir, snapshot, expected.reduce((n, f) => n + f.size, 0));
  let plan = expected;
  try {
    for (const file of first) await fetcher.fetch(file);
    if (checkpoint?.sharded) {
      const shards = shardFiles(repo, checkpoint, localPath(dir, checkpoint.entry.path), snapshot);
      plan = [...first, ...shards];
      for (const file of shards) await fetcher.fetch(file);
    }
  } catch (err) {
    throw withSteps(err, plan.map((f) => f.path));
  } finally {
    fetcher.writeManifest(revision, hub.endpoint);
  }

  const { downloaded, reused } = fetcher;
  const result = { modelDir: dir, repo, commit: snapshot.commit, downloaded, reused, bytes: plan.reduce((n, f) => n + f.size, 0) };
  if (!checkpoint) return { ...result, variant: acceptVariant(dir, repo, (chosen as RemoteVariant).variant), format: 'onnx' };
  const converted = acceptCheckpoint(dir, repo, precision);
  return { ...result, variant: converted, format: 'checkpoint', precision: converted };
}

function notAccepted(repo: string, err: unknown): DownloadError {
  const message = err instanceof EngineError ? err.message : String(err);
  return new DownloadError('invalid-model', `The files of ${repo} arrived but the engine does not accept the folder: ${message}`);
}

function acceptVariant(dir: string, repo: string, variant: string): string {
  try {
    resolveModelFolder(dir, variant);
  } catch (err) {
    throw notAccepted(repo, err);
  }
  return variant;
}

/** Checks the checkpoint's headers against config.json; returns the precision it is to be converted to. */
function acceptCheckpoint(dir: string, repo: string, requested: Precision | undefined): Precision {
  try {
    const config = readCodeGenConfig(dir);
    checkCheckpoint(dir, config);
    return precisionFor(config, requested);
  } catch (err) {
    throw notAccepted(repo, err);
  }
}

export interface DownloadedModel {
  readonly modelDir: string;
  /** `owner/name` from the manifest, or the folder's name. */
  readonly name: string;
  readonly variants: readonly string[];
  readonly commit?: string;
}

/**
 * The model folders under each root that the engine's rules would find a variant in: config.json and onnx/, or
 * config.json and a checkpoint (whose variants are the precisions it converts to).
 */
export function listDownloadedModels(roots: readonly string[]): DownloadedModel[] {
  const found: DownloadedModel[] = [];
  const seen = new Set<string>();
  for (const root of roots) {
    let names: string[];
    try {
      names = fs.readdirSync(root);
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      const modelDir = path.resolve(root, name);
      if (seen.has(modelDir) || !fs.existsSync(path.join(modelDir, 'config.json'))) continue;
      const onnx = listVariants(modelDir);
      const variants = onnx.length > 0 ? onnx : hasCheckpoint(modelDir) ? [...PRECISIONS] : [];
      if (variants.length === 0) continue;
      seen.add(modelDir);
      const manifest = readManifest(modelDir);
      found.push({ modelDir, name: manifest?.repo ?? name, variants, commit: manifest?.commit });
    }
  }
  return found;
}

function hasCheckpoint(modelDir: string): boolean {
  return CHECKPOINT_ENTRIES.some(([name]) => fs.existsSync(path.join(modelDir, name)));
}
