// One turn as the panel shows it: the prompt (as the comment it becomes) with its perplexity, the code (highlighted,
// or an editor while it is being edited), its status and the buttons its state allows. Built from scratch on every
// change of the turn; the turn list swaps the element in place.
import type { VscodeTextarea } from '@vscode-elements/elements/dist/vscode-textarea/vscode-textarea.js';
import type { FromWebview, TurnState, TurnView } from '../src/protocol/webview';
import { assertNever } from './assert';
import { makeButton } from './buttons';
import { el, icon } from './dom';
import { formatRate } from './format';
import { renderPython } from './highlight';
import { KEY_ACCEPT, KEY_REJECT, KEY_STOP } from './keyboard';
import { perplexityChip } from './perplexity';
import { candidatesElement } from './candidateView';
import { programRunElement } from './programRunView';
import { isActionable } from './store';
import type { Editing } from './savedState';

/** What the turn's buttons do. */
export interface TurnActions {
  readonly post: (message: FromWebview) => void;
  /** Accepts a turn (with its edited code, if it is being edited). */
  readonly accept: (turnId: string) => void;
  readonly startEditing: (turn: TurnView) => void;
  readonly stopEditing: (turnId: string) => void;
  readonly editedCode: (turnId: string, code: string) => void;
  /** Puts a rejected turn's prompt back in the input. */
  readonly tryAgain: (turn: TurnView) => void;
}

/** Where the turn stands in its session, as its element shows it. */
export interface TurnPlace {
  /** 1 for the first turn. */
  readonly number: number;
  /** Whether it is the newest turn that can be accepted (the keyboard shortcuts act on it). */
  readonly isNewest: boolean;
  /** Its edit, if it is being edited. */
  readonly editing: Readonly<Editing> | null;
}

/** A turn's element, and the parts that are updated without rebuilding it. */
export interface TurnElement {
  readonly item: HTMLLIElement;
  /** The code element that streamed deltas re-render. */
  readonly code?: HTMLElement;
  /** The code editor, kept across re-renders so that the caret and undo survive. */
  readonly editor?: VscodeTextarea;
}

const STATE_TEXT: Record<TurnState, string> = {
  generating: 'Generating…',
  proposed: 'Proposed',
  accepted: 'Inserted',
  rejected: 'Rejected',
  cancelled: 'Stopped',
  failed: 'Failed',
};

export function buildTurn(turn: TurnView, place: TurnPlace, actions: TurnActions, reuseEditor?: VscodeTextarea): TurnElement {
  const item = el('li', {
    className: `turn state-${turn.state}${place.editing ? ' editing' : ''}`,
    attrs: {
      tabindex: '-1',
      'aria-label': `Turn ${place.number}: ${turn.prompt} (${STATE_TEXT[turn.state]})`,
      'data-turn-id': turn.id,
    },
  });
  item.append(turnHead(turn));
  const note = droppedTurnsNote(turn);
  if (note) item.append(note);

  const body = turnBody(turn, place, actions, reuseEditor);
  if (body.element) item.append(body.element);
  if (turn.state === 'failed') item.append(turnError(turn));
  if (turn.candidates && isActionable(turn.state)) {
    item.append(candidatesElement(turn, turn.candidates, place.number, actions.post, !place.editing));
  }
  if (turn.run) item.append(programRunElement(turn.run));

  const status = turnStatus(turn, place);
  const buttons = turnButtons(turn, place, actions);
  if (status.childElementCount > 0 || buttons.childElementCount > 0) {
    item.append(el('div', { className: 'turn-foot' }, [status, buttons]));
  }
  return { item, code: body.code, editor: body.editor };
}

function turnHead(turn: TurnView): HTMLElement {
  return el('div', { className: 'turn-head' }, [
    el('div', { className: 'turn-prompt' }, [
      el('span', { className: 'prompt-hash', text: '#', attrs: { 'aria-hidden': 'true' } }),
      el('span', { className: 'prompt-text', text: turn.prompt }),
    ]),
    turn.perplexity ? perplexityChip(turn.perplexity) : null,
  ]);
}

function droppedTurnsNote(turn: TurnView): HTMLElement | undefined {
  const n = turn.droppedTurns;
  if (n === undefined || n <= 0) return undefined;
  return el('div', { className: 'turn-note' }, [
    icon('info'),
    el('span', { text: `${n} earlier turn${n === 1 ? '' : 's'} left out to fit the model` }),
  ]);
}

/** The code: an editor while it is being edited, highlighted otherwise, or a line saying there is none. */
function turnBody(
  turn: TurnView,
  place: TurnPlace,
  actions: TurnActions,
  reuseEditor: VscodeTextarea | undefined,
): { element?: HTMLElement; code?: HTMLElement; editor?: VscodeTextarea } {
  if (place.editing) {
    const editor = reuseEditor ?? codeEditor(turn, place.number, place.editing.code, actions);
    return { element: editor, editor };
  }
  if (turn.code !== '' || turn.state === 'generating') {
    const code = el('code', { className: 'language-python' });
    renderPython(code, turn.code);
    const pre = el(
      'pre',
      { className: `code${turn.state === 'generating' ? ' streaming' : ''}`, attrs: { 'aria-label': `Code of turn ${place.number}` } },
      [code],
    );
    if (turn.state === 'generating' && turn.code === '') pre.classList.add('empty');
    return { element: pre, code };
  }
  if (turn.state !== 'failed') return { element: el('p', { className: 'no-code', text: 'No code was generated.' }) };
  return {};
}

function codeEditor(turn: TurnView, number: number, code: string, actions: TurnActions): VscodeTextarea {
  const editor = el('vscode-textarea', {
    className: 'code-editor',
    attrs: { monospace: '', resize: 'vertical', label: `Edit the code of turn ${number}`, 'data-action': 'editor' },
  }) as VscodeTextarea;
  editor.value = code;
  editor.rows = Math.min(20, Math.max(4, code.split('\n').length + 1));
  editor.addEventListener('input', () => actions.editedCode(turn.id, editor.value));
  return editor;
}

function turnError(turn: TurnView): HTMLElement {
  return el('div', { className: 'turn-error', attrs: { role: 'alert' } }, [
    icon('error'),
    el('span', { text: turn.error || 'The model failed to generate this turn.' }),
  ]);
}

function turnStatus(turn: TurnView, place: TurnPlace): HTMLElement {
  const status = el('div', { className: 'turn-status' });
  switch (turn.state) {
    case 'generating':
      status.append(
        el('vscode-progress-ring', { className: 'ring-small', attrs: { 'aria-hidden': 'true' } }),
        el('span', { text: turn.sampling ? `Sampling candidate ${turn.sampling.candidate} of ${turn.sampling.of}…` : 'Generating…' }),
      );
      break;
    case 'proposed':
      status.append(el('span', { text: place.editing ? 'Editing' : 'Ready to accept' }));
      break;
    case 'accepted':
      status.append(icon('check'), el('span', { text: 'Inserted' }));
      break;
    case 'cancelled':
      status.append(icon('circle-slash'), el('span', { text: 'Stopped' }));
      break;
    case 'rejected':
      status.append(icon('close'), el('span', { text: 'Rejected' }));
      break;
    case 'failed':
      status.append(el('span', { text: 'Failed' }));
      break;
    default:
      assertNever(turn.state);
  }
  if (turn.tokensPerSecond !== undefined && Number.isFinite(turn.tokensPerSecond) && turn.state !== 'failed') {
    status.append(el('span', { className: 'meta', text: formatRate(turn.tokensPerSecond) }));
  }
  return status;
}

function turnButtons(turn: TurnView, place: TurnPlace, actions: TurnActions): HTMLElement {
  const buttons = el('div', { className: 'turn-actions' });
  const which = `turn ${place.number}`;
  switch (turn.state) {
    case 'generating':
      buttons.append(
        makeButton({
          label: 'Stop',
          icon: 'debug-stop',
          secondary: true,
          action: 'stop',
          title: `Stop generating (${KEY_STOP})`,
          ariaLabel: `Stop generating ${which}`,
          onClick: () => actions.post({ type: 'stop', turnId: turn.id }),
        }),
      );
      break;
    case 'proposed':
    case 'cancelled':
      buttons.append(...(place.editing ? editButtons(turn, which, place, actions) : proposedButtons(turn, which, place, actions)));
      break;
    case 'rejected':
      buttons.append(
        makeButton({
          label: 'Try again',
          icon: 'discard',
          secondary: true,
          action: 'try-again',
          title: 'Put this prompt back in the input to rephrase it',
          ariaLabel: `Try again: put the prompt of ${which} back in the input`,
          onClick: () => actions.tryAgain(turn),
        }),
      );
      break;
    case 'failed':
      buttons.append(
        makeButton({
          label: 'Retry',
          icon: 'refresh',
          action: 'retry',
          title: 'Generate this turn again',
          ariaLabel: `Retry ${which}`,
          onClick: () => actions.post({ type: 'retry', turnId: turn.id }),
        }),
      );
      break;
    case 'accepted':
      break;
    default:
      assertNever(turn.state);
  }
  return buttons;
}

/** Accept, Reject, Regenerate and Edit, for a turn with code that is not being edited. */
function proposedButtons(turn: TurnView, which: string, place: TurnPlace, actions: TurnActions): HTMLElement[] {
  return [
    makeButton({
      label: 'Accept',
      icon: 'check',
      action: 'accept',
      title: `Accept and insert into the editor${place.isNewest ? ` (${KEY_ACCEPT})` : ''}`,
      ariaLabel: `Accept ${which}`,
      onClick: () => actions.accept(turn.id),
    }),
    makeButton({
      label: 'Reject',
      icon: 'close',
      secondary: true,
      action: 'reject',
      title: `Reject this code${place.isNewest ? ` (${KEY_REJECT})` : ''}`,
      ariaLabel: `Reject ${which}`,
      onClick: () => actions.post({ type: 'reject', turnId: turn.id }),
    }),
    makeButton({
      label: 'Regenerate',
      icon: 'refresh',
      secondary: true,
      action: 'regenerate',
      title: 'Generate this turn again',
      ariaLabel: `Regenerate ${which}`,
      onClick: () => actions.post({ type: 'regenerate', turnId: turn.id }),
    }),
    makeButton({
      label: 'Edit',
      icon: 'edit',
      secondary: true,
      action: 'edit',
      title: 'Edit the code before accepting it',
      ariaLabel: `Edit the code of ${which}`,
      onClick: () => actions.startEditing(turn),
    }),
  ];
}

/** Accept (the edited code) and Cancel, while the turn's code is being edited. */
function editButtons(turn: TurnView, which: string, place: TurnPlace, actions: TurnActions): HTMLElement[] {
  return [
    makeButton({
      label: 'Accept',
      icon: 'check',
      action: 'accept-edit',
      title: `Accept the edited code and insert it${place.isNewest ? ` (${KEY_ACCEPT})` : ''}`,
      ariaLabel: `Accept the edited code of ${which}`,
      onClick: () => actions.accept(turn.id),
    }),
    makeButton({
      label: 'Cancel',
      secondary: true,
      action: 'cancel-edit',
      title: 'Discard the edits',
      ariaLabel: `Cancel editing ${which}`,
      onClick: () => actions.stopEditing(turn.id),
    }),
  ];
}
