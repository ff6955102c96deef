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
  scoreTokens: true,
};

test('the worker gives the same results as the in-process engine, streamed', async () => {
  const info = await client.load({ modelDir: MODEL_DIR });
  assert.equal(info.variant, 'fp32');
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
  assert.ok(typeof remote.meanLogprob === 'number', 'meanLogprob crosses the worker (JSON)');
  assert.equal(remote.meanLogprob, inProcess.meanLogprob);
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

test('a request sent right after the engine process dies runs in a fresh one, 10 times out of 10', async () => {
  await client.load({ modelDir: MODEL_DIR });
  for (let i = 0; i < 10; i++) {
    const before = client.pid!;
    process.kill(before, 'SIGKILL');
    // Sent before the client can have seen the exit: the dead process never took it up.
    const [ids, generated] = await Promise.all([client.tokenize('    return x'), client.generate({ ...request, maxNewTokens: 3 })]);
    assert.deepEqual(ids, [50284, 7783, 2124]);
    assert.equal(generated.ids.length, 3);
    assert.notEqual(client.pid, before);
  }
});

/** A client whose watchdog acts quickly, with one model loaded, and the pid of its (soon frozen) process. */
async function frozenEngine(): Promise<{ frozen: EngineClient; pid: number }> {
  const frozen = new EngineClient({ cancelGraceMs: 300, quickCallMs: 500, log: (line) => logs.push(line) });
  await frozen.load({ modelDir: MODEL_DIR });
  const pid = frozen.pid!;
  process.kill(pid, 'SIGSTOP');
  return { frozen, pid };
}

function exited(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

test('Stop ends a generation on a frozen engine: the process is killed and the next request runs in a fresh one', { timeout: 30_000 }, async () => {
  const { frozen, pid } = await frozenEngine();
  try {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(frozen.generate({ ...request, maxNewTokens: 500 }, { signal: controller.signal }), (e: EngineError) => {
      assert.equal(e.code, 'cancelled');
      assert.match(e.message, /stopped responding \(it made no progress after Stop/);
      return true;
    });
    await waitUntil(() => exited(pid), 'the frozen process is gone');
    const after = await frozen.generate({ ...request, maxNewTokens: 4 });
    assert.equal(after.ids.length, 4);
    assert.notEqual(frozen.pid, pid);
  } finally {
    await frozen.dispose();
  }
});

test('a quick request to a frozen engine is answered by a fresh process', { timeout: 30_000 }, async () => {
  const { frozen, pid } = await frozenEngine();
  try {
    assert.deepEqual(await frozen.tokenize('    return x'), [50284, 7783, 2124]);
    assert.notEqual(frozen.pid, pid);
    assert.ok(exited(pid));
    // A cancelled perplexity on a frozen engine ends too.
    const pid2 = frozen.pid!;
    await frozen.load({ modelDir: MODEL_DIR });
    process.kill(pid2, 'SIGSTOP');
    const controller = new AbortController();
    const scoring = frozen.perplexity({ context: request.context }, controller.signal);
    controller.abort();
    await assert.rejects(scoring, (e: EngineError) => e.code === 'cancelled');
  } finally {
    await frozen.dispose();
  }
});

test('a busy engine is not killed by a quick request waiting behind a long one', { timeout: 60_000 }, async () => {
  const busy = new EngineClient({ quickCallMs: 200, log: (line) => logs.push(line) });
  try {
    await busy.load({ modelDir: MODEL_DIR });
    const pid = busy.pid!;
    // A long prefill keeps the worker's event loop blocked for a while; tokenize waits behind it.
    const long = busy.perplexity({ context: { header: '', turns: [], prompt: 'x = 1\n'.repeat(450) } });
    const ids = await busy.tokenize('x');
    await long;
    assert.deepEqual(ids, [87]);
    assert.equal(busy.pid, pid, 'the same process answered');
  } finally {
    await busy.dispose();
  }
});

async function waitUntil(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100 && !condition(); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(condition(), what);
}

test('dispose ends the worker process', async () => {
  const other = new EngineClient();
  await other.load({ modelDir: MODEL_DIR });
  const pid = other.pid!;
  await other.dispose();
  await new Promise((r) => setTimeout(r, 200));
  assert.throws(() => process.kill(pid, 0));
});
