// The toolbar: the session select (past sessions, newest first) and the New session / Export buttons.
import type { FromWebview, SessionSummary } from '../src/protocol/webview';
import { toolbarButton } from './buttons';
import { el } from './dom';
import { formatDate } from './format';
import type { PanelStore } from './store';

export class SessionBar {
  readonly element: HTMLElement;
  private readonly select = el('vscode-single-select', {
    className: 'session-select',
    attrs: { label: 'Session', title: 'Open a past session' },
  });
  /** Set while the options are being replaced: the select's change events then are ours, not the user's. */
  private rendering = false;

  constructor(
    private readonly store: PanelStore,
    private readonly post: (message: FromWebview) => void,
  ) {
    this.select.addEventListener('change', () => this.onChange());
    this.element = el('header', { className: 'toolbar' }, [
      this.select,
      el('div', { className: 'toolbar-actions', attrs: { role: 'toolbar', 'aria-label': 'Session actions' } }, [
        toolbarButton('add', 'New session', () => post({ type: 'newSession' })),
        toolbarButton('export', 'Export session as .py', () => post({ type: 'exportSession' })),
        toolbarButton('play', 'Run the program so far', () => post({ type: 'runProgram' })),
      ]),
    ]);
  }

  render(): void {
    const current = this.store.sessionId;
    if (current === undefined) return;
    this.rendering = true;
    this.select.replaceChildren(...sessionOptions(current, this.store.sessions));
    this.select.value = current;
    // The select reads its options on slotchange; let that settle before listening to changes again.
    window.setTimeout(() => {
      this.select.value = current;
      this.rendering = false;
    }, 0);
  }

  private onChange(): void {
    const current = this.store.sessionId;
    if (this.rendering || current === undefined) return;
    const id = this.select.value;
    if (id && id !== current) this.post({ type: 'openSession', sessionId: id });
  }
}

/** One option per session, newest first; the current one first as "New session" while it is not saved. */
function sessionOptions(current: string, all: readonly SessionSummary[]): HTMLElement[] {
  const sessions = [...all].sort((a, b) => b.updatedAt - a.updatedAt);
  const options: HTMLElement[] = [];
  if (!sessions.some((s) => s.id === current)) {
    options.push(el('vscode-option', { attrs: { value: current, description: 'not saved yet' }, text: 'New session' }));
  }
  for (const session of sessions) {
    const turns = `${session.turnCount} turn${session.turnCount === 1 ? '' : 's'}`;
    options.push(
      el('vscode-option', {
        attrs: { value: session.id, description: `${turns} · ${formatDate(session.updatedAt)}` },
        text: session.title || 'Untitled session',
      }),
    );
  }
  return options;
}
