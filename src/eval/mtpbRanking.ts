// `mtpb --candidates N`'s measured figure: each mode's execution-ranked samples against its plain samples, paired
// by problem, input and sample (the same jobs and seeds): pass rates, the gain, who passed alone, and the cost.
import type { MtpbMode, MtpbRecord } from './mtpb';
import { rankedMode } from './mtpbSample';
import type { RankingComparison } from './summary';

const pairKey = (r: MtpbRecord): string => `${r.id}/${r.input_index}/${r.sample_index}`;

export function rankingComparisons(records: readonly MtpbRecord[], modes: readonly MtpbMode[], candidates: number): RankingComparison[] {
  return modes.map((mode) => compare(records, mode, rankedMode(mode, candidates), candidates));
}

function compare(records: readonly MtpbRecord[], mode: string, ranked: string, candidates: number): RankingComparison {
  const plainByPair = new Map(records.filter((r) => r.mode === mode).map((r) => [pairKey(r), r]));
  const pairs = records.filter((r) => r.mode === ranked && plainByPair.has(pairKey(r))).map((r) => ({ ranked: r, plain: plainByPair.get(pairKey(r))! }));
  const rate = (passed: number) => ({ runs: pairs.length, passed, passRate: pairs.length ? passed / pairs.length : 0 });
  const plain = rate(pairs.filter((p) => p.plain.passed).length);
  const rankedRate = rate(pairs.filter((p) => p.ranked.passed).length);
  const time = (side: 'plain' | 'ranked'): number | undefined => {
    const ms = pairs.map((p) => p[side].generate_ms);
    return ms.every((m): m is number => typeof m === 'number') ? ms.reduce((a, b) => a + b, 0) : undefined;
  };
  const [plainMs, rankedMs] = [time('plain'), time('ranked')];
  return {
    mode,
    rankedMode: ranked,
    candidates,
    pairs: pairs.length,
    plain,
    ranked: rankedRate,
    gainPoints: 100 * (rankedRate.passRate - plain.passRate),
    rankedOnly: pairs.filter((p) => p.ranked.passed && !p.plain.passed).length,
    plainOnly: pairs.filter((p) => p.plain.passed && !p.ranked.passed).length,
    generateTimeRatio: plainMs && rankedMs !== undefined && pairs.length ? rankedMs / plainMs : null,
  };
}
