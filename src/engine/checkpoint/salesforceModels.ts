// The shapes of Salesforce's CodeGen checkpoints (CODEGEN.md: all vocab 51200, n_positions 2048, mp_num 4,
// gelu_new, n_inner 4 * n_embd) and the config.json they publish with them. One place for them: the download
// catalog offers them, and the compiler's random-weight mode builds them for the scale benchmarks.
import { parseCodeGenConfig, type CodeGenConfig } from '../modelFolder';

export interface CheckpointShape {
  /** `350M`, `2B`, `6B`, `16B`: the size in the repository names. */
  readonly name: string;
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nHead: number;
  readonly rotaryDim: number;
}

export const SALESFORCE_SHAPES: readonly CheckpointShape[] = [
  { name: '350M', nLayer: 20, nEmbd: 1024, nHead: 16, rotaryDim: 32 },
  { name: '2B', nLayer: 32, nEmbd: 2560, nHead: 32, rotaryDim: 64 },
  { name: '6B', nLayer: 33, nEmbd: 4096, nHead: 16, rotaryDim: 64 },
  { name: '16B', nLayer: 34, nEmbd: 6144, nHead: 24, rotaryDim: 64 },
];

export function salesforceShape(name: string): CheckpointShape | undefined {
  return SALESFORCE_SHAPES.find((s) => s.name.toLowerCase() === name.toLowerCase());
}

/** The config.json of a Salesforce CodeGen repository of this shape (as `Salesforce/codegen-*` publish it). */
export function salesforceConfigJson(shape: CheckpointShape): Record<string, unknown> {
  return {
    activation_function: 'gelu_new',
    architectures: ['CodeGenForCausalLM'],
    attn_pdrop: 0.0,
    bos_token_id: 1,
    embd_pdrop: 0.0,
    eos_token_id: 50256,
    gradient_checkpointing: false,
    initializer_range: 0.02,
    layer_norm_epsilon: 1e-5,
    model_type: 'codegen',
    n_ctx: 2048,
    n_embd: shape.nEmbd,
    n_head: shape.nHead,
    n_inner: null,
    n_layer: shape.nLayer,
    n_positions: 2048,
    resid_pdrop: 0.0,
    rotary_dim: shape.rotaryDim,
    scale_attn_weights: true,
    tie_word_embeddings: false,
    torch_dtype: 'float16',
    use_cache: true,
    vocab_size: 51200,
  };
}

/** The engine's view of that config.json. */
export function salesforceConfig(shape: CheckpointShape): CodeGenConfig {
  return parseCodeGenConfig(salesforceConfigJson(shape), `the ${shape.name} shape`);
}
