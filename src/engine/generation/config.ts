// One generation config with documented defaults, validated once at the engine's door.
import { GENERATION_DEFAULTS, type GenerateRequest, type StopMode } from '../../protocol/engine';
import { EngineError } from '../../protocol/errors';

export interface GenerationConfig {
  /** 0 = greedy. */
  readonly temperature: number;
  /** Nucleus mass; 1 disables it. */
  readonly topP: number;
  /** New-token budget. */
  readonly maxNewTokens: number;
  readonly stop: StopMode;
  /** uint32 seed of the sampler. */
  readonly seed: number;
}

export function resolveGenerationConfig(request: GenerateRequest, randomSeed: () => number): GenerationConfig {
  const temperature = request.temperature ?? GENERATION_DEFAULTS.temperature;
  const topP = request.topP ?? GENERATION_DEFAULTS.topP;
  const maxNewTokens = request.maxNewTokens ?? GENERATION_DEFAULTS.maxNewTokens;
  const stop = request.stop ?? GENERATION_DEFAULTS.stop;
  if (!Number.isFinite(temperature) || temperature < 0) {
    throw new EngineError('invalid-request', `temperature must be a number >= 0 (0 is greedy), got ${temperature}.`);
  }
  if (!Number.isFinite(topP) || topP <= 0 || topP > 1) {
    throw new EngineError('invalid-request', `top-p must be in (0, 1], got ${topP}.`);
  }
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) {
    throw new EngineError('invalid-request', `max new tokens must be a whole number >= 1, got ${maxNewTokens}.`);
  }
  if (stop !== 'turn' && stop !== 'none') {
    throw new EngineError('invalid-request', `stop must be "turn" or "none", got ${JSON.stringify(stop)}.`);
  }
  let seed: number;
  if (request.seed === undefined) seed = randomSeed();
  else if (Number.isInteger(request.seed) && request.seed >= 0 && request.seed <= 0xffffffff) seed = request.seed;
  else throw new EngineError('invalid-request', `seed must be a whole number in 0..4294967295, got ${request.seed}.`);
  return { temperature, topP, maxNewTokens, stop, seed };
}
