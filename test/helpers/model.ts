// Shared by the model tests: where the bundled model is, and a no-cache greedy reference.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bundledModelDir } from '../../src/engine/bundledModel';
import { readCodeGenConfig } from '../../src/engine/modelFolder';
import { OnnxDecoder } from '../../src/engine/onnx';
import { TOKENIZER_VOCAB_SIZE } from '../../src/engine/tokenizer';

export const MODEL_DIR = bundledModelDir();
export const LAYOUTS = ['model', 'decoder_model_merged'] as const;

export function openDecoder(variant: string): Promise<OnnxDecoder> {
  const config = readCodeGenConfig(MODEL_DIR);
  return OnnxDecoder.open(path.join(MODEL_DIR, 'onnx', `${variant}.onnx`), config);
}

/** Greedy decoding by full recomputation: every step runs the whole sequence with an empty past. */
export async function greedyWithoutCache(decoder: OnnxDecoder, prompt: readonly number[], steps: number): Promise<number[]> {
  const ids = [...prompt];
  const out: number[] = [];
  for (let s = 0; s < steps; s++) {
    const { logits } = await decoder.forward(ids, decoder.emptyPast());
    const vocab = logits.length / ids.length;
    const row = logits.subarray((ids.length - 1) * vocab, ids.length * vocab);
    let best = 0;
    for (let i = 1; i < TOKENIZER_VOCAB_SIZE; i++) if (row[i] > row[best]) best = i;
    out.push(best);
    ids.push(best);
  }
  return out;
}

/** A scratch copy of the bundled model folder that a test may damage. */
export function scratchModelCopy(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-model-'));
  fs.cpSync(MODEL_DIR, dir, { recursive: true });
  return dir;
}
