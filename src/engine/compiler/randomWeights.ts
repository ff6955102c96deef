// Random weights in a CodeGen's shape, made as the graph builder asks for them: the scale benchmarks build 2B,
// 6B and 16B graphs without a 32 GB checkpoint on disk. Seeded and cheap (xorshift, a sum of uniforms for a
// bell shape); the values only have to look like a trained model's to the kernels (small, centred, varied).
import type { CodeGenConfig } from '../modelFolder';
import type { CheckpointShape } from '../checkpoint/salesforceModels';
import { transposeBlocked } from './layout';
import { linearShape, type CodeGenWeights } from './weights';

export interface RandomShape extends CheckpointShape {
  readonly seed?: number;
}

export class RandomWeights implements CodeGenWeights {
  constructor(
    private readonly config: CodeGenConfig,
    private readonly seed: number,
  ) {}

  embedding(): Float32Array {
    return this.normal('transformer.wte.weight', this.config.vocabSize * this.config.nEmbd, 0.02);
  }

  linear(module: string): Float32Array {
    const { inFeatures, outFeatures } = linearShape(module, this.config);
    return transposeBlocked(this.linearRows(module), outFeatures, inFeatures);
  }

  linearRows(module: string): Float32Array {
    const { inFeatures, outFeatures } = linearShape(module, this.config);
    return this.normal(module, inFeatures * outFeatures, 0.02);
  }

  vector(name: string): Float32Array {
    const length = /mlp\.fc_in\.bias$/.test(name) ? this.config.nInner : /^lm_head\.bias$/.test(name) ? this.config.vocabSize : this.config.nEmbd;
    if (/ln_\w+\.weight$/.test(name)) return new Float32Array(length).fill(1);
    return this.normal(name, length, 0.01);
  }

  private normal(name: string, length: number, std: number): Float32Array {
    let state = (hash(name) ^ Math.imul(this.seed, 0x9e3779b1)) >>> 0 || 1;
    const out = new Float32Array(length);
    // Four uniforms summed: mean 2, variance 1/3; centred and scaled to `std`.
    const scale = std * Math.sqrt(3) / 2 ** 32;
    for (let i = 0; i < length; i++) {
      let sum = 0;
      for (let k = 0; k < 4; k++) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        sum += state >>> 0;
      }
      out[i] = (sum - 2 * 2 ** 32) * scale;
    }
    return out;
  }
}

function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
