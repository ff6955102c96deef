// The bundled ONNX exports against the independent NumPy forward of models/make_tiny_codegen.py, and the
// engine's KV-cached greedy decoding against full recomputation, in both published layouts.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { LocalEngine } from '../../src/engine/localEngine';
import { CodeGenTokenizer } from '../../src/engine/tokenizer';
import { greedyWithoutCache, LAYOUTS, MODEL_DIR, openDecoder } from '../helpers/model';

interface Reference {
  text: string;
  input_ids: number[];
  probe_ids: number[];
  argmax_valid: number[];
  logsumexp: number[];
  logits_at_input_ids: number[][];
  logits_at_probe_ids: number[][];
  greedy_new_tokens: number[];
}
const reference = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'tiny-codegen-reference.json'), 'utf8'),
) as Reference;

test('the fixture text tokenizes to the fixture ids', () => {
  assert.deepEqual(new CodeGenTokenizer().encode(reference.text), reference.input_ids);
});

for (const variant of LAYOUTS) {
  test(`${variant}: prefill logits match the NumPy reference implementation of CODEGEN.md`, async () => {
    const decoder = await openDecoder(variant);
    const { logits } = await decoder.forward(reference.input_ids, decoder.emptyPast());
    const V = logits.length / reference.input_ids.length;
    assert.equal(V, 51200);
    for (let t = 0; t < reference.input_ids.length; t++) {
      const row = logits.subarray(t * V, (t + 1) * V);
      let max = -Infinity;
      for (const x of row) max = Math.max(max, x);
      let sum = 0;
      for (const x of row) sum += Math.exp(x - max);
      assert.ok(Math.abs(max + Math.log(sum) - reference.logsumexp[t]) < 1e-3, `logsumexp at ${t}`);
      reference.input_ids.forEach((id, j) => assert.ok(Math.abs(row[id] - reference.logits_at_input_ids[t][j]) < 1e-3, `logit ${id} at ${t}`));
      reference.probe_ids.forEach((id, k) => assert.ok(Math.abs(row[id] - reference.logits_at_probe_ids[t][k]) < 1e-3, `probe ${id} at ${t}`));
    }
    await decoder.dispose();
  });

  test(`${variant}: KV-cached greedy output equals no-cache recomputation token for token`, async () => {
    const decoder = await openDecoder(variant);
    const steps = reference.greedy_new_tokens.length;
    const recomputed = await greedyWithoutCache(decoder, reference.input_ids, steps);
    assert.deepEqual(recomputed, reference.greedy_new_tokens, 'no-cache recomputation matches the NumPy reference');
    await decoder.dispose();

    const engine = new LocalEngine();
    await engine.load({ modelDir: MODEL_DIR, variant });
    const result = await engine.generate({
      context: { header: '', turns: [], prompt: reference.text },
      temperature: 0,
      maxNewTokens: steps,
      stop: 'none',
    });
    assert.deepEqual(result.ids, recomputed);
    assert.equal(result.stopReason, 'max-new-tokens');
    await engine.dispose();
  });
}

test('both layouts hold the same weights: same greedy output over a longer run', async () => {
  const outputs: number[][] = [];
  for (const variant of LAYOUTS) {
    const engine = new LocalEngine();
    const info = await engine.load({ modelDir: MODEL_DIR, variant });
    assert.equal(info.layout, variant === 'model' ? 'newer' : 'merged');
    const r = await engine.generate({ context: { header: '', turns: [], prompt: 'import numpy as np\n' }, temperature: 0, maxNewTokens: 60, stop: 'none' });
    outputs.push([...r.ids]);
    await engine.dispose();
  }
  assert.deepEqual(outputs[0], outputs[1]);
  assert.ok(new Set(outputs[0]).size > 10, 'the random model is not degenerate');
});
