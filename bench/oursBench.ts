// Our engine (LocalEngine) at one variant, in this process: the figures of workload.ts.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { compiledInfo, isPrecision } from '../src/engine/compiler/compile';
import { LocalEngine } from '../src/engine/localEngine';
import { MTPB_HEADER, promptContext, type TurnText } from '../src/session/paperFormat';
import {
  best,
  DECODE_TOKENS,
  peakRssMb,
  REPEATS,
  SESSION_PROMPTS,
  TURN_NEW_TOKENS,
  type ChildSpec,
  type EngineFigures,
  type LongSession,
  type Workload,
  makeWorkload,
} from './workload';

/**
 * Compiles a precision of a published folder first, with `codegen-mt optimize` in a process of its own, so that the
 * load measured here is the load from the compiled cache and the peak RSS is the running model's, not the compile's.
 */
function compileFirst(spec: ChildSpec): void {
  const variant = spec.variant ?? 'fp32';
  if (!isPrecision(variant) || compiledInfo(spec.modelDir)) return;
  const bin = path.join(__dirname, '..', 'bin', 'codegen-mt.js');
  const r = spawnSync(process.execPath, ['--no-concurrent-recompilation', bin, 'optimize', '--model', spec.modelDir, '--variant', variant], { stdio: ['ignore', 2, 2] });
  if (r.status !== 0) throw new Error(`codegen-mt optimize --variant ${variant} failed (exit ${r.status})`);
}

export async function benchOurs(spec: ChildSpec): Promise<EngineFigures> {
  compileFirst(spec);
  const engine = new LocalEngine();
  const model = await engine.load({ modelDir: spec.modelDir, variant: spec.variant, threads: spec.threads });
  const w: Workload = makeWorkload(engine.tokenizerInstance);
  const greedy = { temperature: 0, stop: 'none' as const };

  // TTFT: the history prefilled by an earlier call (scoring it), then a 16-token turn after it; best of 3.
  let ttft: EngineFigures['ttft'] | undefined;
  for (let i = 0; i < REPEATS; i++) {
    engine.clearCache();
    await engine.perplexity({ context: { header: '', turns: [], prompt: w.history.text } });
    const r = await engine.generate({ context: { header: w.history.text, turns: [], prompt: w.turn.text }, ...greedy, maxNewTokens: 1 });
    ttft = best(ttft, {
      historyTokens: w.history.ids.length,
      turnTokens: r.promptTokens - r.reusedTokens,
      reusedTokens: r.reusedTokens,
      prefillTokens: r.timings.prefillTokens,
      ms: r.timings.timeToFirstTokenMs,
    });
  }

  // Prefill: a 512-token context on an empty cache, best of 3.
  let prefill: EngineFigures['prefill'] | undefined;
  for (let i = 0; i < REPEATS; i++) {
    engine.clearCache();
    const r = await engine.perplexity({ context: { header: '', turns: [], prompt: w.prefill.text } });
    prefill = best(prefill, { tokens: r.promptTokens, ms: r.timings.prefillMs, tokensPerSecond: r.promptTokens / (r.timings.prefillMs / 1000) });
  }

  // Decode: 64 greedy tokens after a short prompt, stop rules off so the length is fixed; best of 3.
  let decode: EngineFigures['decode'] | undefined;
  for (let i = 0; i < REPEATS; i++) {
    engine.clearCache();
    const r = await engine.generate({ context: { header: w.decodePrompt.header, turns: [], prompt: w.decodePrompt.prompt }, ...greedy, maxNewTokens: DECODE_TOKENS });
    const t = r.timings;
    decode = best(decode, { tokens: t.decodeTokens, ms: t.decodeMs, msPerToken: t.decodeMs / t.decodeTokens, tokensPerSecond: t.decodeTokens / (t.decodeMs / 1000) });
  }

  // A multi-turn session: each turn 32 greedy tokens; once reusing the cache, once starting every turn cold.
  const prompts = Array.from({ length: spec.turns }, (_, i) => SESSION_PROMPTS[i % SESSION_PROMPTS.length]);
  const runSession = async (reuse: boolean) => {
    engine.clearCache();
    const done: TurnText[] = [];
    const out = { ms: [] as number[], promptTokens: [] as number[], reusedTokens: [] as number[] };
    for (const prompt of prompts) {
      if (!reuse) engine.clearCache();
      const r = await engine.generate({ context: promptContext(MTPB_HEADER, done, prompt), ...greedy, maxNewTokens: TURN_NEW_TOKENS });
      out.ms.push(r.timings.totalMs);
      out.promptTokens.push(r.promptTokens);
      out.reusedTokens.push(r.reusedTokens);
      done.push({ prompt, code: r.text });
    }
    return out;
  };
  const withReuse = await runSession(true);
  const withoutReuse = await runSession(false);
  const commonPeak = peakRssMb();

  // A session that outgrows the model's positions: 32 tokens a turn until its oldest turns are being dropped.
  engine.clearCache();
  const history: TurnText[] = [];
  const perTurn: LongSession['perTurn'] = [];
  for (let i = 0; i < spec.longTurns; i++) {
    const prompt = `${SESSION_PROMPTS[i % SESSION_PROMPTS.length]} (step ${i + 1})`;
    const r = await engine.generate({ context: promptContext(MTPB_HEADER, history, prompt), ...greedy, maxNewTokens: TURN_NEW_TOKENS });
    perTurn.push({ promptTokens: r.promptTokens, reusedTokens: r.reusedTokens, droppedTurns: r.droppedTurns, ms: r.timings.totalMs });
    history.push({ prompt, code: r.text });
  }
  await engine.dispose();
  return {
    engine: 'ours',
    variant: spec.variant,
    onnxFile: model.onnxFile,
    loadMs: model.loadMs,
    compileMs: compiledNowMs(model),
    kvCache: 'its own prefix-reusing KV cache, kept across calls (each call prefills only the tokens the cache does not hold)',
    ttft: ttft!,
    prefill: prefill!,
    decode: decode!,
    session: { turns: spec.turns, perTurnMs: withReuse.ms, promptTokens: withReuse.promptTokens, reusedTokens: withReuse.reusedTokens, withoutReuseMs: withoutReuse.ms },
    longSession: { turns: spec.longTurns, perTurn },
    peakRssMb: commonPeak,
    finalPeakRssMb: peakRssMb(),
    extra: { model },
  };
}

/** How long this load spent compiling, where the engine compiled the graph in it (ModelInfo.compiled). */
function compiledNowMs(model: object): number | undefined {
  const compiled = (model as { compiled?: { compiledNow?: boolean; compileMs?: number } }).compiled;
  return compiled?.compiledNow ? compiled.compileMs : undefined;
}
