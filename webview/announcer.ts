// What a screen reader is told: one polite aria-live region, and the words for each turn's new state.
import type { ModelState, ModelStatusView, TurnState, TurnView } from '../src/protocol/webview';
import { assertNever } from './assert';
import { el } from './dom';

export class Announcer {
  readonly element = el('div', { className: 'visually-hidden', attrs: { 'aria-live': 'polite', role: 'status' } });
  private timer: number | undefined;

  announce(text: string): void {
    // Cleared first so that the same words said twice are announced twice.
    this.element.textContent = '';
    window.clearTimeout(this.timer);
    this.timer = window.setTimeout(() => {
      this.element.textContent = text;
    }, 60);
  }
}

/** What to say when a turn changes state (undefined when its state is the same as before). */
export function turnAnnouncement(turn: TurnView, previous: TurnState | undefined): string | undefined {
  if (previous === turn.state) return undefined;
  switch (turn.state) {
    case 'generating':
      return 'Generating…';
    case 'proposed':
      return 'Code ready: accept, reject, regenerate or edit';
    case 'accepted':
      return 'Inserted';
    case 'rejected':
      return 'Rejected';
    case 'cancelled':
      return 'Stopped: the code so far can be accepted, rejected, regenerated or edited';
    case 'failed':
      return `Error: ${turn.error || 'the model failed to generate this turn'}`;
    default:
      return assertNever(turn.state);
  }
}

/** What to say when the model's status changes: its errors, and that it is ready after loading. */
export function modelAnnouncement(before: ModelState | undefined, model: ModelStatusView): string | undefined {
  if (before === model.state) return undefined;
  if (model.state === 'error') return `Model error: ${model.message ?? 'the model could not be loaded'}`;
  if (model.state === 'ready' && before === 'loading') return 'Model ready';
  return undefined;
}
