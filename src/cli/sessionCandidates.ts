// `codegen-mt session --candidates N`: each turn samples N candidates on the same context (the cache shares the
// prefilled prefix), runs each after the program so far in the sandbox, ranks them (runs without error first, then
// by mean token log-probability) and keeps the best as the turn's code.
import { randomInt } from 'node:crypto';
import type { Engine, GenerateResult } from '../protocol/engine';
import type { ProgramRunView } from '../protocol/webview';
import { consecutiveSeeds, rankCandidates, sampleCandidates } from '../session/candidates';
import type { CompletedTurn } from '../session/multiTurn';
import { assembleProgram, promptContext } from '../session/paperFormat';
import type { SamplingOptions } from './common';
import type { SessionRunner } from './sessionRun';

export interface Candidate {
  readonly turn: CompletedTurn;
  /** Its run after the program so far (the ranking reads its status). */
  readonly outcome: ProgramRunView;
  readonly meanLogprob?: number;
  readonly seed: number;
  /** 1 = best. */
  readonly rank: number;
}

export interface CandidateTurn {
  /** In sampling order. */
  readonly candidates: readonly Candidate[];
  /** The index in `candidates` of the one kept (rank 1). */
  readonly chosen: number;
}

export interface CandidateSessionOptions extends SamplingOptions {
  readonly header: string;
  readonly candidates: number;
  readonly runner: Pick<SessionRunner, 'run'>;
  readonly signal?: AbortSignal;
  /** Before a turn's sampling. */
  readonly onTurnStart?: (index: number, prompt: string) => void;
  /** After a turn's candidates are run and ranked (the kept one is `candidates[chosen]`). */
  readonly onTurnEnd?: (index: number, turn: CandidateTurn) => void;
}

export interface CandidateSessionResult {
  readonly program: string;
  /** The kept candidate of each turn. */
  readonly turns: readonly CompletedTurn[];
  readonly candidateTurns: readonly CandidateTurn[];
}

/** Turn i samples with seeds S + i*N, ..., S + i*N + N - 1 (with N = 1, the plain session's S + i). */
export async function runCandidateSession(engine: Engine, prompts: readonly string[], options: CandidateSessionOptions): Promise<CandidateSessionResult> {
  const { header, candidates: n, runner, signal } = options;
  const base = options.seed ?? randomInt(0, 0xffffffff);
  const turns: CompletedTurn[] = [];
  const candidateTurns: CandidateTurn[] = [];
  for (const [index, prompt] of prompts.entries()) {
    if (signal?.aborted) break;
    options.onTurnStart?.(index, prompt);
    const request = {
      context: promptContext(header, turns, prompt),
      maxNewTokens: options.maxNewTokens,
      temperature: options.temperature,
      topP: options.topP,
    };
    const results = await sampleCandidates(engine, request, n, consecutiveSeeds(base + index * n), { signal });
    const sampled = results.filter((r) => r.stopReason !== 'cancelled');
    if (sampled.length === 0) break;
    const turn = await rankedTurn(header, turns, prompt, sampled, runner);
    turns.push(turn.candidates[turn.chosen].turn);
    candidateTurns.push(turn);
    options.onTurnEnd?.(index, turn);
    if (sampled.length < results.length || signal?.aborted) break;
  }
  return { program: assembleProgram(header, turns), turns, candidateTurns };
}

async function rankedTurn(
  header: string,
  turnsSoFar: readonly CompletedTurn[],
  prompt: string,
  results: readonly GenerateResult[],
  runner: Pick<SessionRunner, 'run'>,
): Promise<CandidateTurn> {
  const unranked = [];
  for (const result of results) {
    const turn: CompletedTurn = { prompt, code: result.text, result };
    const outcome = await runner.run(header, [...turnsSoFar, turn]);
    unranked.push({ turn, outcome, meanLogprob: result.meanLogprob, seed: result.seed });
  }
  const ranked = rankCandidates(unranked);
  const candidates: Candidate[] = unranked.map((c) => ({ ...c, rank: ranked.indexOf(c) + 1 }));
  return { candidates, chosen: unranked.indexOf(ranked[0]) };
}

/** One line per candidate, best first, for the terminal. */
export function describeCandidates(turn: CandidateTurn): string {
  const n = turn.candidates.length;
  return turn.candidates
    .map((c, i) => ({ c, i }))
    .sort((a, b) => a.c.rank - b.c.rank)
    .map(({ c, i }) => {
      const logprob = c.meanLogprob === undefined ? 'no tokens' : `mean logprob ${c.meanLogprob.toFixed(3)}`;
      return `[rank ${c.rank}: candidate ${i + 1}/${n}, ${c.outcome.status}, ${logprob}, seed ${c.seed}${i === turn.chosen ? ', kept' : ''}]`;
    })
    .join('\n');
}

/** A turn's candidates as --json carries them. */
export function candidatesJson(turn: CandidateTurn): { candidates: object[]; chosen: number } {
  return {
    candidates: turn.candidates.map((c) => ({ code: c.turn.code, meanLogprob: c.meanLogprob, seed: c.seed, run: c.outcome, rank: c.rank })),
    chosen: turn.chosen,
  };
}
