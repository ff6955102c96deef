// The panel's global shortcuts: accept / reject the newest proposed turn, stop the one generating. They are
// documented in the composer's keyboard help and in the buttons' titles (KEY_*).
import type { VscodeTextarea } from '@vscode-elements/elements/dist/vscode-textarea/vscode-textarea.js';
import type { FromWebview } from '../src/protocol/webview';
import type { Announcer } from './announcer';
import type { PanelStore } from './store';

export const isMac = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
const MOD = isMac ? 'Cmd' : 'Ctrl';
export const KEY_ACCEPT = `${MOD}+Enter`;
export const KEY_REJECT = `${MOD}+Backspace`;
export const KEY_STOP = 'Escape';

export interface KeyboardDeps {
  readonly store: PanelStore;
  readonly post: (message: FromWebview) => void;
  readonly announcer: Announcer;
  /** Accepts a turn (with its edited code, if it is being edited). */
  readonly accept: (turnId: string) => void;
}

export class Keyboard {
  constructor(private readonly deps: KeyboardDeps) {}

  attach(target: Window): void {
    // In the capture phase, so that a shortcut is handled once, before the focused control sees the key
    // (vscode-button clicks itself on any Enter, Ctrl+Enter included).
    target.addEventListener('keydown', (event: KeyboardEvent) => this.onKeyDown(event), { capture: true });
  }

  private onKeyDown(event: KeyboardEvent): void {
    if (event.isComposing) return;
    const mod = isMac ? event.metaKey && !event.ctrlKey : event.ctrlKey && !event.metaKey;
    const plain = !event.altKey && !event.shiftKey;
    if (mod && plain && event.key === 'Enter') this.acceptNewest(event);
    else if (mod && plain && event.key === 'Backspace') this.rejectNewest(event);
    else if (event.key === 'Escape' && !mod && plain) this.stopGenerating(event);
  }

  private acceptNewest(event: KeyboardEvent): void {
    event.preventDefault();
    event.stopPropagation();
    const turn = this.deps.store.newestActionable();
    if (turn) this.deps.accept(turn.id);
    else this.deps.announcer.announce('No proposed code to accept.');
  }

  private rejectNewest(event: KeyboardEvent): void {
    const text = focusedTextValue();
    if (text !== undefined && text !== '') return; // deleting a word in a text field
    const turn = this.deps.store.newestActionable();
    if (!turn) return;
    event.preventDefault();
    event.stopPropagation();
    this.deps.post({ type: 'reject', turnId: turn.id });
  }

  private stopGenerating(event: KeyboardEvent): void {
    // Escape in a menu (a rewording menu) closes the menu, and only that.
    if (event.target instanceof Element && event.target.closest('[role="menu"]')) return;
    const turn = this.deps.store.generatingTurn();
    if (!turn) return;
    event.preventDefault();
    this.deps.post({ type: 'stop', turnId: turn.id });
  }
}

/** The text of the focused text field, if a text field has the focus. */
function focusedTextValue(): string | undefined {
  const active = document.activeElement;
  if (active instanceof HTMLElement && active.tagName === 'VSCODE-TEXTAREA') return (active as VscodeTextarea).value;
  if (active instanceof HTMLTextAreaElement || active instanceof HTMLInputElement) return active.value;
  return undefined;
}
