// Which downloaded model should guess ahead for the model in use (speculative decoding): all CodeGens share one
// tokenizer, so any of them can; the best draft is the largest one that is still much cheaper to run (a quarter
// of the parameters or fewer), from the same training data where there is a choice (mono for mono).
import * as path from 'node:path';
import { parameterCount } from '../engine/checkpoint/checkpointFolder';
import { readCodeGenConfig } from '../engine/modelFolder';
import { TOKENIZER_VOCAB_SIZE } from '../engine/tokenizer';

/** A draft must have at most this share of the target's parameters. */
export const DRAFT_MAX_SHARE = 0.25;

/** The folder of the best draft for `targetDir` among `candidateDirs`; undefined when none is small enough. */
export function chooseDraftModel(targetDir: string, candidateDirs: readonly string[]): string | undefined {
  const target = sizeOf(targetDir);
  if (target === undefined) return undefined;
  const family = familyOf(targetDir);
  const drafts = candidateDirs
    .filter((dir) => path.resolve(dir) !== path.resolve(targetDir))
    .map((dir) => ({ dir, size: sizeOf(dir), sameFamily: family !== undefined && familyOf(dir) === family }))
    .filter((d): d is { dir: string; size: number; sameFamily: boolean } => d.size !== undefined && d.size <= DRAFT_MAX_SHARE * target);
  drafts.sort((a, b) => Number(b.sameFamily) - Number(a.sameFamily) || b.size - a.size || a.dir.localeCompare(b.dir));
  return drafts[0]?.dir;
}

/** Parameters of a CodeGen folder whose vocabulary covers the tokenizer; undefined for anything else. */
function sizeOf(dir: string): number | undefined {
  try {
    const config = readCodeGenConfig(dir);
    return config.vocabSize >= TOKENIZER_VOCAB_SIZE ? parameterCount(config) : undefined;
  } catch {
    return undefined;
  }
}

/** `mono`, `multi` or `nl` from a folder name such as Salesforce--codegen-2B-mono. */
function familyOf(dir: string): string | undefined {
  return /-(mono|multi|nl)(?:$|[-_.])/i.exec(path.basename(dir))?.[1]?.toLowerCase();
}
