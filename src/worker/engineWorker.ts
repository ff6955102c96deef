// The engine's own process: serves a LocalEngine over IPC, so onnxruntime's blocking run() and any native
// crash stay out of the editor's process.
import { CancellationToken, createMessageConnection, IPCMessageReader, IPCMessageWriter, ResponseError } from 'vscode-jsonrpc/node';
import { LocalEngine } from '../engine/localEngine';
import { toEngineError } from '../protocol/errors';
import {
  DeltaNotification,
  DisposeRequest,
  ENGINE_ERROR_CODE,
  FatalNotification,
  GenerateRpc,
  LoadProgressNotification,
  LoadRequest,
  PerplexityRpc,
  ReceivedNotification,
  TokenizeRequest,
} from './engineRpc';

const connection = createMessageConnection(new IPCMessageReader(process), new IPCMessageWriter(process));
const engine = new LocalEngine();

let received = 0;

/** Acknowledges the request (see ReceivedNotification), runs it, and turns any failure into a ResponseError carrying the EngineError's code. */
async function answer<T>(work: () => Promise<T>): Promise<T> {
  void connection.sendNotification(ReceivedNotification, { count: ++received });
  try {
    return await work();
  } catch (err) {
    const e = toEngineError(err);
    throw new ResponseError(ENGINE_ERROR_CODE, e.message, e.toJSON());
  }
}

function abortSignalOf(token: CancellationToken): AbortSignal {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  token.onCancellationRequested(() => controller.abort());
  return controller.signal;
}

connection.onRequest(LoadRequest, ({ progressId, ...options }, token) =>
  answer(() =>
    engine.load(options, {
      signal: abortSignalOf(token),
      onProgress: progressId === undefined ? undefined : (progress) => void connection.sendNotification(LoadProgressNotification, { progressId, progress }),
    }),
  ),
);
connection.onRequest(TokenizeRequest, ({ text }) => answer(() => engine.tokenize(text)));
connection.onRequest(GenerateRpc, ({ streamId, request }, token) =>
  answer(() =>
    engine.generate(request, {
      signal: abortSignalOf(token),
      onDelta: (delta) => void connection.sendNotification(DeltaNotification, { streamId, delta }),
    }),
  ),
);
connection.onRequest(PerplexityRpc, (request, token) => answer(() => engine.perplexity(request, abortSignalOf(token))));
connection.onRequest(DisposeRequest, () => answer(() => engine.dispose()));

process.on('uncaughtException', (err) => {
  void connection.sendNotification(FatalNotification, { message: err.stack ?? String(err) });
  setTimeout(() => process.exit(1), 100);
});
// The host went away (closed, crashed): do not linger as an orphan holding the model's memory.
process.on('disconnect', () => process.exit(0));

connection.listen();

// Ctrl-C in a terminal signals the whole process group: the host (codegen-mt serve, the CLI) decides when the
// engine ends (it disposes the client, or goes away and 'disconnect' fires), so a request running then finishes.
process.on('SIGINT', () => undefined);
