// The composer: the input for the next turn, its live perplexity (asked for when typing pauses) with rewordings of
// its surprising words (rewordingMenu.ts), Submit, the draft that "Try again" or a rewording replaced (offered
// back), and the keyboard help that screen readers read with the input.
import type { VscodeTextarea } from '@vscode-elements/elements/dist/vscode-textarea/vscode-textarea.js';
import { MAX_CANDIDATES, type FromWebview, type PromptPerplexityView, type SurprisingWord, type TurnView } from '../src/protocol/webview';
import type { Announcer } from './announcer';
import { makeButton } from './buttons';
import { CandidatesPerTurnControl } from './candidateView';
import { clear, el, icon } from './dom';
import { ellipsis } from './format';
import { KEY_ACCEPT, KEY_REJECT, KEY_STOP } from './keyboard';
import { draftPerplexityParts, perplexityTooltip } from './perplexity';
import { RewordingMenus } from './rewordingMenu';
import type { PanelStore } from './store';

/** The draft is scored this long after typing stops (ms). */
const DRAFT_DELAY = 400;

export class Composer {
  readonly element: HTMLElement;
  private readonly input = el('vscode-textarea', {
    className: 'prompt-input',
    attrs: {
      label: 'Next turn',
      placeholder: 'Describe the next step of your program…',
      rows: '3',
      resize: 'vertical',
      'aria-describedby': 'keyboard-help',
    },
  }) as VscodeTextarea;
  private readonly draftPerplexity = el('div', { className: 'draft-ppl', attrs: { 'aria-live': 'off' } });
  private readonly replacedNotice = el('div', { className: 'replaced-notice' });
  private draftTimer: number | undefined;
  private readonly rewordings: RewordingMenus;
  private readonly candidatesPerTurn: CandidatesPerTurnControl;

  constructor(
    private readonly store: PanelStore,
    private readonly post: (message: FromWebview) => void,
    private readonly announcer: Announcer,
  ) {
    this.rewordings = new RewordingMenus({ store, post, announcer, reword: (draft) => this.replaceDraft(draft) });
    const submitButton = makeButton({
      label: 'Submit',
      icon: 'send',
      title: 'Generate code for this step (Enter; Shift+Enter for a new line)',
      onClick: () => this.submit(),
    });
    this.candidatesPerTurn = new CandidatesPerTurnControl(MAX_CANDIDATES, post);
    this.element = el('footer', { className: 'composer' }, [
      this.input,
      this.replacedNotice,
      el('div', { className: 'composer-row' }, [this.draftPerplexity, this.candidatesPerTurn.element, submitButton]),
      keyboardHelp(),
    ]);
    this.input.addEventListener('input', () => this.onInput());
    this.input.addEventListener('keydown', (event: KeyboardEvent) => this.onKeyDown(event));
  }

  get value(): string {
    return this.input.value;
  }

  /** Shows what was saved (at start, before the host has said anything). */
  restore(): void {
    this.input.value = this.store.draft;
    this.render();
  }

  /** After the host's init: the draft it sent (if the store took it), re-rendered, and the draft scored again. */
  afterInit(hostDraft: string | undefined): void {
    if (hostDraft !== undefined) this.input.value = hostDraft;
    this.render();
    // The host may have forgotten the draft's perplexity (e.g. after a reload).
    if (this.input.value !== '') this.scheduleDraftChanged();
  }

  /** The host's perplexity of a draft; an answer for text that has changed since is dropped. */
  showDraftPerplexity(draft: string, view: PromptPerplexityView | null): void {
    if (draft !== this.input.value) return;
    this.store.setDraftPerplexity(draft, view);
    this.renderDraftPerplexity();
  }

  /** The host's perplexities of rewordings of a draft (shown in the open rewording menu). */
  showRewordingScores(draft: string, scores: readonly { readonly id: string; readonly perplexity: number }[]): void {
    this.rewordings.showScores(draft, scores);
  }

  /** Shows the host's number of candidates per turn. */
  renderCandidatesPerTurn(): void {
    this.candidatesPerTurn.render(this.store.candidatesPerTurn);
  }

  /** Puts a rejected turn's prompt back in the input; the draft it replaces is offered back. */
  tryAgain(turn: TurnView): void {
    this.replaceDraft(turn.prompt);
  }

  /** A new draft in the input (a prompt tried again, a rewording); the one it replaces is offered back. */
  private replaceDraft(text: string): void {
    const current = this.input.value;
    if (current.trim() !== '' && current !== text) this.store.setReplacedDraft(current);
    this.setDraft(text);
    this.renderReplacedNotice();
    this.focus();
  }

  /** Focuses the input with the caret at the end, so that a restored prompt can be continued. */
  focus(): void {
    void this.input.updateComplete.then(() => this.input.focus());
    window.requestAnimationFrame(() => {
      const inner = this.input.wrappedElement as HTMLTextAreaElement | undefined;
      if (inner) inner.setSelectionRange(inner.value.length, inner.value.length);
    });
  }

  /** Focuses the input at once, leaving the caret where it was. */
  focusNow(): void {
    this.input.focus();
  }

  private render(): void {
    this.renderReplacedNotice();
    this.renderDraftPerplexity();
  }

  private submit(): void {
    const prompt = this.input.value;
    if (prompt.trim() === '') {
      this.announcer.announce('Type what the next step of the program should do first.');
      this.focus();
      return;
    }
    if (this.store.generatingTurn()) {
      this.announcer.announce(`A turn is still generating: wait for it or stop it with ${KEY_STOP}.`);
      return;
    }
    this.post({ type: 'submit', prompt });
    this.store.setDraftPerplexity(undefined, null); // the submitted prompt's score now shows on its turn
    this.setDraft('');
    this.sendDraftNow();
    this.focus();
  }

  private onInput(): void {
    this.store.setDraft(this.input.value);
    this.renderDraftPerplexity();
    this.scheduleDraftChanged();
  }

  private onKeyDown(event: KeyboardEvent): void {
    if (event.key !== 'Enter' || event.isComposing) return;
    if (event.shiftKey || event.altKey || event.ctrlKey || event.metaKey) return; // a new line, or a shortcut
    event.preventDefault();
    event.stopPropagation();
    this.submit();
  }

  private setDraft(text: string): void {
    this.input.value = text;
    this.onInput();
  }

  private scheduleDraftChanged(): void {
    window.clearTimeout(this.draftTimer);
    this.draftTimer = window.setTimeout(() => this.sendDraftNow(), DRAFT_DELAY);
  }

  private sendDraftNow(): void {
    window.clearTimeout(this.draftTimer);
    this.draftTimer = undefined;
    this.post({ type: 'draftChanged', draft: this.input.value });
  }

  /** Shows the last answer: current if it is for the text in the input, dimmed while a newer one is coming. */
  private renderDraftPerplexity(): void {
    const { view, draft } = this.store.draftPerplexity;
    const text = this.input.value;
    this.rewordings.detach();
    clear(this.draftPerplexity);
    if (!view || text.trim() === '') {
      this.draftPerplexity.hidden = true;
      return;
    }
    this.draftPerplexity.hidden = false;
    this.draftPerplexity.classList.toggle('stale', draft !== text);
    this.draftPerplexity.title = perplexityTooltip(view);
    // The words are rewording menus only while the number is the text's own (not for a draft typed on since).
    const reword = draft === text ? (word: SurprisingWord) => this.rewordings.wordControl(word, text) : undefined;
    this.draftPerplexity.append(...draftPerplexityParts(view, reword));
  }

  private renderReplacedNotice(): void {
    const replaced = this.store.replacedDraft;
    clear(this.replacedNotice);
    this.replacedNotice.hidden = replaced === null;
    if (replaced === null) return;
    const restore = makeButton({
      label: 'Restore',
      secondary: true,
      title: 'Put back the draft that was replaced (the prompt now in the input is kept in its place)',
      ariaLabel: 'Restore the draft that was replaced',
      onClick: () => this.restoreReplaced(replaced),
    });
    const dismiss = el('vscode-toolbar-button', { attrs: { icon: 'close', label: 'Dismiss', title: 'Dismiss' } });
    dismiss.addEventListener('click', () => {
      this.store.setReplacedDraft(null);
      this.renderReplacedNotice();
      this.focus();
    });
    this.replacedNotice.append(
      icon('history'),
      el('span', { className: 'replaced-text', text: `Replaced draft: “${ellipsis(replaced, 60)}”` }),
      restore,
      dismiss,
    );
  }

  /** The replaced draft back in the input; what was there takes its place (nothing typed is lost). */
  private restoreReplaced(replaced: string): void {
    const now = this.input.value;
    this.store.setReplacedDraft(now.trim() !== '' ? now : null);
    this.setDraft(replaced);
    this.renderReplacedNotice();
    this.focus();
  }
}

function keyboardHelp(): HTMLElement {
  return el('p', {
    className: 'visually-hidden',
    attrs: { id: 'keyboard-help' },
    text:
      `Enter submits the next turn; Shift+Enter inserts a new line. ${KEY_ACCEPT} accepts the newest proposed turn, ` +
      `${KEY_REJECT} rejects it (when the input is empty), ${KEY_STOP} stops a turn that is generating. ` +
      'Tab moves between the controls.',
  });
}
