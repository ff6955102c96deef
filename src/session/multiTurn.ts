// The paper's multi-turn protocol over any Engine: each prompt is answered given every earlier prompt and its
// code, and the answer is kept as that turn's code. Used by the CLI's `session` (and the benchmark runs).
import type { Engine, GenerateCallbacks, GenerateResult, SamplingOptions, StopMode } from '../protocol/engine';
import { assembleProgram, promptContext, type TurnText } from './paperFormat';

export interface MultiTurnOptions extends SamplingOptions {
  readonly header: string;
  readonly maxNewTokens?: number;
  readonly stop?: StopMode;
  readonly signal?: AbortSignal;
  /** Called before each turn's generation; the returned callbacks receive its stream. */
  readonly onTurnStart?: (index: number, prompt: string) => GenerateCallbacks['onDelta'] | void;
  /** After each turn (awaited: e.g. the program so far is run before the next turn). */
  readonly onTurnEnd?: (index: number, turn: CompletedTurn) => void | Promise<void>;
}

export interface CompletedTurn extends TurnText {
  readonly result: GenerateResult;
}

export interface MultiTurnResult {
  readonly program: string;
  readonly turns: readonly CompletedTurn[];
}

export async function runMultiTurn(engine: Engine, prompts: readonly string[], options: MultiTurnOptions): Promise<MultiTurnResult> {
  const turns: CompletedTurn[] = [];
  for (const [index, prompt] of prompts.entries()) {
    if (options.signal?.aborted) break;
    const onDelta = options.onTurnStart?.(index, prompt) ?? undefined;
    // Seeds differ per turn so that a fixed seed does not make every turn sample the same stream.
    const seed = options.seed === undefined ? undefined : (options.seed + index) >>> 0;
    const result = await engine.generate(
      {
        context: promptContext(options.header, turns, prompt),
        maxNewTokens: options.maxNewTokens,
        temperature: options.temperature,
        topP: options.topP,
        seed,
        stop: options.stop,
      },
      { onDelta, signal: options.signal },
    );
    const turn: CompletedTurn = { prompt, code: result.text, result };
    turns.push(turn);
    await options.onTurnEnd?.(index, turn);
    if (result.stopReason === 'cancelled') break;
  }
  return { program: assembleProgram(options.header, turns), turns };
}
