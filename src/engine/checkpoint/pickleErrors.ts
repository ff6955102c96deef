// The two ways a pickle fails to load, worded once: damaged (download it again) or refused (get it elsewhere).
import { EngineError } from '../../protocol/errors';

/** The bytes do not make a well-formed pickle: a cut or corrupted download. */
export function damaged(source: string, detail: string): never {
  throw new EngineError('invalid-model', `${source} is truncated or damaged (${detail}): download it again.`);
}

/** The pickle is well-formed but does something a state dict never does, so it may be hostile. */
export function refuse(source: string, what: string): never {
  throw new EngineError('invalid-model', `${source} ${what}; refusing to load it (the file is not a plain checkpoint, or it is hostile): download the model from its official repository.`);
}
