// The Multi-turn panel: the webview side of src/protocol/webview.ts. Browser code, DOM only.
//
// Handshake: on load it posts `ready`; the host answers `init` with the whole PanelState (and may send `init`
// again at any time: everything is rendered from scratch). What the user is typing (the draft, the turn being
// edited and its code) lives in vscode.getState()/setState(), so hiding and showing the view loses nothing.
//
// Security: nothing from the host or the user is ever parsed as HTML. Every node is built with createElement
// and every text goes in through textContent / text nodes (see dom.ts).
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-textarea/index.js';
import '@vscode-elements/elements/dist/vscode-toolbar-button/index.js';
import type { VscodeButton } from '@vscode-elements/elements/dist/vscode-button/vscode-button.js';
import type { VscodeTextarea } from '@vscode-elements/elements/dist/vscode-textarea/vscode-textarea.js';
import {
  formatPerplexityNumber,
  type FromWebview,
  type ModelStatusView,
  type PanelState,
  type PromptPerplexityView,
  type SessionSummary,
  type ToWebview,
  type TurnState,
  type TurnView,
} from '../src/protocol/webview';
import { clear, el, icon } from './dom';
import { renderPython } from './highlight';
import { perplexityChip, perplexityTooltip, surprisingList } from './perplexity';
import './main.css';

// ---------------------------------------------------------------------------------------------------------
// Saved UI state (survives the view being hidden and shown again)

interface SavedState {
  readonly version: 1;
  /** The text in the input. */
  draft: string;
  /** The turn whose code is being edited, and the edited code. */
  editing: { turnId: string; code: string } | null;
  /** A draft that "Try again" replaced, offered back with a Restore button. */
  replacedDraft: string | null;
  scrollTop: number;
}

const vscode = acquireVsCodeApi<FromWebview, SavedState>();

function loadSavedState(): SavedState | undefined {
  const saved = vscode.getState() as Partial<SavedState> | undefined;
  if (!saved || saved.version !== 1 || typeof saved.draft !== 'string') return undefined;
  const editing =
    saved.editing && typeof saved.editing.turnId === 'string' && typeof saved.editing.code === 'string'
      ? { turnId: saved.editing.turnId, code: saved.editing.code }
      : null;
  return {
    version: 1,
    draft: saved.draft,
    editing,
    replacedDraft: typeof saved.replacedDraft === 'string' ? saved.replacedDraft : null,
    scrollTop: typeof saved.scrollTop === 'number' ? saved.scrollTop : 0,
  };
}

const restored = loadSavedState();
const ui: SavedState = restored ?? { version: 1, draft: '', editing: null, replacedDraft: null, scrollTop: 0 };
/** Whether the next init should take the host's draft (nothing saved here) or keep ours (the newer one). */
let draftFromHost = restored === undefined;

function save(): void {
  vscode.setState({ ...ui });
}

function post(message: FromWebview): void {
  vscode.postMessage(message);
}

// ---------------------------------------------------------------------------------------------------------
// What the host told us

interface Panel {
  sessionId: string;
  turns: TurnView[];
  sessions: readonly SessionSummary[];
  model: ModelStatusView;
}

let panel: Panel | undefined;

const isMac = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
const MOD = isMac ? 'Cmd' : 'Ctrl';
const KEY_ACCEPT = `${MOD}+Enter`;
const KEY_REJECT = `${MOD}+Backspace`;
const KEY_STOP = 'Escape';

const ACTIONABLE: ReadonlySet<TurnState> = new Set<TurnState>(['proposed', 'cancelled']);

/** The newest turn that can be accepted / rejected (proposed, or stopped with code). */
function newestActionable(): TurnView | undefined {
  const turns = panel?.turns ?? [];
  for (let i = turns.length - 1; i >= 0; i--) {
    if (ACTIONABLE.has(turns[i].state)) return turns[i];
  }
  return undefined;
}

function generatingTurn(): TurnView | undefined {
  return panel?.turns.find((t) => t.state === 'generating');
}

// ---------------------------------------------------------------------------------------------------------
// The page skeleton (built once)

const app = document.getElementById('app') ?? document.body.appendChild(el('div', { attrs: { id: 'app' } }));
app.classList.add('panel');

const liveRegion = el('div', { className: 'visually-hidden', attrs: { 'aria-live': 'polite', role: 'status' } });
let announceTimer: number | undefined;
function announce(text: string): void {
  // Cleared first so that the same words said twice are announced twice.
  liveRegion.textContent = '';
  window.clearTimeout(announceTimer);
  announceTimer = window.setTimeout(() => {
    liveRegion.textContent = text;
  }, 60);
}

// Header: past sessions, new session, export.
const sessionSelect = el('vscode-single-select', {
  className: 'session-select',
  attrs: { label: 'Session', title: 'Open a past session' },
});
let renderingSessions = false;
sessionSelect.addEventListener('change', () => {
  if (renderingSessions || !panel) return;
  const id = sessionSelect.value;
  if (id && id !== panel.sessionId) post({ type: 'openSession', sessionId: id });
});

function toolbarButton(iconName: string, label: string, onClick: () => void): HTMLElement {
  const button = el('vscode-toolbar-button', { attrs: { icon: iconName, label, title: label } });
  button.addEventListener('click', onClick);
  return button;
}

const header = el('header', { className: 'toolbar' }, [
  sessionSelect,
  el('div', { className: 'toolbar-actions', attrs: { role: 'toolbar', 'aria-label': 'Session actions' } }, [
    toolbarButton('add', 'New session', () => post({ type: 'newSession' })),
    toolbarButton('export', 'Export session as .py', () => post({ type: 'exportSession' })),
  ]),
]);

// Model status line, and the notice shown while the bundled random model is the model.
const modelLine = el('div', { className: 'model-line' });
const testModelNotice = el('section', { className: 'test-model-notice', attrs: { 'aria-label': 'Test model notice', hidden: '' } });

// Turns.
const turnList = el('ol', { className: 'turns', attrs: { 'aria-label': 'Turns' } });
const emptyState = el('div', { className: 'empty-state' }, [
  el('h2', { text: 'Write a program one step at a time' }),
  el('p', {
    text:
      'Describe the next step of your program in a sentence, the way you would write a comment above it. ' +
      'The local CodeGen model writes that step’s code, conditioned on every earlier step you accepted.',
  }),
  el('p', {
    text:
      'Accept inserts the code into the editor; reject, regenerate or edit it if it is not right. The ' +
      'perplexity shown with each prompt is how surprising the model finds it: lower usually means better code.',
  }),
  el('p', { className: 'empty-example', text: 'Example: “Read the CSV file data.csv into a pandas dataframe.”' }),
]);
const scroller = el('main', { className: 'scroller' }, [emptyState, turnList]);
let scrollSaveTimer: number | undefined;
scroller.addEventListener('scroll', () => {
  window.clearTimeout(scrollSaveTimer);
  scrollSaveTimer = window.setTimeout(() => {
    ui.scrollTop = scroller.scrollTop;
    save();
  }, 200);
});

// Composer: the input, live perplexity, Submit.
const input = el('vscode-textarea', {
  className: 'prompt-input',
  attrs: {
    label: 'Next turn',
    placeholder: 'Describe the next step of your program…',
    rows: '3',
    resize: 'vertical',
    'aria-describedby': 'keyboard-help',
  },
}) as VscodeTextarea;
const draftPerplexity = el('div', { className: 'draft-ppl', attrs: { 'aria-live': 'off' } });
const submitButton = makeButton({
  label: 'Submit',
  icon: 'send',
  title: 'Generate code for this step (Enter; Shift+Enter for a new line)',
  onClick: () => submit(),
});
const replacedNotice = el('div', { className: 'replaced-notice' });
const keyboardHelp = el('p', {
  className: 'visually-hidden',
  attrs: { id: 'keyboard-help' },
  text:
    `Enter submits the next turn; Shift+Enter inserts a new line. ${KEY_ACCEPT} accepts the newest proposed turn, ` +
    `${KEY_REJECT} rejects it (when the input is empty), ${KEY_STOP} stops a turn that is generating. ` +
    'Tab moves between the controls.',
});
const composer = el('footer', { className: 'composer' }, [
  input,
  replacedNotice,
  el('div', { className: 'composer-row' }, [draftPerplexity, submitButton]),
  keyboardHelp,
]);

app.replaceChildren(header, modelLine, testModelNotice, scroller, composer, liveRegion);

// ---------------------------------------------------------------------------------------------------------
// Buttons

interface ButtonOptions {
  readonly label: string;
  readonly icon?: string;
  readonly title?: string;
  readonly secondary?: boolean;
  /** Identifies the control inside its turn, so that focus can be kept across a re-render. */
  readonly action?: string;
  /** The accessible name when it should say more than the visible label (e.g. which turn). */
  readonly ariaLabel?: string;
  readonly onClick: () => void;
}

function makeButton(options: ButtonOptions): VscodeButton {
  const button = el('vscode-button', {
    attrs: {
      icon: options.icon,
      title: options.title ?? options.label,
      'aria-label': options.ariaLabel ?? options.label,
      'data-action': options.action,
      secondary: options.secondary ? '' : undefined,
    },
    text: options.label,
  });
  button.addEventListener('click', (event) => {
    event.stopPropagation();
    options.onClick();
  });
  return button;
}

// ---------------------------------------------------------------------------------------------------------
// Rendering: model line, sessions, turns

/** The bundled model has random weights: say so before anyone wonders why the code is gibberish, and offer a real one. */
function renderTestModelNotice(model: ModelStatusView | undefined): void {
  clear(testModelNotice);
  const notice = model?.testModel;
  testModelNotice.hidden = !notice;
  if (!notice) return;
  testModelNotice.append(
    el('p', { className: 'test-model-text' }, [
      el('strong', { text: 'This is the random test model.' }),
      ` It has random weights and writes gibberish: it is bundled only to try the extension out. For real code, download ${notice.recommendedName}, the paper's smallest Python model, or choose a model folder you have.`,
    ]),
    el('div', { className: 'test-model-actions' }, [
      makeButton({
        label: `Download (${notice.recommendedSize})`,
        icon: 'cloud-download',
        title: `Download ${notice.recommendedName} from the Hugging Face hub, verify it and switch to it`,
        onClick: () => post({ type: 'downloadRecommendedModel' }),
      }),
      makeButton({
        label: 'Choose model folder…',
        icon: 'folder-opened',
        secondary: true,
        title: 'Use a CodeGen model folder you already have (config.json + onnx/*.onnx)',
        onClick: () => post({ type: 'chooseModel' }),
      }),
    ]),
  );
}

function renderModel(): void {
  clear(modelLine);
  const model = panel?.model;
  renderTestModelNotice(model);
  if (!model) {
    modelLine.append(el('vscode-progress-ring', { className: 'ring-small', attrs: { 'aria-label': 'Connecting' } }));
    modelLine.append(el('span', { className: 'model-text', text: 'Connecting to the model…' }));
    return;
  }
  modelLine.dataset.state = model.state;
  const label = model.label || 'No model';
  switch (model.state) {
    case 'loading':
      modelLine.append(
        el('vscode-progress-ring', { className: 'ring-small', attrs: { 'aria-label': 'Loading the model' } }),
        el('span', { className: 'model-text' }, ['Loading ', el('span', { className: 'model-label', text: label }), '…']),
      );
      break;
    case 'ready':
    case 'generating':
      modelLine.append(
        model.state === 'ready'
          ? icon('circle-filled', 'model-icon')
          : el('vscode-icon', { className: 'model-icon', attrs: { name: 'loading', spin: '', 'aria-hidden': 'true' } }),
        el('span', { className: 'model-text' }, [
          el('span', { className: 'model-label', text: label, attrs: { title: `Model: ${label}` } }),
          model.tokensPerSecond !== undefined && Number.isFinite(model.tokensPerSecond)
            ? el('span', { className: 'meta', text: ` · ${formatRate(model.tokensPerSecond)}` })
            : null,
        ]),
      );
      break;
    case 'none':
    case 'error': {
      const message = model.message || (model.state === 'none' ? 'No model is selected.' : 'The model could not be loaded.');
      modelLine.append(
        icon(model.state === 'none' ? 'info' : 'error', 'model-icon'),
        el('span', { className: 'model-text model-message', text: message }),
        makeButton({
          label: 'Choose model folder…',
          icon: 'folder-opened',
          secondary: true,
          title: 'Choose a CodeGen model folder (config.json + onnx/*.onnx)',
          onClick: () => post({ type: 'chooseModel' }),
        }),
        makeButton({
          label: 'Download model…',
          icon: 'cloud-download',
          secondary: true,
          title: 'Download a CodeGen ONNX model from the Hugging Face hub (e.g. Xenova/codegen-350M-mono)',
          onClick: () => post({ type: 'downloadModel' }),
        }),
      );
      break;
    }
    default:
      assertNever(model.state);
  }
  if (model.state !== 'none' && model.state !== 'error' && model.message) {
    modelLine.append(el('span', { className: 'meta model-message', text: model.message }));
  }
}

function formatRate(tokensPerSecond: number): string {
  return `${tokensPerSecond >= 10 ? Math.round(tokensPerSecond) : tokensPerSecond.toFixed(1)} tok/s`;
}

function renderSessions(): void {
  if (!panel) return;
  renderingSessions = true;
  const current = panel.sessionId;
  const sessions = [...panel.sessions].sort((a, b) => b.updatedAt - a.updatedAt);
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
  sessionSelect.replaceChildren(...options);
  sessionSelect.value = current;
  // The select reads its options on slotchange; let that settle before listening to changes again.
  window.setTimeout(() => {
    sessionSelect.value = current;
    renderingSessions = false;
  }, 0);
}

function formatDate(ms: number): string {
  if (!Number.isFinite(ms)) return '';
  const date = new Date(ms);
  const now = new Date();
  return date.toDateString() === now.toDateString()
    ? date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

/** The element of each rendered turn, and the code element that deltas append to. */
const turnElements = new Map<string, { item: HTMLLIElement; code?: HTMLElement; editor?: VscodeTextarea }>();

const STATE_TEXT: Record<TurnState, string> = {
  generating: 'Generating…',
  proposed: 'Proposed',
  accepted: 'Inserted',
  rejected: 'Rejected',
  cancelled: 'Stopped',
  failed: 'Failed',
};

function renderAll(): void {
  turnElements.clear();
  clear(turnList);
  for (const turn of panel?.turns ?? []) turnList.append(buildTurn(turn));
  emptyState.hidden = (panel?.turns.length ?? 0) > 0;
  renderModel();
  renderSessions();
}

/** Replaces a turn's element (or appends a new one), keeping the focus on the same control if it still exists. */
function renderTurn(turn: TurnView): void {
  const old = turnElements.get(turn.id);
  const active = document.activeElement;
  const hadFocus = old !== undefined && active !== null && old.item.contains(active);
  const focusedAction = hadFocus ? active?.closest<HTMLElement>('[data-action]')?.dataset.action : undefined;
  const focusedTurnItself = hadFocus && active === old?.item;
  const keepEditor = old?.editor;
  const item = buildTurn(turn, keepEditor);
  if (old) old.item.replaceWith(item);
  else turnList.append(item);
  emptyState.hidden = true;
  if (hadFocus) {
    const target = focusedAction ? item.querySelector<HTMLElement>(`[data-action="${focusedAction}"]`) : null;
    if (target) target.focus();
    else if (focusedTurnItself || !focusedAction) item.focus();
    else input.focus(); // the control is gone (e.g. the turn was accepted): back to writing the next turn
  }
}

function buildTurn(turn: TurnView, reuseEditor?: VscodeTextarea): HTMLLIElement {
  const index = (panel?.turns.findIndex((t) => t.id === turn.id) ?? -1) + 1;
  const isNewest = newestActionable()?.id === turn.id;
  const editing = ui.editing?.turnId === turn.id && ACTIONABLE.has(turn.state) ? ui.editing : null;

  const item = el('li', {
    className: `turn state-${turn.state}${editing ? ' editing' : ''}`,
    attrs: { tabindex: '-1', 'aria-label': `Turn ${index}: ${turn.prompt} (${STATE_TEXT[turn.state]})`, 'data-turn-id': turn.id },
  });
  const entry: { item: HTMLLIElement; code?: HTMLElement; editor?: VscodeTextarea } = { item };

  // The prompt, as the comment it becomes, and its perplexity.
  const head = el('div', { className: 'turn-head' }, [
    el('div', { className: 'turn-prompt' }, [
      el('span', { className: 'prompt-hash', text: '#', attrs: { 'aria-hidden': 'true' } }),
      el('span', { className: 'prompt-text', text: turn.prompt }),
    ]),
    turn.perplexity ? perplexityChip(turn.perplexity) : null,
  ]);
  item.append(head);

  if (turn.droppedTurns !== undefined && turn.droppedTurns > 0) {
    const n = turn.droppedTurns;
    item.append(
      el('div', { className: 'turn-note' }, [
        icon('info'),
        el('span', { text: `${n} earlier turn${n === 1 ? '' : 's'} left out to fit the model` }),
      ]),
    );
  }

  // The code: highlighted, or an editor.
  if (editing) {
    const editor =
      reuseEditor ??
      (el('vscode-textarea', {
        className: 'code-editor',
        attrs: { monospace: '', resize: 'vertical', label: `Edit the code of turn ${index}`, 'data-action': 'editor' },
      }) as VscodeTextarea);
    if (!reuseEditor) {
      editor.value = editing.code;
      editor.rows = Math.min(20, Math.max(4, editing.code.split('\n').length + 1));
      editor.addEventListener('input', () => {
        if (ui.editing?.turnId === turn.id) {
          ui.editing.code = editor.value;
          save();
        }
      });
    }
    entry.editor = editor;
    item.append(editor);
  } else if (turn.code !== '' || turn.state === 'generating') {
    const code = el('code', { className: 'language-python' });
    renderPython(code, turn.code);
    const pre = el('pre', {
      className: `code${turn.state === 'generating' ? ' streaming' : ''}`,
      attrs: { 'aria-label': `Code of turn ${index}` },
    }, [code]);
    if (turn.state === 'generating' && turn.code === '') pre.classList.add('empty');
    entry.code = code;
    item.append(pre);
  } else if (turn.state !== 'failed') {
    item.append(el('p', { className: 'no-code', text: 'No code was generated.' }));
  }

  if (turn.state === 'failed') {
    item.append(
      el('div', { className: 'turn-error', attrs: { role: 'alert' } }, [
        icon('error'),
        el('span', { text: turn.error || 'The model failed to generate this turn.' }),
      ]),
    );
  }

  // Status and controls.
  const status = el('div', { className: 'turn-status' });
  if (turn.state === 'generating') {
    status.append(el('vscode-progress-ring', { className: 'ring-small', attrs: { 'aria-hidden': 'true' } }));
    status.append(el('span', { text: 'Generating…' }));
  } else if (turn.state === 'proposed') {
    status.append(el('span', { text: editing ? 'Editing' : 'Ready to accept' }));
  } else if (turn.state === 'accepted') {
    status.append(icon('check'), el('span', { text: 'Inserted' }));
  } else if (turn.state === 'cancelled') {
    status.append(icon('circle-slash'), el('span', { text: 'Stopped' }));
  } else if (turn.state === 'rejected') {
    status.append(icon('close'), el('span', { text: 'Rejected' }));
  } else if (turn.state === 'failed') {
    status.append(el('span', { text: 'Failed' }));
  }
  if (turn.tokensPerSecond !== undefined && Number.isFinite(turn.tokensPerSecond) && turn.state !== 'failed') {
    status.append(el('span', { className: 'meta', text: formatRate(turn.tokensPerSecond) }));
  }

  const actions = el('div', { className: 'turn-actions' });
  const which = `turn ${index}`;
  switch (turn.state) {
    case 'generating':
      actions.append(
        makeButton({
          label: 'Stop',
          icon: 'debug-stop',
          secondary: true,
          action: 'stop',
          title: `Stop generating (${KEY_STOP})`,
          ariaLabel: `Stop generating ${which}`,
          onClick: () => post({ type: 'stop', turnId: turn.id }),
        }),
      );
      break;
    case 'proposed':
    case 'cancelled':
      if (editing) {
        actions.append(
          makeButton({
            label: 'Accept',
            icon: 'check',
            action: 'accept-edit',
            title: `Accept the edited code and insert it${isNewest ? ` (${KEY_ACCEPT})` : ''}`,
            ariaLabel: `Accept the edited code of ${which}`,
            onClick: () => acceptTurn(turn.id),
          }),
          makeButton({
            label: 'Cancel',
            secondary: true,
            action: 'cancel-edit',
            title: 'Discard the edits',
            ariaLabel: `Cancel editing ${which}`,
            onClick: () => stopEditing(turn.id),
          }),
        );
      } else {
        actions.append(
          makeButton({
            label: 'Accept',
            icon: 'check',
            action: 'accept',
            title: `Accept and insert into the editor${isNewest ? ` (${KEY_ACCEPT})` : ''}`,
            ariaLabel: `Accept ${which}`,
            onClick: () => acceptTurn(turn.id),
          }),
          makeButton({
            label: 'Reject',
            icon: 'close',
            secondary: true,
            action: 'reject',
            title: `Reject this code${isNewest ? ` (${KEY_REJECT})` : ''}`,
            ariaLabel: `Reject ${which}`,
            onClick: () => post({ type: 'reject', turnId: turn.id }),
          }),
          makeButton({
            label: 'Regenerate',
            icon: 'refresh',
            secondary: true,
            action: 'regenerate',
            title: 'Generate this turn again',
            ariaLabel: `Regenerate ${which}`,
            onClick: () => post({ type: 'regenerate', turnId: turn.id }),
          }),
          makeButton({
            label: 'Edit',
            icon: 'edit',
            secondary: true,
            action: 'edit',
            title: 'Edit the code before accepting it',
            ariaLabel: `Edit the code of ${which}`,
            onClick: () => startEditing(turn),
          }),
        );
      }
      break;
    case 'rejected':
      actions.append(
        makeButton({
          label: 'Try again',
          icon: 'discard',
          secondary: true,
          action: 'try-again',
          title: 'Put this prompt back in the input to rephrase it',
          ariaLabel: `Try again: put the prompt of ${which} back in the input`,
          onClick: () => tryAgain(turn),
        }),
      );
      break;
    case 'failed':
      actions.append(
        makeButton({
          label: 'Retry',
          icon: 'refresh',
          action: 'retry',
          title: 'Generate this turn again',
          ariaLabel: `Retry ${which}`,
          onClick: () => post({ type: 'retry', turnId: turn.id }),
        }),
      );
      break;
    case 'accepted':
      break;
    default:
      assertNever(turn.state);
  }
  const foot = el('div', { className: 'turn-foot' }, [status, actions]);
  if (status.childElementCount > 0 || actions.childElementCount > 0) item.append(foot);

  turnElements.set(turn.id, entry);
  return item;
}

// ---------------------------------------------------------------------------------------------------------
// Actions

function acceptTurn(turnId: string): void {
  const editing = ui.editing?.turnId === turnId ? ui.editing : null;
  // The edit stays open until the host confirms (the turn becomes accepted), so a failed insert loses nothing.
  post(editing ? { type: 'accept', turnId, code: editing.code } : { type: 'accept', turnId });
}

function startEditing(turn: TurnView): void {
  ui.editing = { turnId: turn.id, code: turn.code };
  save();
  renderTurn(turn);
  const editor = turnElements.get(turn.id)?.editor;
  // The element renders its inner textarea asynchronously (Lit): focus once it exists.
  if (editor) void editor.updateComplete.then(() => editor.focus());
}

function stopEditing(turnId: string): void {
  if (ui.editing?.turnId !== turnId) return;
  ui.editing = null;
  save();
  const turn = panel?.turns.find((t) => t.id === turnId);
  if (turn) {
    renderTurn(turn);
    turnElements.get(turnId)?.item.querySelector<HTMLElement>('[data-action="edit"]')?.focus();
  }
}

function tryAgain(turn: TurnView): void {
  const current = input.value;
  if (current.trim() !== '' && current !== turn.prompt) {
    ui.replacedDraft = current; // offered back below the input: nothing typed is lost
  }
  setDraft(turn.prompt);
  renderReplacedNotice();
  focusInput();
}

function renderReplacedNotice(): void {
  clear(replacedNotice);
  const replaced = ui.replacedDraft;
  replacedNotice.hidden = replaced === null;
  if (replaced === null) return;
  const restore = makeButton({
    label: 'Restore',
    secondary: true,
    title: 'Put back the draft that was replaced (the prompt now in the input is kept in its place)',
    ariaLabel: 'Restore the draft that was replaced',
    onClick: () => {
      const now = input.value;
      ui.replacedDraft = now.trim() !== '' ? now : null;
      setDraft(replaced);
      renderReplacedNotice();
      focusInput();
    },
  });
  const dismiss = el('vscode-toolbar-button', { attrs: { icon: 'close', label: 'Dismiss', title: 'Dismiss' } });
  dismiss.addEventListener('click', () => {
    ui.replacedDraft = null;
    save();
    renderReplacedNotice();
    focusInput();
  });
  replacedNotice.append(
    icon('history'),
    el('span', { className: 'replaced-text', text: `Replaced draft: “${ellipsis(replaced, 60)}”` }),
    restore,
    dismiss,
  );
}

function ellipsis(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}

function submit(): void {
  const prompt = input.value;
  if (prompt.trim() === '') {
    announce('Type what the next step of the program should do first.');
    focusInput();
    return;
  }
  if (generatingTurn()) {
    announce(`A turn is still generating: wait for it or stop it with ${KEY_STOP}.`);
    return;
  }
  post({ type: 'submit', prompt });
  lastPerplexity = null; // the submitted prompt's score now shows on its turn
  lastPerplexityDraft = undefined;
  setDraft('');
  sendDraftNow();
  focusInput();
}

// ---------------------------------------------------------------------------------------------------------
// The draft and its live perplexity

let draftTimer: number | undefined;
/** The draft last sent in draftChanged (answers for anything else are stale). */
let lastPerplexity: PromptPerplexityView | null = null;
let lastPerplexityDraft: string | undefined;

function setDraft(text: string): void {
  input.value = text;
  ui.draft = text;
  save();
  renderDraftPerplexity();
  scheduleDraftChanged();
}

function scheduleDraftChanged(): void {
  window.clearTimeout(draftTimer);
  draftTimer = window.setTimeout(sendDraftNow, 400);
}

function sendDraftNow(): void {
  window.clearTimeout(draftTimer);
  draftTimer = undefined;
  post({ type: 'draftChanged', draft: input.value });
}

input.addEventListener('input', () => {
  ui.draft = input.value;
  save();
  renderDraftPerplexity();
  scheduleDraftChanged();
});

input.addEventListener('keydown', (event: KeyboardEvent) => {
  if (event.key !== 'Enter' || event.isComposing) return;
  if (event.shiftKey || event.altKey || event.ctrlKey || event.metaKey) return; // newline, or a shortcut below
  event.preventDefault();
  event.stopPropagation();
  submit();
});

/** Shows the last answer: current if it is for the text in the input, dimmed while a newer one is coming. */
function renderDraftPerplexity(): void {
  clear(draftPerplexity);
  const view = lastPerplexity;
  const draft = input.value;
  if (!view || draft.trim() === '') {
    draftPerplexity.hidden = true;
    return;
  }
  draftPerplexity.hidden = false;
  draftPerplexity.classList.toggle('stale', lastPerplexityDraft !== draft);
  const tooltip = perplexityTooltip(view);
  const words = surprisingList(view, 3);
  draftPerplexity.title = tooltip;
  draftPerplexity.append(
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
  );
  if (words.length > 0) {
    draftPerplexity.append(
      el('span', { className: 'surprising', attrs: { 'aria-hidden': 'true' } }, [
        el('span', { className: 'meta', text: 'surprising:' }),
        ...words.map((w) => el('span', { className: 'word', text: w })),
      ]),
    );
  }
}

function focusInput(): void {
  void input.updateComplete.then(() => input.focus());
  // Caret at the end, so that a restored prompt can be continued.
  window.requestAnimationFrame(() => {
    const inner = input.wrappedElement as HTMLTextAreaElement | undefined;
    if (inner) inner.setSelectionRange(inner.value.length, inner.value.length);
  });
}

// ---------------------------------------------------------------------------------------------------------
// Keyboard shortcuts (document them in keyboardHelp and the buttons' titles)

function focusedTextValue(): string | undefined {
  const active = document.activeElement;
  if (active instanceof HTMLElement && active.tagName === 'VSCODE-TEXTAREA') return (active as VscodeTextarea).value;
  if (active instanceof HTMLTextAreaElement || active instanceof HTMLInputElement) return active.value;
  return undefined;
}

// In the capture phase, so that a shortcut is handled once, before the focused control sees the key
// (vscode-button clicks itself on any Enter, Ctrl+Enter included).
window.addEventListener(
  'keydown',
  (event: KeyboardEvent) => {
    if (event.isComposing) return;
    const mod = isMac ? event.metaKey && !event.ctrlKey : event.ctrlKey && !event.metaKey;
    if (mod && !event.altKey && !event.shiftKey && event.key === 'Enter') {
      event.preventDefault();
      event.stopPropagation();
      const turn = newestActionable();
      if (turn) acceptTurn(turn.id);
      else announce('No proposed code to accept.');
      return;
    }
    if (mod && !event.altKey && !event.shiftKey && event.key === 'Backspace') {
      const text = focusedTextValue();
      if (text !== undefined && text !== '') return; // deleting a word in a text field
      const turn = newestActionable();
      if (turn) {
        event.preventDefault();
        event.stopPropagation();
        post({ type: 'reject', turnId: turn.id });
      }
      return;
    }
    if (event.key === 'Escape' && !mod && !event.altKey && !event.shiftKey) {
      const turn = generatingTurn();
      if (turn) {
        event.preventDefault();
        post({ type: 'stop', turnId: turn.id });
      }
    }
  },
  { capture: true },
);

// ---------------------------------------------------------------------------------------------------------
// Messages from the host

function isNearBottom(): boolean {
  return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 48;
}

function scrollToBottom(): void {
  scroller.scrollTop = scroller.scrollHeight;
}

function announceTurn(turn: TurnView, previous: TurnState | undefined): void {
  if (previous === turn.state) return;
  switch (turn.state) {
    case 'generating':
      announce('Generating…');
      break;
    case 'proposed':
      announce('Code ready: accept, reject, regenerate or edit');
      break;
    case 'accepted':
      announce('Inserted');
      break;
    case 'rejected':
      announce('Rejected');
      break;
    case 'cancelled':
      announce('Stopped: the code so far can be accepted, rejected, regenerated or edited');
      break;
    case 'failed':
      announce(`Error: ${turn.error || 'the model failed to generate this turn'}`);
      break;
    default:
      assertNever(turn.state);
  }
}

function onInit(state: PanelState): void {
  panel = {
    sessionId: state.sessionId,
    turns: [...state.turns],
    sessions: state.sessions,
    model: state.model,
  };
  if (draftFromHost || input.value === '') {
    draftFromHost = false;
    if (input.value !== state.draft) {
      input.value = state.draft;
      ui.draft = state.draft;
    }
  }
  if (ui.editing && !panel.turns.some((t) => t.id === ui.editing?.turnId && ACTIONABLE.has(t.state))) {
    ui.editing = null;
  }
  save();
  const firstRender = turnElements.size === 0 && turnList.childElementCount === 0;
  renderAll();
  renderReplacedNotice();
  renderDraftPerplexity();
  if (firstRender && ui.scrollTop > 0) scroller.scrollTop = ui.scrollTop;
  else scrollToBottom();
  // Ask for the draft's perplexity (the host may have forgotten it, e.g. after a reload).
  if (input.value !== '') scheduleDraftChanged();
}

function onTurn(turn: TurnView): void {
  if (!panel) return;
  const stick = isNearBottom();
  const index = panel.turns.findIndex((t) => t.id === turn.id);
  const previous = index >= 0 ? panel.turns[index].state : undefined;
  if (index >= 0) panel.turns[index] = turn;
  else panel.turns.push(turn);
  if (ui.editing?.turnId === turn.id && !ACTIONABLE.has(turn.state)) {
    ui.editing = null;
    save();
  }
  renderTurn(turn);
  // Which turn is "newest actionable" may have changed: its neighbours' shortcut hints follow.
  for (const other of panel.turns) {
    if (other.id !== turn.id && ACTIONABLE.has(other.state)) renderTurn(other);
  }
  announceTurn(turn, previous);
  if (stick || index < 0) scrollToBottom();
}

function onTurnDelta(turnId: string, delta: string): void {
  if (!panel || delta === '') return;
  const index = panel.turns.findIndex((t) => t.id === turnId);
  if (index < 0) return;
  const stick = isNearBottom();
  const turn = { ...panel.turns[index], code: panel.turns[index].code + delta };
  panel.turns[index] = turn;
  const entry = turnElements.get(turnId);
  if (entry?.code) {
    renderPython(entry.code, turn.code);
    entry.code.parentElement?.classList.remove('empty');
  } else {
    renderTurn(turn);
  }
  if (stick) scrollToBottom();
}

function onMessage(message: ToWebview): void {
  switch (message.type) {
    case 'init':
      onInit(message.state);
      break;
    case 'turn':
      onTurn(message.turn);
      break;
    case 'turnDelta':
      onTurnDelta(message.turnId, message.delta);
      break;
    case 'draftPerplexity':
      if (message.draft !== input.value) break; // an answer for text that has changed since
      lastPerplexity = message.perplexity;
      lastPerplexityDraft = message.draft;
      renderDraftPerplexity();
      break;
    case 'model': {
      const before = panel?.model.state;
      if (panel) panel.model = message.model;
      else panel = { sessionId: '', turns: [], sessions: [], model: message.model };
      renderModel();
      if (before !== message.model.state) {
        if (message.model.state === 'error') announce(`Model error: ${message.model.message ?? 'the model could not be loaded'}`);
        else if (message.model.state === 'ready' && before === 'loading') announce('Model ready');
      }
      break;
    }
    case 'sessions':
      if (panel) {
        panel.sessions = message.sessions;
        renderSessions();
      }
      break;
    case 'focusInput':
      focusInput();
      break;
    default:
      assertNever(message);
  }
}

function assertNever(value: never): never {
  throw new Error(`Unexpected message or state: ${JSON.stringify(value)}`);
}

window.addEventListener('message', (event: MessageEvent<unknown>) => {
  const data = event.data;
  // Messages come from the extension host; anything not shaped like one of ours is ignored.
  if (typeof data !== 'object' || data === null || typeof (data as { type?: unknown }).type !== 'string') return;
  try {
    onMessage(data as ToWebview);
  } catch (error) {
    console.error('codegen-mt panel: could not handle message', data, error);
  }
});

// Start: what was saved, then the handshake.
input.value = ui.draft;
renderModel();
renderReplacedNotice();
renderDraftPerplexity();
emptyState.hidden = false;
post({ type: 'ready' });
