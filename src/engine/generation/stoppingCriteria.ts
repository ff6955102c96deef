// Stopping criteria: each says whether generation ends now and why. They are consulted at three points of each
// step (see generate.ts), in list order, and the first that fires gives the StopReason.
import type { StopReason, TokenId } from '../../protocol/engine';
import { EOS_ID } from '../tokenizer';
import type { TurnStopper } from './turnStop';

/**
 * When a criterion is consulted: `before-select` before each token is chosen; `selected` on the chosen token
 * before it is kept (if it stops, the token is dropped); `kept` after the token was kept and its text emitted,
 * before it is fed to the model (if it stops, it is never fed).
 */
export type StopStage = 'before-select' | 'selected' | 'kept';

export interface GenerationState {
  /** Tokens kept so far (at `kept`, including the one just chosen). */
  readonly ids: readonly TokenId[];
  /** The token just chosen; -1 at `before-select`. */
  readonly token: TokenId;
  /** Tokens the model has been fed (prompt and kept tokens); the chosen one is not fed yet. */
  readonly contextLength: number;
}

export interface StoppingCriterion {
  readonly stage: StopStage;
  /** The reason to stop now, or undefined to go on. */
  check(state: GenerationState): StopReason | undefined;
}

/** The caller's AbortSignal fired. */
export class CancellationCriterion implements StoppingCriterion {
  readonly stage = 'before-select';
  constructor(private readonly signal: AbortSignal | undefined) {}
  check(): StopReason | undefined {
    return this.signal?.aborted ? 'cancelled' : undefined;
  }
}

/** The model chose <|endoftext|> (which is then not kept). */
export class EosCriterion implements StoppingCriterion {
  readonly stage = 'selected';
  constructor(private readonly eosId: TokenId = EOS_ID) {}
  check(state: GenerationState): StopReason | undefined {
    return state.token === this.eosId ? 'eos' : undefined;
  }
}

/** A turn stop rule fired on the text so far (the TurnStopper is fed by the loop). */
export class TurnEndCriterion implements StoppingCriterion {
  readonly stage = 'kept';
  constructor(private readonly stopper: TurnStopper) {}
  check(): StopReason | undefined {
    return this.stopper.ended ? 'turn-end' : undefined;
  }
}

/** The budget of new tokens is used up. */
export class MaxNewTokensCriterion implements StoppingCriterion {
  readonly stage = 'kept';
  constructor(private readonly maxNewTokens: number) {}
  check(state: GenerationState): StopReason | undefined {
    return state.ids.length >= this.maxNewTokens ? 'max-new-tokens' : undefined;
  }
}

/** Every position is taken: the kept token cannot be fed. */
export class ContextFullCriterion implements StoppingCriterion {
  readonly stage = 'kept';
  constructor(private readonly nPositions: number) {}
  check(state: GenerationState): StopReason | undefined {
    return state.contextLength >= this.nPositions ? 'context-full' : undefined;
  }
}

export class StoppingCriteriaList {
  constructor(readonly criteria: readonly StoppingCriterion[]) {}

  /** The first criterion of this stage, in list order, that fires. */
  check(stage: StopStage, state: GenerationState): StopReason | undefined {
    for (const c of this.criteria) {
      if (c.stage !== stage) continue;
      const reason = c.check(state);
      if (reason) return reason;
    }
    return undefined;
  }
}

/** The engine's criteria in its order: cancelled, EOS, then turn end, token budget, context full. */
export function createStoppingCriteria(options: {
  readonly signal?: AbortSignal;
  readonly stopper: TurnStopper;
  readonly maxNewTokens: number;
  readonly nPositions: number;
  readonly eosId?: TokenId;
}): StoppingCriteriaList {
  return new StoppingCriteriaList([
    new CancellationCriterion(options.signal),
    new EosCriterion(options.eosId),
    new TurnEndCriterion(options.stopper),
    new MaxNewTokensCriterion(options.maxNewTokens),
    new ContextFullCriterion(options.nPositions),
  ]);
}
