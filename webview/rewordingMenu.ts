// Rewordings at the draft's surprising words: each word the model had alternatives for is a menu button; its menu
// lists those alternatives (the model's own top candidates at that position, from the prefill that scored the
// draft), each with the perplexity the draft would have with it, scored by the host when the menu opens ("scoring…"
// until then). Choosing one rewords the draft. The WAI-ARIA menu button pattern: Enter, Space or ArrowDown opens
// it on the first item (ArrowUp on the last), the arrows, Home and End move, Enter or Space chooses, Escape closes
// it and gives the focus back to the word, Tab closes it and moves on.
import { formatPerplexityNumber, MAX_REWORDINGS, type FromWebview, type Rewording, type SurprisingWord } from '../src/protocol/webview';
import type { Announcer } from './announcer';
import { el } from './dom';
import type { PanelStore } from './store';

export interface RewordingDeps {
  readonly store: PanelStore;
  readonly post: (message: FromWebview) => void;
  readonly announcer: Announcer;
  /** Puts the reworded draft in the input (the composer offers the one it replaces back). */
  readonly reword: (draft: string) => void;
}

/** A word of `draft` with one of its alternatives in its place. */
export function reworded(draft: string, word: SurprisingWord, alternative: string): string {
  return draft.slice(0, word.start) + alternative + draft.slice(word.end);
}

/** Whether the panel can offer rewordings of this word: it has alternatives and a span inside the draft. */
export function canReword(word: SurprisingWord, draft: string): boolean {
  const { start, end, alternatives } = word;
  return !!alternatives?.length && start !== undefined && end !== undefined && start >= 0 && start < end && end <= draft.length;
}

interface OpenMenu {
  /** Which word of which draft (a re-render of the same word keeps its menu open). */
  readonly key: string;
  readonly word: SurprisingWord;
  readonly button: HTMLButtonElement;
  readonly menu: HTMLElement;
  readonly items: readonly HTMLElement[];
  /** The draft each item would give. */
  readonly candidates: readonly string[];
  readonly draft: string;
}

let menuCount = 0;

export class RewordingMenus {
  private open: OpenMenu | undefined;
  /** The texts of the rewordings asked for, by the id sent with them. */
  private readonly requested = new Map<string, { readonly draft: string; readonly text: string }>();
  private nextId = 0;
  /** Set by detach(): the menu that was open when the words were taken out for a re-render, and its focused item. */
  private reopen: { readonly key: string; readonly focus: number | undefined } | undefined;

  constructor(private readonly deps: RewordingDeps) {
    document.addEventListener('pointerdown', (event) => {
      const open = this.open;
      if (open && !open.menu.contains(event.target as Node) && !open.button.contains(event.target as Node)) this.close(false);
    });
  }

  /** The control of a surprising word of `draft`: a menu button if it can be reworded, else undefined. */
  wordControl(word: SurprisingWord, draft: string): HTMLElement | undefined {
    if (!canReword(word, draft)) return undefined;
    const id = `reword-menu-${++menuCount}`;
    const button = el('button', {
      className: 'word reword-button',
      text: word.text,
      attrs: { type: 'button', 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-controls': id, title: `Reword “${word.text}”: the model's alternatives`, 'aria-label': `Reword “${word.text}”` },
    });
    const candidates = word.alternatives!.map((alternative) => reworded(draft, word, alternative));
    const items = word.alternatives!.map((alternative, i) => this.item(alternative, () => this.choose(i)));
    const menu = el('div', { className: 'reword-menu', attrs: { id, role: 'menu', 'aria-label': `Alternatives for “${word.text}”` } }, items);
    menu.hidden = true;
    const key = `${word.start}:${word.end}:${word.text}\u0000${draft}`;
    const entry: OpenMenu = { key, word, button, menu, items, candidates, draft };
    button.addEventListener('click', () => (this.open?.button === button ? this.close(true) : this.show(entry, 0)));
    button.addEventListener('keydown', (event) => this.onButtonKey(event, entry));
    menu.addEventListener('keydown', (event) => this.onMenuKey(event));
    if (this.reopen?.key === key) {
      this.show(entry, this.reopen.focus, false);
      this.reopen = undefined;
    }
    return el('span', { className: 'reword' }, [button, menu]);
  }

  /** Before the composer re-renders the words: the open menu is reopened if its word comes back, its focus kept. */
  detach(): void {
    const open = this.open;
    this.open = undefined;
    this.reopen = undefined;
    if (!open) return;
    const index = open.items.indexOf(document.activeElement as HTMLElement);
    this.reopen = { key: open.key, focus: index >= 0 ? index : undefined };
  }

  /** The host's scores of rewordings: kept in the store, and shown in the open menu. */
  showScores(draft: string, scores: readonly { readonly id: string; readonly perplexity: number }[]): void {
    for (const { id, perplexity } of scores) {
      const asked = this.requested.get(id);
      if (asked && asked.draft === draft) this.deps.store.setRewordingScore(draft, asked.text, perplexity);
    }
    this.renderScores();
  }

  /** Closes the open menu; `returnFocus` puts the focus back on its word. */
  close(returnFocus: boolean): void {
    const open = this.open;
    if (!open) return;
    this.open = undefined;
    open.menu.hidden = true;
    open.button.setAttribute('aria-expanded', 'false');
    if (returnFocus) open.button.focus();
  }

  private item(alternative: string, onChoose: () => void): HTMLElement {
    const item = el('div', { className: 'reword-item', attrs: { role: 'menuitem', tabindex: '-1' } }, [
      el('span', { className: 'reword-alt', text: alternative.trim() }),
      el('span', { className: 'reword-ppl', text: '' }),
    ]);
    item.addEventListener('click', (event) => {
      event.stopPropagation();
      onChoose();
    });
    return item;
  }

  /** Opens a word's menu (closing another), focuses an item, asks for the scores it lacks; said aloud when new. */
  private show(entry: OpenMenu, focusIndex: number | undefined, announce = true): void {
    if (this.open && this.open.button !== entry.button) this.close(false);
    this.open = entry;
    entry.menu.hidden = false;
    entry.button.setAttribute('aria-expanded', 'true');
    this.renderScores();
    if (focusIndex !== undefined) window.requestAnimationFrame(() => entry.items[Math.min(focusIndex, entry.items.length - 1)]?.focus());
    if (!announce) return;
    const count = entry.items.length;
    this.deps.announcer.announce(
      `${count} alternative${count === 1 ? '' : 's'} for “${entry.word.text}”, each with the perplexity the draft would have. ` +
        'Arrow keys move, Enter replaces the word, Escape closes.',
    );
    this.requestScores(entry);
  }

  /** Sends the rewordings of the open word that have no score yet (none while a turn generates: the host waits). */
  private requestScores(entry: OpenMenu): void {
    if (this.deps.store.generatingTurn()) return;
    const missing = entry.candidates.filter((text, i) => entry.candidates.indexOf(text) === i && this.deps.store.rewordingScore(entry.draft, text) === undefined);
    if (missing.length === 0) return;
    for (const [id, asked] of this.requested) if (asked.draft !== entry.draft) this.requested.delete(id);
    const rewordings: Rewording[] = missing.slice(0, MAX_REWORDINGS).map((text) => {
      const id = `r${++this.nextId}`;
      this.requested.set(id, { draft: entry.draft, text });
      return { id, text };
    });
    this.deps.post({ type: 'scoreRewordings', draft: entry.draft, rewordings });
  }

  /** Each item of the open menu: its perplexity once scored ("scoring…" until then). */
  private renderScores(): void {
    const open = this.open;
    if (!open) return;
    const generating = this.deps.store.generatingTurn() !== undefined;
    open.items.forEach((item, i) => {
      const score = this.deps.store.rewordingScore(open.draft, open.candidates[i]);
      const text = score !== undefined ? `· ppl ${formatPerplexityNumber(score)}` : generating ? '· not scored while a turn generates' : '· scoring…';
      const slot = item.querySelector('.reword-ppl');
      if (slot && slot.textContent !== text) slot.textContent = text;
      item.setAttribute('aria-label', `${open.word.alternatives![i].trim()}, ${score !== undefined ? `perplexity ${formatPerplexityNumber(score)}` : text.slice(2)}`);
    });
  }

  /** Rewords the draft with the open menu's item `index`. */
  private choose(index: number): void {
    const open = this.open;
    if (!open) return;
    this.close(false);
    const replacement = open.word.alternatives![index].trim();
    this.deps.reword(open.candidates[index]);
    this.deps.announcer.announce(`Replaced “${open.word.text}” with “${replacement}”; the draft is scored again.`);
  }

  private onButtonKey(event: KeyboardEvent, entry: OpenMenu): void {
    if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') return;
    event.preventDefault();
    this.show(entry, event.key === 'ArrowDown' ? 0 : entry.items.length - 1);
  }

  private onMenuKey(event: KeyboardEvent): void {
    const open = this.open;
    if (!open) return;
    const current = open.items.indexOf(document.activeElement as HTMLElement);
    const last = open.items.length - 1;
    const moves: Record<string, number> = { ArrowDown: current >= last ? 0 : current + 1, ArrowUp: current <= 0 ? last : current - 1, Home: 0, End: last };
    if (event.key in moves) open.items[moves[event.key]].focus();
    else if ((event.key === 'Enter' || event.key === ' ') && current >= 0) this.choose(current);
    else if (event.key === 'Escape') this.close(true);
    else if (event.key === 'Tab') {
      this.close(true); // the browser then moves on from the word, as from any control
      return;
    } else return;
    event.preventDefault();
    event.stopPropagation();
  }
}
