// codegen-mt serve as a process: it says where it serves, answers, logs each request, warns when reachable from
// other machines, and stops cleanly on SIGTERM and SIGINT; its command-line mistakes are one line each, exit 2.
// The CLI's --server on it gives the local results, and a client whose server is killed mid-stream says so.
// (The command runs from out/ here, through main(): the bundle in dist/ is what test/cli/cli.test.ts runs.)
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main';
import { RemoteEngine } from '../../src/engine/remote/remoteEngine';
import type { EngineError } from '../../src/protocol/errors';
import type { CompletionResponse, ModelList } from '../../src/protocol/completions';
import { NODE_FLAGS } from '../../src/worker/nodeFlags';
import { MODEL_DIR } from '../helpers/model';

const MAIN = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

interface Serving {
  readonly child: ChildProcess;
  /** The base URL it printed, reachable from here. */
  readonly url: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

/** Starts `codegen-mt serve ARGS` and resolves once it says where it serves. */
function startServe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Serving> {
  const script = `require(${JSON.stringify(MAIN)}).main(process.argv.slice(1)).then((code) => { process.exitCode = code; })`;
  const child = spawn(process.execPath, [...NODE_FLAGS, '-e', script, '--', 'serve', ...args], { env: { ...process.env, ...env } });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const match = /serving \S+ at (http:\/\/\S+)\n/.exec(stderr);
      if (match) resolve({ child, url: match[1].replace('//0.0.0.0:', '//127.0.0.1:'), stderr: () => stderr, exited });
    });
    void exited.then((code) => reject(new Error(`serve exited (${code}) before serving:\n${stderr}`)));
  });
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('serve prints where it serves, answers completions, logs each request and stops cleanly on SIGTERM', async () => {
  const serving = await startServe(['--model', MODEL_DIR, '--port', '0', '--served-model-name', 'tiny']);
  try {
    assert.match(serving.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    assert.doesNotMatch(serving.stderr(), /warning/);
    const models = (await (await fetch(`${serving.url}/models`)).json()) as ModelList;
    assert.equal(models.data[0].id, 'tiny');
    assert.equal(models.data[0].max_model_len, 2048);
    const response = await fetch(`${serving.url}/completions`, { method: 'POST', body: JSON.stringify({ model: 'tiny', prompt: 'def f():\n', max_tokens: 3 }) });
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as CompletionResponse).usage?.completion_tokens, 3);
    await waitFor(() => /POST \/v1\/completions 200 \d+\+3 tokens/.test(serving.stderr()), 'the request\'s log line');
  } finally {
    serving.child.kill('SIGTERM');
  }
  assert.equal(await serving.exited, 0, serving.stderr());
  assert.match(serving.stderr(), /SIGTERM: stopping/);
});

test('serve on a non-loopback address warns; with --api-key-env it requires the key; SIGINT stops it', async () => {
  const serving = await startServe(['--model', MODEL_DIR, '--port', '0', '--host', '0.0.0.0', '--api-key-env', 'SERVE_TEST_KEY'], { SERVE_TEST_KEY: 'k-123' });
  try {
    // The default name is the model folder's.
    assert.match(serving.stderr(), new RegExp(`serving ${path.basename(MODEL_DIR)} at http://0\\.0\\.0\\.0:\\d+/v1`));
    await waitFor(() => serving.stderr().includes('warning'), 'the warning');
    assert.match(serving.stderr(), /warning: 0\.0\.0\.0 is not a loopback address: anyone who can reach this machine can use the model\n/);
    assert.equal((await fetch(`${serving.url}/models`)).status, 401);
    assert.equal((await fetch(`${serving.url}/models`, { headers: { Authorization: 'Bearer k-123' } })).status, 200);
  } finally {
    serving.child.kill('SIGINT');
  }
  assert.equal(await serving.exited, 0, serving.stderr());
});

test('serve\'s command-line mistakes are one clear line each, exit code 2, before any model is loaded', async () => {
  const cases: { args: string[]; message: RegExp }[] = [
    { args: ['--port', '8000'], message: /--model DIR/ },
    { args: ['--model', MODEL_DIR], message: /--port P/ },
    { args: ['--model', MODEL_DIR, '--port', 'eighty'], message: /--port must be a whole number/ },
    { args: ['--model', MODEL_DIR, '--port', '70000'], message: /--port must be 0\.\.65535/ },
    { args: ['--model', MODEL_DIR, '--port', '0', '--api-key-env', 'SERVE_TEST_UNSET_VARIABLE'], message: /SERVE_TEST_UNSET_VARIABLE, which is not set/ },
    { args: ['--model', MODEL_DIR, '--port', '0', '--server', 'http://x/v1'], message: /not --server/ },
    { args: ['--model', MODEL_DIR, '--port', '0', '--served-model-name', ''], message: /must not be empty/ },
    { args: ['--model', MODEL_DIR, '--port', '0', '--bogus'], message: /bogus/ },
  ];
  for (const c of cases) {
    let err = '';
    const code = await main(['serve', ...c.args], { out: () => undefined, err: (t) => (err += t) });
    assert.equal(code, 2, `${c.args.join(' ')}: ${err}`);
    const [first, ...rest] = err.trimEnd().split('\n');
    assert.match(first, /^codegen-mt serve: /);
    assert.match(first, c.message);
    assert.deepEqual(rest, ['Run "codegen-mt --help" for usage.']);
  }
  let usage = '';
  assert.equal(await main(['--help'], { out: (t) => (usage += t), err: () => undefined }), 0);
  assert.match(usage, /\n {2}serve {7}--model DIR --port P/);
});

test('the CLI on a server (--server): generate, perplexity and session give what they give locally; its options are checked', async () => {
  const serving = await startServe(['--model', MODEL_DIR, '--port', '0', '--served-model-name', 'tiny']);
  const run = async (args: string[]): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const code = await main(args, { out: (t) => (out += t), err: (t) => (err += t) });
    return { code, out, err };
  };
  try {
    const server = ['--server', serving.url, '--server-model', 'tiny'];
    const generate = ['generate', '--prompt', 'def add(a, b):\n', '--temperature', '0', '--max-new-tokens', '24', '--json'];
    const [local, remote] = [await run(generate), await run([...generate, ...server])];
    assert.equal(remote.code, 0, remote.err);
    const [l, r] = [JSON.parse(local.out) as { text: string; stopReason: string }, JSON.parse(remote.out) as { text: string; stopReason: string }];
    assert.equal(r.text, l.text);
    assert.equal(r.stopReason, l.stopReason);
    const perplexity = ['perplexity', '--prompt', '# Add two numbers.', '--json'];
    const [lp, rp] = [JSON.parse((await run(perplexity)).out) as { perplexity: number }, JSON.parse((await run([...perplexity, ...server])).out) as { perplexity: number }];
    assert.ok(Math.abs(rp.perplexity / lp.perplexity - 1) < 1e-4, `${lp.perplexity} vs ${rp.perplexity}`);
    const wrongModel = await run([...generate, '--server', serving.url, '--server-model', 'other']);
    assert.notEqual(wrongModel.code, 0);
    assert.match(wrongModel.err, /does not serve "other" \(it serves: tiny\)/);
    const withFolder = await run([...generate, ...server, '--model', MODEL_DIR]);
    assert.equal(withFolder.code, 2);
    assert.match(withFolder.err, /--model is for a local model/);
    const noServer = await run([...generate, '--server-model', 'tiny']);
    assert.equal(noServer.code, 2);
    assert.match(noServer.err, /--server-model needs --server URL/);
  } finally {
    serving.child.kill('SIGTERM');
  }
  await serving.exited;
});

test('the server killed in the middle of a streamed turn: the client says the connection broke mid-completion', async () => {
  // Should the turn end anyway (EOS) before the kill lands, it is tried again on a fresh server.
  let failure: unknown;
  for (let attempt = 0; attempt < 3 && failure === undefined; attempt++) {
    const serving = await startServe(['--model', MODEL_DIR, '--port', '0']);
    const remote = new RemoteEngine({ url: serving.url });
    await remote.load();
    let killed = false;
    const request = { context: { header: '', turns: [], prompt: 'def long():\n' }, maxNewTokens: 1500, temperature: 0.8, seed: 11 + attempt, stop: 'none' as const };
    failure = await remote
      .generate(request, {
        onDelta: () => {
          if (!killed) serving.child.kill('SIGKILL');
          killed = true;
        },
      })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    if (!killed) serving.child.kill('SIGKILL');
    await serving.exited;
  }
  const err = failure as EngineError;
  assert.ok(err, 'a turn was cut by the kill (3 tries)');
  assert.equal(err.code, 'server-unreachable');
  assert.match(err.message, /closed the connection in the middle of a completion/);
});
