// Which files a download of a Salesforce-style repository fetches: no onnx/, but a checkpoint in one of the
// formats the converter reads. One format is fetched, the first of CHECKPOINT_ENTRIES the repository has; a
// sharded one is its index JSON first, then the shards that index names. `variant` means the precision the
// checkpoint will be converted to.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CHECKPOINT_ENTRIES, defaultCheckpointPrecision, type CheckpointFormat } from '../engine/checkpoint/checkpointFolder';
import { isPrecision } from '../engine/compiler/compile';
import { PRECISIONS, type Precision } from '../engine/compiler/graphBuilder';
import { readCodeGenConfig, type CodeGenConfig } from '../engine/modelFolder';
import { EngineError } from '../protocol/errors';
import { DownloadError } from './downloadError';
import { httpGet, readText } from './httpClient';
import { httpOptions, resolveUrl, statusError, type HubSettings, type RemoteFile, type RepoSnapshot } from './hubApi';

export interface RemoteCheckpoint {
  readonly format: CheckpointFormat;
  /** The weights file, or the index JSON of a sharded checkpoint. */
  readonly entry: RemoteFile;
  readonly sharded: boolean;
  /** The shards by the hub's naming (`model-00001-of-00002.safetensors`): sizes before the index is read. */
  readonly likelyShards: readonly RemoteFile[];
  /** Bytes of the weights: the single file, or the index and its likely shards. */
  readonly bytes: number;
}

const SHARD_NAMES: Readonly<Record<CheckpointFormat, RegExp>> = {
  safetensors: /^model-\d+-of-\d+\.safetensors$/,
  pytorch: /^pytorch_model-\d+-of-\d+\.bin$/,
};

/** The checkpoint a repository offers, in the converter's order of preference; undefined if it has none. */
export function remoteCheckpoint(snapshot: RepoSnapshot): RemoteCheckpoint | undefined {
  for (const [name, format] of CHECKPOINT_ENTRIES) {
    const entry = snapshot.files.find((f) => f.path === name);
    if (!entry) continue;
    const sharded = name.endsWith('.index.json');
    const likelyShards = sharded ? snapshot.files.filter((f) => SHARD_NAMES[format].test(f.path)) : [];
    return { format, entry, sharded, likelyShards, bytes: [entry, ...likelyShards].reduce((n, f) => n + f.size, 0) };
  }
  return undefined;
}

/**
 * The precision a checkpoint download is converted to: the one asked for (fp32, fp16, int8 or int4), or
 * undefined for the default, which depends on the model's size (known once config.json is in).
 */
export function checkpointPrecision(repo: string, requested: string | undefined): Precision | undefined {
  if (requested === undefined || requested === '') return undefined;
  if (isPrecision(requested)) return requested;
  throw new DownloadError(
    'invalid-request',
    `${repo} is a PyTorch/safetensors checkpoint, converted on this machine to a precision: --variant must be one of ${PRECISIONS.join(', ')} (default: int8 below 1.5B parameters, int4 above), not "${requested}".`,
  );
}

export function precisionFor(config: CodeGenConfig, requested: Precision | undefined): Precision {
  return requested ?? defaultCheckpointPrecision(config);
}

/**
 * The shards a downloaded index JSON names, as the repository lists them, in the order of their names
 * (00001-of-N first). A shard the repository does not have, or an index that is not one, is an error naming it.
 */
export function shardFiles(repo: string, checkpoint: RemoteCheckpoint, indexFile: string, snapshot: RepoSnapshot): RemoteFile[] {
  const what = `${checkpoint.entry.path} of ${repo}`;
  let map: unknown;
  try {
    map = (JSON.parse(fs.readFileSync(indexFile, 'utf8')) as { weight_map?: unknown })?.weight_map;
  } catch (err) {
    throw new DownloadError('invalid-model', `${what} cannot be read as JSON (${(err as Error).message}): the repository is damaged; try another revision or repository.`);
  }
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new DownloadError('invalid-model', `${what} has no "weight_map" naming each tensor's shard: it is not a checkpoint index; try another revision or repository.`);
  }
  const names = [...new Set(Object.values(map as Record<string, unknown>))];
  return names.map((name) => {
    const file = typeof name === 'string' && !/[/\\]/.test(name) && !name.startsWith('.') ? snapshot.files.find((f) => f.path === name) : undefined;
    if (!file) {
      throw new DownloadError(
        'not-found',
        `${what} names the shard ${JSON.stringify(name)}, which the repository does not have at commit ${snapshot.commit.slice(0, 12)}: the upload is incomplete; try another revision or repository (nothing more was downloaded).`,
      );
    }
    return file;
  }).sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * The model shape a repository's config.json describes, fetched on its own (a few hundred bytes) so that sizes
 * and memory can be shown before the download; read by the engine's own rules.
 */
export async function remoteCodeGenConfig(snapshot: RepoSnapshot, hub: HubSettings, signal?: AbortSignal): Promise<CodeGenConfig> {
  const res = await httpGet(resolveUrl(hub.endpoint, snapshot.repo, snapshot.commit, 'config.json'), httpOptions(hub, signal));
  if (res.status < 200 || res.status >= 300) throw await statusError(res, `config.json of ${snapshot.repo}`, hub);
  const text = await readText(res, 1024 * 1024);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-mt-config-'));
  try {
    fs.writeFileSync(path.join(dir, 'config.json'), text);
    return readCodeGenConfig(dir);
  } catch (err) {
    const message = err instanceof EngineError ? err.message.split(dir).join(snapshot.repo) : String(err);
    throw new DownloadError('invalid-model', `${snapshot.repo} is not a CodeGen model the engine can load: ${message}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
