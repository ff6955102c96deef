// MTPB through a completions server equals the local run: the same problems, modes and seeds give the same turns
// (the server is codegen-mt serve's over the bundled model in an engine process; the client the RemoteEngine the
// CLI's --server and the extension use), the same pass results, and the prompt perplexities within fp noise.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, before, test } from 'node:test';
import { RemoteEngine } from '../../src/engine/remote/remoteEngine';
import { runMtpb, type MtpbRecord } from '../../src/eval/mtpb';
import { startCompletionsServer } from '../../src/server/completionsServer';
import { EngineClient } from '../../src/worker/engineClient';
import { MODEL_DIR } from '../helpers/model';
import { NO_PYTHON, PYTHON, tmpDir } from './helpers';

let engine: EngineClient;
let server: { url: string; close(): Promise<void> } | undefined;

before(async () => {
  engine = new EngineClient();
  const info = await engine.load({ modelDir: MODEL_DIR });
  server = await startCompletionsServer({ engine, model: 'tiny', nPositions: info.nPositions, port: 0 });
});

after(async () => {
  await server?.close();
  await engine.dispose();
});

const records = (file: string): MtpbRecord[] =>
  fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as MtpbRecord);

test('MTPB on two problems through the server equals the local run on the same seeds', { skip: NO_PYTHON }, async () => {
  const options = { problems: ['1', '2'], modes: ['multi'] as const, samples: 1, seed: 7, python: PYTHON!.executable, model: 'tiny' };
  const local = await runMtpb(engine, { ...options, outDir: tmpDir('codegen-mt-mtpb-local-') });
  const remote = new RemoteEngine({ url: server!.url });
  const info = await remote.load();
  assert.equal(info.server?.promptLogprobs, 'echo');
  const viaServer = await runMtpb(remote, { ...options, nPositions: info.nPositions, outDir: tmpDir('codegen-mt-mtpb-server-') });
  const [a, b] = [records(local.samplesPath), records(viaServer.samplesPath)];
  assert.ok(a.length >= 2, `${a.length} samples`);
  assert.equal(b.length, a.length);
  const key = (r: MtpbRecord): string => `${r.mode}/${r.id}/${r.input_index}/${r.sample_index}`;
  const byKey = new Map(b.map((r) => [key(r), r]));
  for (const left of a) {
    const right = byKey.get(key(left));
    assert.ok(right, key(left));
    assert.equal(right.completions, left.completions, `the program of ${key(left)}`);
    assert.equal(right.passed, left.passed, key(left));
    assert.equal(right.printed, left.printed, key(left));
    if (left.prompt_perplexity === null) assert.equal(right.prompt_perplexity, null, key(left));
    else assert.ok(Math.abs((right.prompt_perplexity ?? NaN) / left.prompt_perplexity - 1) < 1e-4, `${key(left)}: perplexity ${left.prompt_perplexity} vs ${right.prompt_perplexity}`);
  }
});
