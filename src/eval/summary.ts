// The figures of an MTPB run, from its sample records: pass rates overall, by category and by problem, for each
// mode; mean prompt perplexity; pass rate by prompt-perplexity bucket (the paper's RQ4). As JSON, Markdown and
// a hand-written SVG chart.

export interface SampleOutcome {
  readonly mode: string;
  readonly problemId: string;
  readonly problemName: string;
  readonly category: string;
  readonly passed: boolean;
  /** Mean of the sample's per-turn prompt perplexities (single-turn: the one prompt's); null if unknown. */
  readonly promptPerplexity: number | null;
}

export interface Rate {
  readonly runs: number;
  readonly passed: number;
  /** passed / runs, 0 when there are no runs. */
  readonly passRate: number;
}

export interface PerplexityBucket extends Rate {
  readonly label: string;
  /** Perplexity range [low, high) of the bucket. */
  readonly low: number;
  readonly high: number | null;
  /** Problems in the bucket (tercile buckets) or samples (fixed buckets). */
  readonly members: number;
}

export interface ModeSummary extends Rate {
  readonly mode: string;
  readonly meanPromptPerplexity: number | null;
  readonly byCategory: Readonly<Record<string, Rate>>;
  /** The paper's RQ4 grouping: problems split in three by their mean prompt perplexity (low, medium, high). */
  readonly perplexityTerciles: readonly PerplexityBucket[];
  /** Samples by their prompt perplexity, fixed edges 1-2-4-8-16-32. */
  readonly perplexityBuckets: readonly PerplexityBucket[];
}

export interface ProblemSummary {
  readonly id: string;
  readonly name: string;
  readonly category: string;
  readonly modes: Readonly<Record<string, Rate & { meanPromptPerplexity: number | null }>>;
}

export interface MtpbSummary {
  readonly title: string;
  readonly settings: Readonly<Record<string, unknown>>;
  readonly modes: readonly ModeSummary[];
  readonly problems: readonly ProblemSummary[];
  readonly notes: readonly string[];
  /** With `--candidates N`: each mode's execution-ranked samples against its plain ones. */
  readonly ranking?: readonly RankingComparison[];
}

/** Execution-ranked candidates against plain sampling, on the samples both have (the same jobs and seeds). */
export interface RankingComparison {
  readonly mode: string;
  readonly rankedMode: string;
  readonly candidates: number;
  /** Samples present in both modes. */
  readonly pairs: number;
  readonly plain: Rate;
  readonly ranked: Rate;
  /** Ranked pass rate minus plain, in percentage points. */
  readonly gainPoints: number;
  /** Pairs the ranked sample passed and the plain one failed, and the reverse. */
  readonly rankedOnly: number;
  readonly plainOnly: number;
  /** Generation time of the ranked samples over the plain ones (N candidates and their runs cost about N x). */
  readonly generateTimeRatio: number | null;
}

function rate(outcomes: readonly { passed: boolean }[]): Rate {
  const passed = outcomes.filter((o) => o.passed).length;
  return { runs: outcomes.length, passed, passRate: outcomes.length ? passed / outcomes.length : 0 };
}

function mean(values: readonly (number | null)[]): number | null {
  const finite = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  return finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : null;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = groups.get(k);
    if (list) list.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

const FIXED_EDGES = [0, 2, 4, 8, 16, 32];

function fixedBuckets(outcomes: readonly SampleOutcome[]): PerplexityBucket[] {
  return FIXED_EDGES.map((low, i) => {
    const high = i + 1 < FIXED_EDGES.length ? FIXED_EDGES[i + 1] : null;
    const members = outcomes.filter((o) => o.promptPerplexity !== null && o.promptPerplexity >= low && (high === null || o.promptPerplexity < high));
    return { label: high === null ? `>= ${low}` : `${low}-${high}`, low, high, members: members.length, ...rate(members) };
  });
}

function tercileBuckets(outcomes: readonly SampleOutcome[]): PerplexityBucket[] {
  const problems = [...groupBy(outcomes, (o) => o.problemId).values()]
    .map((list) => ({ perplexity: mean(list.map((o) => o.promptPerplexity)), list }))
    .filter((p): p is { perplexity: number; list: SampleOutcome[] } => p.perplexity !== null)
    .sort((a, b) => a.perplexity - b.perplexity);
  const labels = ['low', 'medium', 'high'];
  const buckets: PerplexityBucket[] = [];
  for (let t = 0; t < 3; t++) {
    const part = problems.slice(Math.floor((t * problems.length) / 3), Math.floor(((t + 1) * problems.length) / 3));
    if (part.length === 0) continue;
    const samples = part.flatMap((p) => p.list);
    buckets.push({ label: labels[t], low: part[0].perplexity, high: part[part.length - 1].perplexity, members: part.length, ...rate(samples) });
  }
  return buckets;
}

export function summarize(outcomes: readonly SampleOutcome[], title: string, settings: Record<string, unknown>, notes: readonly string[] = []): MtpbSummary {
  const modeOrder = ['multi', 'single'];
  const modes = [...groupBy(outcomes, (o) => o.mode).entries()]
    .sort(([a], [b]) => (modeOrder.indexOf(a) + 1 || 99) - (modeOrder.indexOf(b) + 1 || 99) || a.localeCompare(b))
    .map(([mode, list]): ModeSummary => ({
      mode,
      ...rate(list),
      meanPromptPerplexity: mean(list.map((o) => o.promptPerplexity)),
      byCategory: Object.fromEntries([...groupBy(list, (o) => o.category || '-').entries()].sort(([a], [b]) => a.localeCompare(b)).map(([c, l]) => [c, rate(l)])),
      perplexityTerciles: tercileBuckets(list),
      perplexityBuckets: fixedBuckets(list),
    }));
  const problems = [...groupBy(outcomes, (o) => o.problemId).entries()]
    .sort(([a], [b]) => Number(a) - Number(b) || a.localeCompare(b))
    .map(([id, list]): ProblemSummary => ({
      id,
      name: list[0].problemName,
      category: list[0].category,
      modes: Object.fromEntries(
        [...groupBy(list, (o) => o.mode).entries()].map(([mode, l]) => [mode, { ...rate(l), meanPromptPerplexity: mean(l.map((o) => o.promptPerplexity)) }]),
      ),
    }));
  return { title, settings, modes, problems, notes };
}

const pct = (r: Rate): string => (r.runs ? `${(100 * r.passRate).toFixed(2)}%` : '-');
const num = (v: number | null): string => (v === null ? '-' : v.toFixed(2));
const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function summaryMarkdown(summary: MtpbSummary): string {
  const lines: string[] = [`# ${summary.title}`, ''];
  for (const [k, v] of Object.entries(summary.settings)) lines.push(`- ${k}: ${cell(typeof v === 'string' ? v : JSON.stringify(v))}`);
  for (const note of summary.notes) lines.push(`- note: ${cell(note)}`);
  lines.push('', '## Pass rate', '', '| mode | runs | passed | pass rate | mean prompt perplexity |', '| --- | ---: | ---: | ---: | ---: |');
  for (const m of summary.modes) lines.push(`| ${m.mode} | ${m.runs} | ${m.passed} | ${pct(m)} | ${num(m.meanPromptPerplexity)} |`);

  const categories = [...new Set(summary.modes.flatMap((m) => Object.keys(m.byCategory)))].sort();
  if (summary.ranking?.length) lines.push(...rankingLines(summary.ranking));
  lines.push('', '## By category', '', `| category | ${summary.modes.map((m) => m.mode).join(' | ')} |`, `| --- |${summary.modes.map(() => ' ---: |').join('')}`);
  for (const c of categories) {
    lines.push(`| ${cell(c)} | ${summary.modes.map((m) => (m.byCategory[c] ? `${pct(m.byCategory[c])} (${m.byCategory[c].passed}/${m.byCategory[c].runs})` : '-')).join(' | ')} |`);
  }

  lines.push('', '## Pass rate by prompt perplexity (RQ4)', '', 'Problems in three equal groups by their mean prompt perplexity:', '');
  lines.push('| mode | group | problems | perplexity range | runs | pass rate |', '| --- | --- | ---: | --- | ---: | ---: |');
  for (const m of summary.modes) {
    for (const b of m.perplexityTerciles) lines.push(`| ${m.mode} | ${b.label} | ${b.members} | ${num(b.low)} - ${num(b.high)} | ${b.runs} | ${pct(b)} |`);
  }
  lines.push('', 'Samples by their prompt perplexity:', '', `| perplexity | ${summary.modes.map((m) => m.mode).join(' | ')} |`, `| --- |${summary.modes.map(() => ' ---: |').join('')}`);
  for (const [i, edge] of FIXED_EDGES.entries()) {
    const label = summary.modes[0]?.perplexityBuckets[i]?.label ?? String(edge);
    lines.push(`| ${label} | ${summary.modes.map((m) => `${pct(m.perplexityBuckets[i])} (${m.perplexityBuckets[i].runs})`).join(' | ')} |`);
  }

  lines.push('', '## By problem', '', `| id | name | category | ${summary.modes.map((m) => `${m.mode} pass | ${m.mode} ppl`).join(' | ')} |`);
  lines.push(`| ---: | --- | --- |${summary.modes.map(() => ' ---: | ---: |').join('')}`);
  for (const p of summary.problems) {
    const cells = summary.modes.map((m) => {
      const r = p.modes[m.mode];
      return r ? `${pct(r)} (${r.passed}/${r.runs}) | ${num(r.meanPromptPerplexity)}` : '- | -';
    });
    lines.push(`| ${p.id} | ${cell(p.name)} | ${cell(p.category)} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n') + '\n';
}

function rankingLines(ranking: readonly RankingComparison[]): string[] {
  const lines = ['', '## Execution-ranked candidates vs plain sampling', ''];
  lines.push('Candidates ranked by running the program so far (not the tests): those that ran first, then by mean token log-probability; candidate 0 is the plain sample.', '');
  lines.push('| mode | candidates | samples | plain | ranked | gain (points) | ranked only | plain only | generation time |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of ranking) {
    const time = r.generateTimeRatio === null ? '-' : `${r.generateTimeRatio.toFixed(2)}x`;
    const gain = `${r.gainPoints >= 0 ? '+' : ''}${r.gainPoints.toFixed(2)}`;
    lines.push(`| ${r.mode} | ${r.candidates} | ${r.pairs} | ${pct(r.plain)} | ${pct(r.ranked)} | ${gain} | ${r.rankedOnly} | ${r.plainOnly} | ${time} |`);
  }
  return lines;
}

const escapeXml = (s: string): string => s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
const COLORS: Record<string, string> = { multi: '#2f6fb3', single: '#e08a1e' };
const colorOf = (mode: string, i: number): string => COLORS[mode] ?? ['#5a9e4b', '#9a4fb0', '#777'][i % 3];

/** Two grouped bar charts: pass rate overall and by category; pass rate by prompt-perplexity tercile. */
export function summarySvg(summary: MtpbSummary): string {
  const modes = summary.modes;
  const categories = ['overall', ...[...new Set(modes.flatMap((m) => Object.keys(m.byCategory)))].sort()];
  const rateOf = (m: ModeSummary, c: string): Rate | undefined => (c === 'overall' ? m : m.byCategory[c]);
  const terciles = ['low', 'medium', 'high'];
  const barW = 16;
  const groupW = Math.max(1, modes.length) * barW + 24;
  const chartH = 200;
  const left = 48;
  const top = 56;
  const width1 = categories.length * groupW;
  const width2 = terciles.length * groupW;
  const gap = 48;
  const width = left + width1 + gap + width2 + 24;
  const height = top + chartH + 70;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  out.push(`<text x="${left}" y="18" font-size="14" font-weight="bold">${escapeXml(summary.title)}</text>`);
  modes.forEach((m, i) => {
    const x = left + i * 150;
    out.push(`<rect x="${x}" y="28" width="10" height="10" fill="${colorOf(m.mode, i)}"/>`);
    out.push(`<text x="${x + 14}" y="37">${escapeXml(m.mode)}-turn: ${pct(m)} (ppl ${num(m.meanPromptPerplexity)})</text>`);
  });
  const axis = (x0: number, w: number, title: string): void => {
    for (const t of [0, 0.25, 0.5, 0.75, 1]) {
      const y = top + chartH - t * chartH;
      out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + w}" y2="${y}" stroke="#ddd"/>`);
      out.push(`<text x="${x0 - 4}" y="${y + 4}" text-anchor="end" fill="#555">${t * 100}%</text>`);
    }
    out.push(`<text x="${x0 + w / 2}" y="${height - 8}" text-anchor="middle" font-weight="bold">${escapeXml(title)}</text>`);
  };
  const bars = (x0: number, groups: string[], rateFor: (m: ModeSummary, g: string) => Rate | undefined): void => {
    groups.forEach((g, gi) => {
      const gx = x0 + gi * groupW + 12;
      modes.forEach((m, mi) => {
        const r = rateFor(m, g);
        if (!r || r.runs === 0) return;
        const h = r.passRate * chartH;
        out.push(`<rect x="${gx + mi * barW}" y="${(top + chartH - h).toFixed(1)}" width="${barW - 2}" height="${h.toFixed(1)}" fill="${colorOf(m.mode, mi)}"><title>${escapeXml(`${g}, ${m.mode}: ${pct(r)} (${r.passed}/${r.runs})`)}</title></rect>`);
      });
      out.push(`<text transform="translate(${gx + (modes.length * barW) / 2},${top + chartH + 12}) rotate(30)" fill="#333">${escapeXml(g)}</text>`);
    });
  };
  axis(left, width1, 'pass rate by category');
  bars(left, categories, rateOf);
  const x2 = left + width1 + gap;
  axis(x2, width2, 'by prompt perplexity (problem terciles)');
  bars(x2, terciles, (m, g) => m.perplexityTerciles.find((b) => b.label === g));
  out.push('</svg>');
  return out.join('\n') + '\n';
}
