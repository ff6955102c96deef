// Candidates ranked by running them (Codex's and CodeT's ranking): a turn's N samples share the prefilled prefix
// (the KV cache keeps it, so N candidates cost about N decodes, not N prefills), each is run after the program so
// far, and those that ran without error come first, then the most probable by mean token log-probability.
import type { Engine, GenerateCallbacks, GenerateRequest, GenerateResult } from '../protocol/engine';
import type { ProgramOutcome } from './ports';

/**
 * What the ranking reads of a candidate: how its run ended (a ProgramOutcome, or ProgramRunView, the panel's view
 * of one: only `status` is read), and its mean log-probability.
 */
export interface Rankable {
  readonly outcome?: Pick<ProgramOutcome, 'status'> | { readonly status: string };
  readonly meanLogprob?: number;
}

/**
 * The candidates, best first: runs without error (`ran`) before all others, then by mean log-probability,
 * highest first (undefined last); ties keep the sampling order. A new array; the input is left as it is.
 */
export function rankCandidates<T extends Rankable>(candidates: readonly T[]): T[] {
  const ran = (c: T): number => (c.outcome?.status === 'ran' ? 0 : 1);
  const score = (c: T): number => (c.meanLogprob === undefined || Number.isNaN(c.meanLogprob) ? -Infinity : c.meanLogprob);
  return candidates
    .map((candidate, index) => ({ candidate, index }))
    .sort((a, b) => ran(a.candidate) - ran(b.candidate) || compareScores(score(a.candidate), score(b.candidate)) || a.index - b.index)
    .map((e) => e.candidate);
}

/** Descending by score; equal scores (-Infinity among them: both unknown) compare equal. */
function compareScores(a: number, b: number): number {
  return a === b ? 0 : b > a ? 1 : -1;
}

/** Seeds base, base + 1, ... (as uint32), the sampling order of sampleCandidates. */
export const consecutiveSeeds =
  (base: number) =>
  (k: number): number =>
    (base + k) >>> 0;

/**
 * N completions of one request, candidate k sampled with seed `seedOf(k)`. One after another on purpose: the
 * engine's cache keeps the context, so the second and later calls re-feed at most one token instead of prefilling.
 * Stops early (fewer results) once the signal fires.
 */
export async function sampleCandidates(
  engine: Engine,
  request: GenerateRequest,
  n: number,
  seedOf: (k: number) => number,
  callbacks: Pick<GenerateCallbacks, 'signal'> = {},
): Promise<GenerateResult[]> {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`the number of candidates must be an integer >= 1, got ${n}`);
  const results: GenerateResult[] = [];
  for (let k = 0; k < n; k++) {
    if (callbacks.signal?.aborted) break;
    results.push(await engine.generate({ ...request, seed: seedOf(k), scoreTokens: true }, callbacks));
  }
  return results;
}
