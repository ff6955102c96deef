// The session's turns as a list, with the empty state shown before the first turn. It keeps each turn's element so
// that a change re-renders one turn (keeping the focus on the same control) and streamed code re-renders only the
// code.
import type { TurnView } from '../src/protocol/webview';
import { clear, el } from './dom';
import { renderPython } from './highlight';
import { isActionable, type PanelStore } from './store';
import { buildTurn, type TurnActions, type TurnElement } from './turnView';

export class TurnList {
  readonly list = el('ol', { className: 'turns', attrs: { 'aria-label': 'Turns' } });
  readonly emptyState = emptyState();
  private readonly elements = new Map<string, TurnElement>();

  constructor(
    private readonly store: PanelStore,
    private readonly actions: TurnActions,
    /** Where the focus goes when the focused control of a turn is gone (e.g. the turn was accepted). */
    private readonly focusFallback: () => void,
  ) {}

  /** Whether nothing has been rendered yet (the first init). */
  get isEmpty(): boolean {
    return this.elements.size === 0 && this.list.childElementCount === 0;
  }

  renderAll(): void {
    this.elements.clear();
    clear(this.list);
    for (const turn of this.store.turns) this.list.append(this.build(turn).item);
    this.emptyState.hidden = this.store.turns.length > 0;
  }

  /** Replaces a turn's element (or appends a new one), keeping the focus on the same control if it still exists. */
  render(turn: TurnView): void {
    const old = this.elements.get(turn.id);
    const active = document.activeElement;
    const hadFocus = old !== undefined && active !== null && old.item.contains(active);
    const focusedAction = hadFocus ? active?.closest<HTMLElement>('[data-action]')?.dataset.action : undefined;
    const focusedTurnItself = hadFocus && active === old?.item;
    const { item } = this.build(turn, old?.editor);
    if (old) old.item.replaceWith(item);
    else this.list.append(item);
    this.emptyState.hidden = true;
    if (!hadFocus) return;
    const target = focusedAction ? item.querySelector<HTMLElement>(`[data-action="${focusedAction}"]`) : null;
    if (target) target.focus();
    else if (focusedTurnItself || !focusedAction) item.focus();
    else this.focusFallback();
  }

  /** After a turn changed: it, and the other actionable turns (which one is newest, and so their hints, may change). */
  renderChanged(turn: TurnView): void {
    this.render(turn);
    for (const other of this.store.turns) {
      if (other.id !== turn.id && isActionable(other.state)) this.render(other);
    }
  }

  /** Streamed code: re-renders only the code if the turn shows it, the whole turn otherwise. */
  renderCode(turn: TurnView): void {
    const code = this.elements.get(turn.id)?.code;
    if (!code) {
      this.render(turn);
      return;
    }
    renderPython(code, turn.code);
    code.parentElement?.classList.remove('empty');
  }

  /** Focuses the turn's code editor once it has rendered its inner textarea (Lit renders asynchronously). */
  focusEditor(turnId: string): void {
    const editor = this.elements.get(turnId)?.editor;
    if (editor) void editor.updateComplete.then(() => editor.focus());
  }

  /** Focuses one of the turn's controls by its action (e.g. "edit"). */
  focusAction(turnId: string, action: string): void {
    this.elements.get(turnId)?.item.querySelector<HTMLElement>(`[data-action="${action}"]`)?.focus();
  }

  private build(turn: TurnView, reuseEditor?: TurnElement['editor']): TurnElement {
    const place = {
      number: this.store.turnNumber(turn.id),
      isNewest: this.store.newestActionable()?.id === turn.id,
      editing: this.store.editingOf(turn),
    };
    const built = buildTurn(turn, place, this.actions, place.editing ? reuseEditor : undefined);
    this.elements.set(turn.id, built);
    return built;
  }
}

function emptyState(): HTMLElement {
  return el('div', { className: 'empty-state' }, [
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
}
