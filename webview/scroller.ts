// The scrolling part of the panel (the empty state and the turns): it follows new code while the user is at the
// bottom, leaves them where they are when they scrolled up, and remembers where they were across a hide and show.
import { el, type Child } from './dom';
import type { PanelStore } from './store';

/** How close to the bottom still counts as "at the bottom" (px): new code then scrolls into view. */
const STICK_DISTANCE = 48;
/** Scroll positions are saved this long after scrolling stops (ms). */
const SAVE_DELAY = 200;

export class Scroller {
  readonly element: HTMLElement;
  private saveTimer: number | undefined;

  constructor(
    private readonly store: PanelStore,
    children: readonly Child[],
  ) {
    this.element = el('main', { className: 'scroller' }, children);
    this.element.addEventListener('scroll', () => {
      window.clearTimeout(this.saveTimer);
      this.saveTimer = window.setTimeout(() => this.store.setScrollTop(this.element.scrollTop), SAVE_DELAY);
    });
  }

  isNearBottom(): boolean {
    const e = this.element;
    return e.scrollHeight - e.scrollTop - e.clientHeight < STICK_DISTANCE;
  }

  toBottom(): void {
    this.element.scrollTop = this.element.scrollHeight;
  }

  /** Back to where the user was (the first render after the view was shown again), else to the newest turn. */
  restoreOrBottom(): void {
    if (this.store.scrollTop > 0) this.element.scrollTop = this.store.scrollTop;
    else this.toBottom();
  }
}
