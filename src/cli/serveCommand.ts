// codegen-mt serve: the model behind an OpenAI-compatible completions server (src/server/completionsServer.ts says
// what it answers), until SIGINT or SIGTERM. The model runs in an engine process (EngineClient), not in this one:
// onnxruntime's run() blocks the event loop of its process, and the server's must stay free to take requests,
// queue them and notice clients that go away.
import * as net from 'node:net';
import * as path from 'node:path';
import { startCompletionsServer } from '../server/completionsServer';
import { EngineClient } from '../worker/engineClient';
import { compileNotice, loadOptionsOf, numberOption, parse, UsageError, type Io, type Values } from './common';

export const SERVE_USAGE = `  serve       --model DIR --port P [--host H] [--served-model-name NAME] [--api-key-env VAR]
                                                        an OpenAI-compatible completions server on the model
                                                        (GET /v1/models, POST /v1/completions) until Ctrl-C;
                                                        --host default 127.0.0.1 (this machine only), --port 0 any
                                                        free port, the model's name default its folder's name,
                                                        --api-key-env: require the key in that variable
`;

interface ServeOptions {
  readonly port: number;
  readonly host: string;
  readonly servedModel: string;
  readonly apiKey: string | undefined;
}

export async function serveCommand(args: string[], io: Io): Promise<void> {
  const values = parse(args, { port: { type: 'string' }, host: { type: 'string' }, 'served-model-name': { type: 'string' } });
  const options = serveOptionsOf(values);
  const log = (line: string): void => io.err(`${line}\n`);
  const engine = new EngineClient({ log });
  try {
    const info = await engine.load(loadOptionsOf(values), { onProgress: compileNotice(io) });
    const server = await startCompletionsServer({ engine, model: options.servedModel, nPositions: info.nPositions, host: options.host, port: options.port, apiKey: options.apiKey, log });
    io.err(`serving ${options.servedModel} at ${server.url}\n${exposureWarning(options)}`);
    const signal = await untilStopSignal();
    io.err(`${signal}: stopping\n`);
    await server.close();
  } finally {
    await engine.dispose();
  }
}

/** The command line checked before anything is loaded: every mistake is one UsageError. */
function serveOptionsOf(values: Values): ServeOptions {
  if (values.server !== undefined || values['server-model'] !== undefined) {
    throw new UsageError('serve runs a model itself: give it --model DIR, not --server or --server-model');
  }
  if (typeof values.model !== 'string') throw new UsageError('give the model folder to serve with --model DIR');
  const port = numberOption(values, 'port', true);
  if (port === undefined) throw new UsageError('give the port to listen on with --port P (0: any free port)');
  if (port < 0 || port > 65535) throw new UsageError(`--port must be 0..65535, got ${port}`);
  const host = values.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host.trim() === '') throw new UsageError('--host must name an address or a host name');
  const servedModel = values['served-model-name'] ?? path.basename(path.resolve(values.model));
  if (typeof servedModel !== 'string' || servedModel.trim() === '') throw new UsageError('--served-model-name must not be empty');
  return { port, host, servedModel, apiKey: apiKeyOf(values['api-key-env']) };
}

/** The key from the variable --api-key-env names (the key itself never goes on the command line, where ps shows it). */
function apiKeyOf(variable: string | boolean | undefined): string | undefined {
  if (typeof variable !== 'string') return undefined;
  const key = process.env[variable];
  if (!key) throw new UsageError(`--api-key-env names ${variable}, which is not set: export ${variable}=... first`);
  return key;
}

/** Said when the server can be reached from other machines: they can use it, with no key unless one was set. */
function exposureWarning({ host, apiKey }: ServeOptions): string {
  if (isLoopback(host)) return '';
  const open = apiKey === undefined ? ', and no API key is required: set one with --api-key-env VAR' : '';
  return `warning: ${host} is not a loopback address: anyone who can reach this machine can use the model${open}\n`;
}

function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (bare === 'localhost' || bare === '::1') return true;
  return net.isIPv4(bare) && bare.startsWith('127.');
}

/** Resolves with the first SIGINT or SIGTERM; a second SIGINT exits at once (130). */
function untilStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.once('SIGINT', () => process.exit(130));
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
