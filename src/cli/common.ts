// Shared by the CLI's commands: option parsing, reading inputs, opening the engine, Ctrl-C.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { bundledModelDir } from '../engine/bundledModel';
import { resolveGenerationConfig } from '../engine/generation/config';
import { LocalEngine } from '../engine/localEngine';
import { RemoteEngine } from '../engine/remote/remoteEngine';
import { parseSpeculate, type LoadOptions, type LoadProgress } from '../protocol/engine';
import { EngineError } from '../protocol/errors';

/** A mistake in the command line: printed with a pointer to --help, exit code 2. */
export class UsageError extends Error {}

/** Whether an error is the user's command line (exit 2): a UsageError, or a request the engine refused as out of range. */
export function isUsageError(err: unknown): boolean {
  return err instanceof UsageError || (err instanceof EngineError && err.code === 'invalid-request');
}

export const COMMON = {
  model: { type: 'string' },
  server: { type: 'string' },
  'server-model': { type: 'string' },
  'api-key-env': { type: 'string' },
  variant: { type: 'string' },
  threads: { type: 'string' },
  'no-compile': { type: 'boolean', default: false },
  cache: { type: 'string' },
  speculate: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;
export const SAMPLING = {
  'max-new-tokens': { type: 'string' },
  temperature: { type: 'string' },
  'top-p': { type: 'string' },
  seed: { type: 'string' },
} as const;

export type Values = Record<string, string | boolean | undefined>;

export function parse(args: string[], options: ParseArgsConfig['options']): Values {
  try {
    return parseArgs({ args, options: { ...COMMON, ...options }, strict: true, allowPositionals: false }).values as Values;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function numberOption(values: Values, name: string, integer: boolean): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be ${integer ? 'a whole number' : 'a number'}, got "${raw}"`);
  }
  return n;
}

export function readTextFile(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Exactly one of --NAME and --NAME-file (or --file). */
export function textOrFile(values: Values, textName: string, fileName: string): string {
  const text = values[textName];
  const file = values[fileName];
  if ((text === undefined) === (file === undefined)) throw new UsageError(`give exactly one of --${textName} and --${fileName}`);
  return typeof text === 'string' ? text : readTextFile(file as string, 'file');
}

/** The engine the options name: a completions server (--server), else the local model (--model or the bundled one). */
export async function openEngine(values: Values, io?: Io): Promise<LocalEngine | RemoteEngine> {
  if (typeof values.server === 'string') return openServer(values);
  for (const name of ['server-model', 'api-key-env']) {
    if (values[name] !== undefined) throw new UsageError(`--${name} needs --server URL`);
  }
  const engine = new LocalEngine();
  await engine.load(loadOptionsOf(values), { onProgress: io ? compileNotice(io) : undefined });
  return engine;
}

/**
 * The local model's load options (--model or the bundled one, --variant, --threads, --no-compile, --cache,
 * --speculate off|lookup|DIR), for any engine.
 */
export function loadOptionsOf(values: Values): LoadOptions {
  const speculate = typeof values.speculate === 'string' ? parseSpeculate(values.speculate) : undefined;
  return {
    modelDir: typeof values.model === 'string' ? values.model : bundledModelDir(),
    variant: values.variant as string | undefined,
    threads: numberOption(values, 'threads', true),
    compile: !values['no-compile'],
    ...(typeof values.cache === 'string' ? { compiledCache: path.resolve(values.cache) } : {}),
    ...(speculate === undefined ? {} : { speculate: typeof speculate === 'object' ? { draftModelDir: path.resolve(speculate.draftModelDir) } : speculate }),
  };
}

async function openServer(values: Values): Promise<RemoteEngine> {
  for (const name of ['model', 'variant', 'threads', 'cache', 'speculate']) {
    if (values[name] !== undefined) throw new UsageError(`--${name} is for a local model; with --server the server runs the model (choose it with --server-model)`);
  }
  const keyVariable = values['api-key-env'];
  let apiKey: string | undefined;
  if (typeof keyVariable === 'string') {
    apiKey = process.env[keyVariable];
    if (!apiKey) throw new UsageError(`--api-key-env names ${keyVariable}, which is not set: export ${keyVariable}=... first`);
  }
  const engine = new RemoteEngine({ url: values.server as string, model: values['server-model'] as string | undefined, apiKey });
  await engine.load();
  return engine;
}

/** Says once that a model is being compiled (it takes a while only the first time). */
export function compileNotice(io: Io): (p: LoadProgress) => void {
  let said = false;
  return (p) => {
    if (p.phase === 'compiling' && !said) {
      said = true;
      io.err(`${p.message.replace(/: [^:]*$/, '')}...\n`);
    }
  };
}

/** Compile progress on stderr: one updating line on a terminal, the start and the end otherwise. */
export function progressPrinter(io: Io): (p: { fraction: number; message: string }) => void {
  const tty = process.stderr.isTTY === true;
  let last = '';
  return ({ fraction, message }) => {
    if (tty) io.err(`\r${message}\x1b[K${fraction >= 1 ? '\n' : ''}`);
    else if (fraction === 0 || fraction >= 1 || message.split(':')[0] !== last) io.err(`${message}\n`);
    last = message.split(':')[0];
  };
}

export interface SamplingOptions {
  readonly maxNewTokens?: number;
  readonly temperature?: number;
  readonly topP?: number;
  readonly seed?: number;
}

/** Sampling options checked by the engine's own rules before any model is loaded, so a bad value exits 2 at once. */
export function checkedSampling<T extends SamplingOptions>(sampling: T): T {
  try {
    resolveGenerationConfig({ context: { header: '', turns: [], prompt: '' }, ...sampling }, () => 0);
  } catch (err) {
    throw err instanceof EngineError ? new UsageError(err.message) : err;
  }
  return sampling;
}

export function samplingOf(values: Values): SamplingOptions {
  return checkedSampling({
    maxNewTokens: numberOption(values, 'max-new-tokens', true),
    temperature: numberOption(values, 'temperature', false),
    topP: numberOption(values, 'top-p', false),
    seed: numberOption(values, 'seed', true),
  });
}

/** Ctrl-C stops generation cleanly (the partial result is printed); a second one exits at once. */
export function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  process.once('SIGINT', () => {
    controller.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  return controller.signal;
}

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
}

