// One turn's generation, as the flow runs it: the engine's stream appended to the session and batched to the
// panel, the model's status kept up to date, and what the session and the log keep of the result.
import type { GenerateRequest, GenerateResult, PromptContext, SpeculationReport, StopReason } from '../protocol/engine';
import { scoreRecord } from './perplexityView';
import type { FlowSettings, ModelPort } from './ports';
import type { FinishDetails, TurnMachine } from './turnMachine';

/** The flow's clocks: debouncing, saving while streaming, batching the stream. */
export interface FlowTiming {
  /** How long typing must pause before the draft is scored. */
  readonly draftDebounceMs: number;
  /** How often a streaming turn is saved. */
  readonly streamSaveMs: number;
  /**
   * Streamed text goes to the panel at most this often: at hundreds of tokens a second, one message per token
   * queues up between host and webview and the page falls seconds behind the engine (and behind a Stop click).
   */
  readonly deltaBatchMs: number;
}

export const DEFAULT_TIMING: FlowTiming = { draftDebounceMs: 250, streamSaveMs: 1000, deltaBatchMs: 40 };

/** A generation the flow started: its context, and once it ended, how. */
export interface GenerationInfo {
  readonly turnId: string;
  readonly context: PromptContext;
  readonly maxNewTokens?: number;
  readonly stopReason?: StopReason;
  /** Tokens generated. */
  readonly tokens?: number;
  readonly seed?: number;
  readonly promptTokens?: number;
  readonly reusedTokens?: number;
  readonly droppedTurns?: number;
  readonly totalMs?: number;
  /** What speculative decoding did (the log says how many guesses were accepted). */
  readonly speculation?: SpeculationReport;
}

/** Collects streamed text and posts it at most every `ms` (and at once on flush). */
export class DeltaBatcher {
  private unsent = '';
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly send: (delta: string) => void,
    private readonly ms: number,
  ) {}

  add(delta: string): void {
    this.unsent += delta;
    this.timer ??= setTimeout(() => this.flush(), this.ms);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.unsent) this.send(this.unsent);
    this.unsent = '';
  }
}

export interface StreamArgs {
  readonly model: ModelPort;
  readonly session: TurnMachine;
  readonly turnId: string;
  readonly request: GenerateRequest;
  readonly signal: AbortSignal;
  readonly batcher: DeltaBatcher;
  /** Called after each streamed piece, with the time (the flow saves a streaming turn now and then). */
  readonly onPiece: (now: number) => void;
}

/** A turn's request, by the settings. */
export function turnRequest(context: PromptContext, settings: FlowSettings): GenerateRequest {
  return { context, temperature: settings.temperature, topP: settings.topP, maxNewTokens: settings.maxNewTokens, stop: 'turn' };
}

/** The engine's generation of the turn, streamed into the session and (batched) to the panel. */
export function streamTurn({ model, session, turnId, request, signal, batcher, onPiece }: StreamArgs): Promise<GenerateResult> {
  const started = Date.now();
  let deltas = 0;
  let lastStatus = 0;
  model.setGenerating();
  const onDelta = (delta: string): void => {
    session.appendDelta(turnId, delta);
    batcher.add(delta);
    deltas++;
    const now = Date.now();
    if (now - lastStatus > 500 && now > started) {
      lastStatus = now;
      model.setGenerating((deltas * 1000) / (now - started));
    }
    onPiece(now);
  };
  return model.engine.generate(request, { signal, onDelta });
}

/** What the turn keeps of the result. */
export function finishDetails(result: GenerateResult): FinishDetails {
  const t = result.timings;
  return {
    code: result.text,
    cancelled: result.stopReason === 'cancelled',
    // No score when there is none (cancelled during the prefill; a server without log-probabilities).
    perplexity: Number.isFinite(result.prompt.perplexity) ? scoreRecord(result.prompt) : undefined,
    droppedTurns: result.droppedTurns,
    tokensPerSecond: t.decodeMs > 0 ? (t.decodeTokens * 1000) / t.decodeMs : undefined,
    seed: result.seed,
  };
}

export function generationInfo(turnId: string, context: PromptContext, settings: FlowSettings, result: GenerateResult): GenerationInfo {
  return {
    turnId,
    context,
    maxNewTokens: settings.maxNewTokens,
    stopReason: result.stopReason,
    tokens: result.ids.length,
    seed: result.seed,
    promptTokens: result.promptTokens,
    reusedTokens: result.reusedTokens,
    droppedTurns: result.droppedTurns,
    totalMs: result.timings.totalMs,
    ...(result.speculation ? { speculation: result.speculation } : {}),
  };
}
