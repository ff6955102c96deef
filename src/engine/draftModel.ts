// A draft model for speculative decoding: a smaller CodeGen (all twelve share one tokenizer) in this process,
// with its own KV cache, guessing greedily the next k tokens of whatever the target is generating. Its cache
// keeps the longest common prefix across calls, so each guess costs its own k decode steps and the few tokens the
// target chose since.
import type { TokenId } from '../protocol/engine';
import { EngineError } from '../protocol/errors';
import { ContextCache } from './contextCache';
import type { Decoder } from './decoder';
import type { Proposer } from './generation/speculation';
import type { CodeGenConfig } from './modelFolder';
import { EOS_ID, TOKENIZER_VOCAB_SIZE } from './tokenizer';

export class DraftModel implements Proposer {
  readonly name = 'draft';
  private readonly cache: ContextCache;

  constructor(
    private readonly decoder: Decoder,
    readonly config: CodeGenConfig,
    /** What the model line says: the folder and its variant. */
    readonly label: string,
  ) {
    if (config.vocabSize < TOKENIZER_VOCAB_SIZE) {
      throw new EngineError('invalid-model', `The draft model ${label} has ${config.vocabSize} vocabulary rows, fewer than CodeGen's tokenizer: choose a CodeGen model as the draft.`);
    }
    this.cache = new ContextCache(decoder);
  }

  async propose(tokens: readonly TokenId[], k: number): Promise<TokenId[]> {
    // The draft sees what fits its positions (the newest tokens, as many as leave room for the guess).
    const room = this.config.nPositions - k - 1;
    if (room <= 0) return [];
    const context = tokens.length > room ? tokens.slice(tokens.length - room) : tokens;
    await this.cache.sync(context);
    const guess: TokenId[] = [];
    while (guess.length < k) {
      const id = argmax(this.cache.nextLogits);
      guess.push(id);
      if (id === EOS_ID || guess.length === k) break;
      await this.cache.step(id);
    }
    return guess;
  }

  dispose(): Promise<void> {
    return this.decoder.dispose();
  }
}

/** The best id among the tokenizer's (the lowest among equal maxima). */
function argmax(row: Float32Array): TokenId {
  const n = Math.min(row.length, TOKENIZER_VOCAB_SIZE);
  let best = 0;
  for (let i = 1; i < n; i++) if (row[i] > row[best]) best = i;
  return best;
}
