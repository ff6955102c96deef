// The engine in its own process: same results as in-process, streaming, cancellation, crash and restart.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { LocalEngine } from '../../src/engine/localEngine';
import type { GenerateRequest } from '../../src/protocol/engine';
import { EngineError } from '../../src/protocol/errors';
import { MTPB_HEADER, promptContext } from '../../src/session/paperFormat';
import { EngineClient } from '../../src/worker/engineClient';
import { MODEL_DIR } from '../helpers/model';

const logs: string[] = [];
const client = new EngineClient({ log: (line) => logs.push(line) });
after(() => client.dispose());

const request: GenerateRequest = {
  context: promptContext(MTPB_HEADER, [], 'Sort the list.'),
  temperature: 0.8,
  seed: 11,
  maxNewTokens: 20,
  stop: 'none',
};

test('the worker gives the same results as the in-process engine, streamed', async () => {
  const info = await client.load({ modelDir: MODEL_DIR });
  assert.equal(info.variant, 'model');
  assert.notEqual(client.pid, process.pid);
  const deltas: string[] = [];
  const remote = await client.generate(request, { onDelta: (d) => deltas.push(d) });
  const local = new LocalEngine();
  await local.load({ modelDir: MODEL_DIR });
  const inProcess = await local.generate(request);
  const ppl = await local.perplexity({ context: request.context });
  await local.dispose();
  assert.deepEqual(remote.ids, inProcess.ids);
  assert.equal(remote.text, inProcess.text);
  assert.equal(deltas.join(''), remote.text);
  assert.ok(deltas.length > 1);
  const remotePpl = await client.perplexity({ context: request.context });
  assert.ok(Math.abs(remotePpl.perplexity - ppl.perplexity) / ppl.perplexity < 1e-6);
  assert.deepEqual(await client.tokenize('    return x'), [50284, 7783, 2124]);
});

test('Stop (an AbortSignal) cancels a generation in the worker within a step', async () => {
  const controller = new AbortController();
  let count = 0;
  const r = await client.generate(
    { ...request, maxNewTokens: 1000 },
    {
      signal: controller.signal,
      onDelta: () => {
        if (++count === 3) controller.abort();
      },
    },
  );
  assert.equal(r.stopReason, 'cancelled');
  // The cancel travels over IPC while the worker decodes: a few steps may pass, never the whole budget.
  assert.ok(r.ids.length < 50, `${r.ids.length} tokens`);
});

test('errors cross the process boundary with their code', async () => {
  await assert.rejects(client.generate({ ...request, temperature: -1 }), (e: EngineError) => e instanceof EngineError && e.code === 'invalid-request');
  await assert.rejects(client.load({ modelDir: '/nonexistent' }), (e: EngineError) => e.code === 'model-not-found');
  // The failed load left the working model in place.
  assert.equal((await client.generate({ ...request, maxNewTokens: 2 })).ids.length, 2);
});

test('if the engine process dies, the pending request fails clearly and the next one starts a fresh process', async () => {
  const before = client.pid!;
  const pending = client.generate({ ...request, maxNewTokens: 1500 }, {
    onDelta: () => {
      if (client.pid === before) process.kill(before, 'SIGKILL');
    },
  });
  await assert.rejects(pending, (e: EngineError) => e.code === 'engine-crashed' && /SIGKILL/.test(e.message) && /next request starts a fresh one/.test(e.message));
  const after = await client.generate(request);
  assert.notEqual(client.pid, before);
  assert.equal(after.ids.length, 20); // the model was loaded again by itself
});

test('dispose ends the worker process', async () => {
  const other = new EngineClient();
  await other.load({ modelDir: MODEL_DIR });
  const pid = other.pid!;
  await other.dispose();
  await new Promise((r) => setTimeout(r, 200));
  assert.throws(() => process.kill(pid, 0));
});
