// Reads a model folder in the Hugging Face layout (config.json + onnx/*.onnx) and picks the ONNX variant.
// Everything that is wrong with a folder is reported as one EngineError naming the file and the problem.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError } from '../protocol/errors';

export interface CodeGenConfig {
  readonly nLayer: number;
  readonly nEmbd: number;
  readonly nHead: number;
  readonly headDim: number;
  readonly rotaryDim: number;
  /** The MLP's width; config.json's null means 4 * n_embd. */
  readonly nInner: number;
  readonly layerNormEpsilon: number;
  readonly nPositions: number;
  readonly vocabSize: number;
  readonly eosTokenId: number;
}

/** onnx/ file stems, best first: full precision, then 8-bit, then smaller; the older merged layout last. */
export const VARIANT_PREFERENCE = [
  // a compiled folder's precisions (codegen-mt optimize)
  'fp32',
  'int8',
  'int4',
  'fp16',
  'model',
  'model_quantized',
  'model_int8',
  'model_uint8',
  'model_fp16',
  'model_q4',
  'model_q4f16',
  'model_bnb4',
  'decoder_model_merged',
  'decoder_model_merged_quantized',
] as const;

/** Short names users may type for a variant. */
export const VARIANT_ALIASES: Readonly<Record<string, string>> = {
  fp32: 'model',
  quantized: 'model_quantized',
  int8: 'model_int8',
  uint8: 'model_uint8',
  fp16: 'model_fp16',
  q4: 'model_q4',
  int4: 'model_q4',
  q4f16: 'model_q4f16',
  bnb4: 'model_bnb4',
  merged: 'decoder_model_merged',
  'merged-quantized': 'decoder_model_merged_quantized',
  merged_quantized: 'decoder_model_merged_quantized',
};

export interface ResolvedModelFolder {
  readonly modelDir: string;
  readonly config: CodeGenConfig;
  readonly variant: string;
  readonly onnxFile: string;
  readonly availableVariants: readonly string[];
}

export function readCodeGenConfig(modelDir: string): CodeGenConfig {
  const file = path.join(modelDir, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new EngineError(
      'invalid-model',
      `${file} is missing: ${modelDir} is not a CodeGen model folder (expected config.json and onnx/model.onnx, as published on the Hugging Face hub).`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new EngineError('invalid-model', `${file} is not valid JSON (${(err as Error).message}): fix it, or download the model again.`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new EngineError('invalid-model', `${file} must hold a JSON object (a model's configuration): fix it, or download the model again.`);
  }
  return parseCodeGenConfig(raw as Record<string, unknown>, file);
}

/** A config.json's object as the engine's CodeGenConfig; `file` names it in errors. */
export function parseCodeGenConfig(c: Readonly<Record<string, unknown>>, file: string): CodeGenConfig {
  if (c.model_type !== 'codegen') {
    throw new EngineError(
      'invalid-model',
      `${file} says model_type ${JSON.stringify(c.model_type)}; only CodeGen models (model_type "codegen") are supported: choose a CodeGen export such as Xenova/codegen-350M-mono.`,
    );
  }
  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new EngineError('invalid-model', `${file}: "${key}" must be a positive integer, found ${JSON.stringify(c[key])}: fix it, or download the model again.`);
    }
    return v;
  };
  const nLayer = int('n_layer');
  const nEmbd = int('n_embd');
  const nHead = int('n_head');
  if (nEmbd % nHead !== 0) {
    throw new EngineError('invalid-model', `${file}: n_embd (${nEmbd}) is not a multiple of n_head (${nHead}): fix config.json, or download the model again.`);
  }
  const nPositions = int('n_positions', typeof c.n_ctx === 'number' ? c.n_ctx : undefined);
  const vocabSize = int('vocab_size');
  if (vocabSize < 50295) {
    throw new EngineError('invalid-model', `${file}: vocab_size ${vocabSize} is smaller than CodeGen's tokenizer (50295): fix config.json, or download the model again.`);
  }
  return {
    nLayer,
    nEmbd,
    nHead,
    headDim: nEmbd / nHead,
    rotaryDim: int('rotary_dim'),
    nInner: c.n_inner === null || c.n_inner === undefined ? 4 * nEmbd : int('n_inner'),
    layerNormEpsilon: typeof c.layer_norm_epsilon === 'number' && c.layer_norm_epsilon > 0 ? c.layer_norm_epsilon : 1e-5,
    nPositions,
    vocabSize,
    eosTokenId: int('eos_token_id', 50256),
  };
}

/** The onnx/ variants present in a folder, in order of preference (unknown stems last, alphabetically). */
export function listVariants(modelDir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(path.join(modelDir, 'onnx'));
  } catch {
    return [];
  }
  const stems = names.filter((n) => n.endsWith('.onnx')).map((n) => n.slice(0, -'.onnx'.length));
  const rank = (s: string): number => {
    const i = (VARIANT_PREFERENCE as readonly string[]).indexOf(s);
    return i < 0 ? VARIANT_PREFERENCE.length : i;
  };
  return stems.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

/** The message for a file given where a model folder belongs: which folder (and variant) was probably meant. */
function fileInsteadOfFolder(file: string): string {
  const parent = path.dirname(file);
  if (file.endsWith('.onnx') && path.basename(parent) === 'onnx') {
    const stem = path.basename(file, '.onnx');
    return `${file} is a file, not a model folder: give the folder above onnx/, ${path.dirname(parent)}, and the variant ${stem} (--variant ${stem}).`;
  }
  if (path.basename(file) === 'config.json') return `${file} is a file, not a model folder: give the folder that holds it, ${parent}.`;
  return `${file} is a file, not a model folder: give a folder that holds config.json and onnx/model.onnx (as published on the Hugging Face hub).`;
}

export function resolveModelFolder(modelDir: string, requestedVariant?: string): ResolvedModelFolder {
  const dir = path.resolve(modelDir);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new EngineError('model-not-found', `Model folder ${dir} does not exist: check the path, or download a model first (codegen-mt download; in VS Code, CodeGen: Download Model...).`);
  }
  if (!stat.isDirectory()) throw new EngineError('invalid-model', fileInsteadOfFolder(dir));
  const config = readCodeGenConfig(dir);
  const available = listVariants(dir);
  if (available.length === 0) {
    throw new EngineError(
      'invalid-model',
      `${path.join(dir, 'onnx')} has no .onnx file: put onnx/model.onnx (or a variant such as onnx/model_int8.onnx) there.`,
    );
  }
  let variant: string;
  if (requestedVariant === undefined || requestedVariant === '') {
    variant = available[0];
  } else {
    variant = available.includes(requestedVariant) ? requestedVariant : VARIANT_ALIASES[requestedVariant] ?? requestedVariant;
    if (!available.includes(variant)) {
      throw new EngineError(
        'invalid-model',
        `Variant "${requestedVariant}" is not in ${path.join(dir, 'onnx')} (expected ${variant}.onnx); available: ${available.join(', ')}.`,
      );
    }
  }
  return { modelDir: dir, config, variant, onnxFile: path.join(dir, 'onnx', `${variant}.onnx`), availableVariants: available };
}
