// transformers.js (@huggingface/transformers, a dev dependency of the bench only) on the same onnx/model.onnx, used as
// a user would: AutoModelForCausalLM from a local folder (no download: remote models off, fetch refused), token ids
// fed directly (the ids of our tokenizer, so no tokenizer files are needed), greedy generate(), its own KV cache
// (the DynamicCache that generate() returns with return_dict_in_generate, passed back as past_key_values).
// It is loaded at run time with require, so the bundler leaves it out of dist/bench.js.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { CodeGenTokenizer } from '../src/engine/tokenizer';
import { formatPrompt, MTPB_HEADER } from '../src/session/paperFormat';
import {
  best,
  DECODE_TOKENS,
  makeWorkload,
  peakRssMb,
  REPEATS,
  SESSION_PROMPTS,
  TURN_NEW_TOKENS,
  type ChildSpec,
  type EngineFigures,
} from './workload';

/** The few parts of transformers.js used here. */
interface TjsTensor {
  readonly data: BigInt64Array;
  readonly dims: number[];
}
interface TjsCache {
  get_seq_length(): number;
}
interface TjsModel {
  generate(options: Record<string, unknown>): Promise<{ sequences: TjsTensor; past_key_values: TjsCache }>;
  dispose(): Promise<unknown>;
}
interface TransformersJs {
  env: { allowRemoteModels: boolean; allowLocalModels: boolean; localModelPath: string; useFSCache: boolean; useBrowserCache: boolean };
  Tensor: new (type: 'int64', data: BigInt64Array, dims: number[]) => TjsTensor;
  AutoModelForCausalLM: { from_pretrained(name: string, options: Record<string, unknown>): Promise<TjsModel> };
}

export const TJS_KV_CACHE =
  'generate() with return_dict_in_generate returns its DynamicCache (past_key_values); the next call passes it back with the ' +
  'full token ids, and transformers.js runs only the ids past the cache length (it does not check that they match)';

export function transformersJsVersion(): string | undefined {
  try {
    // The package's exports do not include package.json: find it next to the entry point.
    const req = createRequire(__filename);
    let dir = path.dirname(req.resolve('@huggingface/transformers'));
    while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
    return (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

export async function benchTransformersJs(spec: ChildSpec): Promise<EngineFigures> {
  // Nothing may be downloaded: any fetch is an error.
  let fetches = 0;
  globalThis.fetch = ((input: unknown) => {
    fetches++;
    return Promise.reject(new Error(`transformers.js tried to fetch ${String(input)}`));
  }) as typeof fetch;
  const tjs = createRequire(__filename)('@huggingface/transformers') as TransformersJs;
  const modelDir = path.resolve(spec.modelDir);
  tjs.env.allowRemoteModels = false;
  tjs.env.allowLocalModels = true;
  tjs.env.localModelPath = path.dirname(modelDir) + path.sep;
  tjs.env.useFSCache = false;
  tjs.env.useBrowserCache = false;

  const started = performance.now();
  const model = await tjs.AutoModelForCausalLM.from_pretrained(path.basename(modelDir), {
    dtype: 'fp32',
    device: 'cpu',
    local_files_only: true,
    ...(spec.threads ? { session_options: { intraOpNumThreads: spec.threads } } : {}),
  });
  const loadMs = performance.now() - started;

  const w = makeWorkload(new CodeGenTokenizer());
  const tensor = (ids: readonly number[]) => ({
    input_ids: new tjs.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]),
    attention_mask: new tjs.Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]),
  });
  /** Greedy generation with stop rules off (no EOS stop), timing each new token as it streams out. */
  const generate = async (ids: readonly number[], maxNewTokens: number, past?: TjsCache) => {
    const tokenAt: number[] = [];
    let promptSeen = false;
    const streamer = {
      put: () => {
        if (promptSeen) tokenAt.push(performance.now());
        promptSeen = true;
      },
      end: () => undefined,
    };
    const cached = past?.get_seq_length() ?? 0;
    const t0 = performance.now();
    const out = await model.generate({
      ...tensor(ids),
      max_new_tokens: maxNewTokens,
      do_sample: false,
      eos_token_id: null,
      return_dict_in_generate: true,
      streamer,
      ...(past ? { past_key_values: past } : {}),
    });
    const end = performance.now();
    return {
      ids: Array.from(out.sequences.data, Number),
      cache: out.past_key_values,
      cached,
      ttftMs: tokenAt[0] - t0,
      decodeMs: tokenAt[tokenAt.length - 1] - tokenAt[0],
      decodeTokens: tokenAt.length - 1,
      totalMs: end - t0,
    };
  };

  // TTFT: the history prefilled by an earlier generate(), its cache passed to the 16-token turn's call; best of 3.
  let ttft: EngineFigures['ttft'] | undefined;
  for (let i = 0; i < REPEATS; i++) {
    const first = await generate(w.history.ids, 1);
    const r = await generate([...w.history.ids, ...w.turn.ids], 1, first.cache);
    ttft = best(ttft, { historyTokens: w.history.ids.length, turnTokens: w.turn.ids.length, reusedTokens: r.cached, prefillTokens: w.history.ids.length + w.turn.ids.length - r.cached, ms: r.ttftMs });
  }

  // Prefill: 512 ids with no cache, to the first token (one forward pass and one argmax); best of 3.
  let prefill: EngineFigures['prefill'] | undefined;
  for (let i = 0; i < REPEATS; i++) {
    const r = await generate(w.prefill.ids, 1);
    prefill = best(prefill, { tokens: w.prefill.ids.length, ms: r.ttftMs, tokensPerSecond: w.prefill.ids.length / (r.ttftMs / 1000) });
  }

  // Decode: 64 greedy tokens after the same short prompt; best of 3.
  let decode: EngineFigures['decode'] | undefined;
  for (let i = 0; i < REPEATS; i++) {
    const r = await generate(w.decodePrompt.ids, DECODE_TOKENS);
    decode = best(decode, { tokens: r.decodeTokens, ms: r.decodeMs, msPerToken: r.decodeMs / r.decodeTokens, tokensPerSecond: r.decodeTokens / (r.decodeMs / 1000) });
  }

  // The multi-turn session as a transformers.js user writes it: keep the ids (the previous call's sequences, its
  // generated ids included), append the next `# prompt` line, pass the previous call's cache.
  const tokenizer = new CodeGenTokenizer();
  const session = { turns: spec.turns, perTurnMs: [] as number[], promptTokens: [] as number[], reusedTokens: [] as number[] };
  let ids: number[] = tokenizer.encode(MTPB_HEADER);
  let cache: TjsCache | undefined;
  for (let i = 0; i < spec.turns; i++) {
    const prompt = formatPrompt(SESSION_PROMPTS[i % SESSION_PROMPTS.length]);
    ids = [...ids, ...tokenizer.encode(i === 0 ? prompt : `\n\n${prompt}`)];
    const r = await generate(ids, TURN_NEW_TOKENS, cache);
    session.perTurnMs.push(r.totalMs);
    session.promptTokens.push(ids.length);
    session.reusedTokens.push(r.cached);
    ids = r.ids;
    cache = r.cache;
  }
  const peak = peakRssMb();
  await model.dispose();
  if (fetches > 0) throw new Error(`transformers.js tried to fetch ${fetches} times`);
  return {
    engine: 'transformers.js',
    variant: 'fp32',
    onnxFile: path.join(modelDir, 'onnx', 'model.onnx'),
    loadMs,
    kvCache: TJS_KV_CACHE,
    ttft: ttft!,
    prefill: prefill!,
    decode: decode!,
    session,
    peakRssMb: peak,
    finalPeakRssMb: peakRssMb(),
    extra: { version: transformersJsVersion(), fetches },
  };
}
