#!/usr/bin/env node
// Greedy continuations of prompts by the engine itself (the compiled src/engine/localEngine.js, in this process),
// for models/training/verify.py: the exported model's tokens, to compare with the PyTorch model's.
//
//   node models/training/engine_greedy.mjs --engine out/src/engine/localEngine.js --model DIR [--variant V]
//        [--cache DIR] --prompts HELDOUT.json --new N [--stop none|turn] --out RESULT.json
//
// HELDOUT.json: [{text, ids}, ...] (a training pack's heldout.json). RESULT.json: {model, variant, results:
// [{promptIds, ids, text}]}: the engine's own token ids of each prompt (so the comparison starts from the same
// tokens), the N ids it chose greedily (no speculation: one token per decode step; no stop rule unless --stop turn)
// and their text.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    engine: { type: 'string' },
    model: { type: 'string' },
    variant: { type: 'string' },
    cache: { type: 'string' },
    prompts: { type: 'string' },
    new: { type: 'string', default: '24' },
    stop: { type: 'string', default: 'none' },
    out: { type: 'string' },
  },
});
if (!values.engine || !values.model || !values.prompts || !values.out) {
  console.error('usage: engine_greedy.mjs --engine out/src/engine/localEngine.js --model DIR [--variant V] [--cache DIR] --prompts FILE --new N --out FILE');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const { LocalEngine } = require(path.resolve(values.engine));
const engine = new LocalEngine();
await engine.load({
  modelDir: path.resolve(values.model),
  ...(values.variant ? { variant: values.variant } : {}),
  ...(values.cache ? { compiledCache: path.resolve(values.cache) } : {}),
  speculate: 'off',
});
const results = [];
try {
  for (const p of JSON.parse(fs.readFileSync(values.prompts, 'utf8'))) {
    const promptIds = await engine.tokenize(p.text);
    const result = await engine.generate(
      { context: { header: '', turns: [], prompt: p.text }, stop: values.stop, temperature: 0, maxNewTokens: Number(values.new) },
      {},
    );
    results.push({ promptIds, ids: result.ids, text: result.text });
  }
} finally {
  await engine.dispose();
}
fs.writeFileSync(values.out, JSON.stringify({ model: values.model, variant: values.variant ?? null, results }) + '\n');
