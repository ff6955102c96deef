// A prompt's score as the UI shows it: the number, a level by the user's thresholds, the most surprising words.
import type { PromptScore } from '../protocol/engine';
import type { PromptScoreRecord } from './sessionFormat';
import { formatPerplexityNumber, type PerplexityLevel, type PromptPerplexityView, type SurprisingWord } from '../protocol/webview';
import { draftMap, draftWord, type DraftMap } from './draftWords';

export interface PerplexityThresholds {
  /** At or below: `low` (good). */
  readonly low: number;
  /** At or above: `high` (likely to be misunderstood). */
  readonly high: number;
}

export const DEFAULT_THRESHOLDS: PerplexityThresholds = { low: 8, high: 20 };

export function perplexityLevel(perplexity: number, thresholds: PerplexityThresholds): PerplexityLevel {
  if (perplexity <= thresholds.low) return 'low';
  if (perplexity >= thresholds.high) return 'high';
  return 'medium';
}

/**
 * The `count` most surprising tokens with visible text (trimmed), most surprising first. Given the draft the prompt
 * was formatted from (`# draft\n`), only the draft's own words, each with its span in the draft and the model's
 * alternatives there as replacements of that span (draftWords.ts).
 */
export function surprisingWords(score: PromptScore, count = 3, draft?: DraftMap): SurprisingWord[] {
  const words = draft
    ? score.tokens.flatMap((t) => draftWord(t, draft) ?? [])
    : score.tokens.map((t) => ({ text: t.text.trim(), surprisal: t.surprisal }));
  return words
    .filter((t) => t.text !== '' && t.text !== '#' && Number.isFinite(t.surprisal))
    .sort((a, b) => b.surprisal - a.surprisal)
    .slice(0, count);
}

/** What a turn keeps of its prompt's score (the level is not kept: it depends on the thresholds of the day). */
export function scoreRecord(score: PromptScore): PromptScoreRecord {
  return { perplexity: score.perplexity, surprising: surprisingWords(score) };
}

/** A kept score as the panel and the hints show it, its level by `thresholds`. */
export function scoreView(score: PromptScoreRecord, thresholds: PerplexityThresholds): PromptPerplexityView {
  return { perplexity: score.perplexity, level: perplexityLevel(score.perplexity, thresholds), surprising: score.surprising };
}

export function perplexityView(score: PromptScore, thresholds: PerplexityThresholds): PromptPerplexityView {
  return scoreView(scoreRecord(score), thresholds);
}

/**
 * The draft's score as the composer shows it: its words with their spans and alternatives, when `prompt` (what was
 * scored) is the draft in the paper's format; otherwise as any prompt's.
 */
export function draftPerplexityView(score: PromptScore, thresholds: PerplexityThresholds, draft: string, prompt: string): PromptPerplexityView {
  const map = draftMap(draft);
  const view = perplexityView(score, thresholds);
  return map.prompt === prompt ? { ...view, surprising: surprisingWords(score, 3, map) } : view;
}

/** The inline hint's text, e.g. `ppl 7.9`. */
export function formatPerplexity(perplexity: number): string {
  return `ppl ${formatPerplexityNumber(perplexity)}`;
}

/** The hover of a prompt's hint (Markdown): what the number means and the words the model found surprising. */
export function perplexityExplanation(view: PromptPerplexityView): string {
  const lines = [
    `**Prompt perplexity ${formatPerplexityNumber(view.perplexity)}** (${view.level})`,
    '',
    'How surprising this prompt is to the model, given the code above it. The CodeGen paper found that prompts ' +
      'with lower perplexity get better code: if the number is high, try rephrasing the prompt in plainer words.',
  ];
  if (view.surprising.length > 0) {
    const words = view.surprising.map((w) => `\`${w.text.replace(/`/g, "'")}\` (${w.surprisal.toFixed(1)} nats)`);
    lines.push('', `Most surprising: ${words.join(', ')}`);
  }
  return lines.join('\n');
}
