// Speculative decoding in the engine, on real graphs: greedy output with prompt lookup and with a draft model
// equals plain decoding token for token, on the bundled model and on a codegen-350M-shaped one (16 heads of 64,
// rotary 32; 2 layers of random weights), with the turn rules on; the cache after it gives the same next logits
// (a perplexity of the same context right after); the model line says what guesses; an old graph that cannot
// check guesses falls back to plain decoding.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { compileRandomModel } from '../../src/engine/compiler/compile';
import { LocalEngine } from '../../src/engine/localEngine';
import type { GenerateRequest, LoadOptions } from '../../src/protocol/engine';
import { MTPB_HEADER, promptContext } from '../../src/session/paperFormat';
import { MODEL_DIR } from '../helpers/model';
import { salesforceShape } from '../../src/engine/checkpoint/salesforceModels';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-speculative-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** A small random CodeGen of another shape, as a draft (it shares the tokenizer; its guesses are often wrong). */
let draftDir = '';
let shaped350M = '';
before(async () => {
  draftDir = path.dirname(path.dirname(await compileRandomModel({ name: 'draft', nLayer: 1, nEmbd: 64, nHead: 4, rotaryDim: 8, seed: 3 }, 'fp32', path.join(scratch, 'draft'))));
  shaped350M = path.dirname(path.dirname(await compileRandomModel({ ...salesforceShape('350M')!, nLayer: 2, seed: 5 }, 'fp32', path.join(scratch, '350m'))));
});

const repetitive = promptContext(
  MTPB_HEADER,
  [{ prompt: 'Make a list.', code: 'values = [1, 2, 3]\ntotal = 0\nfor v in values:\n    total = total + v' }],
  'Sum it again.',
);
const fresh = promptContext(MTPB_HEADER, [], 'Assign the string "abcde" to a variable named "my_string".');

async function withEngines<T>(options: LoadOptions, run: (plain: LocalEngine, spec: LocalEngine) => Promise<T>): Promise<T> {
  const plain = new LocalEngine();
  const spec = new LocalEngine();
  try {
    await plain.load({ ...options, speculate: 'off' });
    await spec.load(options);
    return await run(plain, spec);
  } finally {
    await Promise.all([plain.dispose(), spec.dispose()]);
  }
}

async function assertSameGreedy(plain: LocalEngine, spec: LocalEngine, what: string): Promise<number> {
  let accepted = 0;
  for (const context of [repetitive, fresh]) {
    for (const stop of ['none', 'turn'] as const) {
      const request: GenerateRequest = { context, maxNewTokens: 48, temperature: 0, stop };
      const a = await plain.generate(request);
      const b = await spec.generate(request);
      assert.deepEqual(b.ids, a.ids, `${what}, stop ${stop}: the same tokens`);
      assert.equal(b.text, a.text);
      assert.equal(b.stopReason, a.stopReason);
      assert.equal(a.speculation, undefined);
      assert.ok(b.speculation && b.speculation.verifies >= 0);
      accepted += b.speculation!.accepted;
      // The cache left behind: the same context's perplexity right after, from what each cache holds.
      const followUp = { context: { ...context, prompt: `${context.prompt}${b.text}` } };
      const [pa, pb] = [await plain.perplexity(followUp), await spec.perplexity(followUp)];
      assert.equal(pb.reusedTokens, pa.reusedTokens, `${what}: the caches hold as much`);
      assert.ok(Math.abs(pb.perplexity - pa.perplexity) <= 1e-4 * pa.perplexity, `${what}: the same perplexity`);
    }
  }
  return accepted;
}

test('greedy with prompt lookup equals plain decoding on the bundled model, and guesses are accepted', async () => {
  await withEngines({ modelDir: MODEL_DIR }, async (plain, spec) => {
    assert.equal(spec.modelInfo?.speculation, 'lookup');
    assert.equal(plain.modelInfo?.speculation, 'off');
    const accepted = await assertSameGreedy(plain, spec, 'lookup');
    assert.ok(accepted > 0, 'some guesses were accepted');
  });
});

test('greedy with a draft model equals plain decoding on the bundled model', async () => {
  await withEngines({ modelDir: MODEL_DIR, speculate: { draftModelDir: draftDir } }, async (plain, spec) => {
    assert.equal(spec.modelInfo?.speculation, 'lookup + draft: draft (fp32)');
    await assertSameGreedy(plain, spec, 'draft');
  });
});

test('on a codegen-350M-shaped model: lookup and a draft model both equal plain decoding', async () => {
  await withEngines({ modelDir: shaped350M }, (plain, spec) => assertSameGreedy(plain, spec, '350M-shaped, lookup'));
  await withEngines({ modelDir: shaped350M, speculate: { draftModelDir: draftDir } }, (plain, spec) => assertSameGreedy(plain, spec, '350M-shaped, draft'));
});

test('a draft that is not a model folder fails the load with the reason; off decodes plainly', async () => {
  const engine = new LocalEngine();
  try {
    await assert.rejects(engine.load({ modelDir: MODEL_DIR, speculate: { draftModelDir: path.join(scratch, 'nothing') } }), /nothing/);
    const info = await engine.load({ modelDir: MODEL_DIR, speculate: 'off' });
    assert.equal(info.speculation, 'off');
    const result = await engine.generate({ context: fresh, maxNewTokens: 8, temperature: 0 });
    assert.equal(result.speculation, undefined);
  } finally {
    await engine.dispose();
  }
});
