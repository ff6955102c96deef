// How a prompt's perplexity is shown: a number with its level's colour and an explanatory tooltip.
import { formatPerplexityNumber, type PromptPerplexityView, type SurprisingWord } from '../src/protocol/webview';
import { el } from './dom';

export const PERPLEXITY_EXPLANATION =
  'Perplexity of this prompt under the model (exp of the mean surprisal of its tokens). The CodeGen paper found ' +
  'that prompts with lower perplexity get better code: if it is high, try rephrasing.';

const LEVEL_WORDS = { low: 'low', medium: 'medium', high: 'high' } as const;

/** The most surprising words, quoted, most surprising first. */
export function surprisingList(view: PromptPerplexityView, count = 3): string[] {
  return view.surprising
    .map((w) => w.text.trim())
    .filter((t) => t !== '')
    .slice(0, count);
}

export function perplexityTooltip(view: PromptPerplexityView): string {
  const words = surprisingList(view);
  const lines = [
    `Prompt perplexity ${formatPerplexityNumber(view.perplexity)} (${LEVEL_WORDS[view.level]}).`,
    PERPLEXITY_EXPLANATION,
  ];
  if (words.length > 0) lines.push(`Most surprising: ${words.map((w) => `“${w}”`).join(', ')}.`);
  return lines.join('\n');
}

/** A compact, focusable chip: coloured dot + "ppl 12.3"; the tooltip explains it. */
export function perplexityChip(view: PromptPerplexityView): HTMLElement {
  const tooltip = perplexityTooltip(view);
  return el(
    'span',
    {
      className: `ppl ppl-${view.level}`,
      attrs: { tabindex: '0', role: 'note', title: tooltip, 'aria-label': tooltip.replace(/\n/g, ' ') },
    },
    [el('span', { className: 'ppl-dot', attrs: { 'aria-hidden': 'true' } }), `ppl ${formatPerplexityNumber(view.perplexity)}`],
  );
}

/**
 * The draft's live perplexity, as the composer shows it: the number with its level, and its most surprising words,
 * each as `wordControl` makes it (a rewording menu's button), or as plain text (the chip's label says them).
 */
export function draftPerplexityParts(view: PromptPerplexityView, wordControl?: (word: SurprisingWord) => HTMLElement | undefined): HTMLElement[] {
  const tooltip = perplexityTooltip(view);
  const words = view.surprising.filter((w) => w.text.trim() !== '').slice(0, 3);
  const parts = [
    el(
      'span',
      {
        className: `ppl ppl-${view.level}`,
        attrs: { tabindex: '0', role: 'note', title: tooltip, 'aria-label': tooltip.replace(/\n/g, ' ') },
      },
      [
        el('span', { className: 'ppl-dot', attrs: { 'aria-hidden': 'true' } }),
        `Perplexity ${formatPerplexityNumber(view.perplexity)}`,
        el('span', { className: 'ppl-level', text: ` · ${view.level}` }),
      ],
    ),
  ];
  if (words.length > 0) {
    const plain = (w: SurprisingWord): HTMLElement => el('span', { className: 'word', text: w.text.trim(), attrs: { 'aria-hidden': 'true' } });
    parts.push(
      el('span', { className: 'surprising' }, [
        el('span', { className: 'meta', text: 'surprising:', attrs: { 'aria-hidden': 'true' } }),
        ...words.map((w) => wordControl?.(w) ?? plain(w)),
      ]),
    );
  }
  return parts;
}
