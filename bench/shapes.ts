// npm run bench:shapes -- [--tokens N] [--rounds N] [--work DIR]
// Decode speed of the embedded model's candidate shapes (models/training/model.py), as ratios in one run: random
// weights of each shape compiled as it would ship (int4; 8 x 256 with the compiler's default fp16 embedding, the
// others with --embedding int8), then per round each shape in turn (the order turning each round): a prefill of
// "def f(x):" and --tokens greedy decode steps. Prints the median ms per decoded token and its ratio to 8 x 256.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { compileRandomModel } from '../src/engine/compiler/compile';
import type { EmbeddingPrecision } from '../src/engine/compiler/graphBuilder';
import { CompiledDecoder } from '../src/engine/compiledDecoder';
import { readCodeGenConfig } from '../src/engine/modelFolder';
import { CodeGenTokenizer } from '../src/engine/tokenizer';

interface Candidate {
  readonly name: string;
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly embedding: EmbeddingPrecision;
}

const CANDIDATES: readonly Candidate[] = [
  { name: '8x256', nLayer: 8, nEmbd: 256, embedding: 'fp16' },
  { name: '12x320', nLayer: 12, nEmbd: 320, embedding: 'int8' },
  { name: '24x256', nLayer: 24, nEmbd: 256, embedding: 'int8' },
];
const PROMPT = new CodeGenTokenizer().encode('def f(x):');
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function decodeMsPerToken(decoder: CompiledDecoder, tokens: number): Promise<number> {
  let { logits } = await decoder.feed(PROMPT, false);
  const started = performance.now();
  for (let i = 0; i < tokens; i++) {
    let best = 0;
    for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
    ({ logits } = await decoder.feed([best], false));
  }
  return (performance.now() - started) / tokens;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { tokens: { type: 'string', default: '256' }, rounds: { type: 'string', default: '5' }, work: { type: 'string' } } });
  const tokens = Number(values.tokens);
  const rounds = Number(values.rounds);
  const work = values.work ?? fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-shapes-'));
  const times: Record<string, number[]> = {};
  const files: Record<string, string> = {};
  for (const c of CANDIDATES) {
    process.stderr.write(`[shapes] compiling ${c.name} (int4, embedding ${c.embedding})\n`);
    const shape = { name: c.name, nLayer: c.nLayer, nEmbd: c.nEmbd, nHead: 8, rotaryDim: 16, seed: 1 };
    files[c.name] = await compileRandomModel(shape, 'int4', path.join(work, c.name), { embedding: c.embedding });
    times[c.name] = [];
  }
  for (let round = -1; round < rounds; round++) {
    for (let i = 0; i < CANDIDATES.length; i++) {
      const c = CANDIDATES[(i + Math.max(0, round)) % CANDIDATES.length];
      const file = files[c.name];
      const decoder = await CompiledDecoder.open(file, readCodeGenConfig(path.dirname(path.dirname(file))));
      const ms = await decodeMsPerToken(decoder, tokens);
      await decoder.dispose();
      if (round >= 0) times[c.name].push(ms); // one warm-up round left out
    }
  }
  const base = median(times[CANDIDATES[0].name]);
  console.log(`| shape | embedding | ms / decoded token (median of ${rounds}, ${tokens} tokens) | ratio to ${CANDIDATES[0].name} |`);
  console.log('| --- | --- | ---: | ---: |');
  for (const c of CANDIDATES) console.log(`| ${c.name} | ${c.embedding} | ${median(times[c.name]).toFixed(2)} | ${(median(times[c.name]) / base).toFixed(2)}x |`);
  if (!values.work) fs.rmSync(work, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
