// A turn's candidates (codegenMt.candidatesPerTurn above 1): one button per candidate, best first, each with its
// rank and how its run went (ran, raised, timed out, printed nothing, running); the shown one is pressed, and a
// click shows another (Accept takes the one shown). A line says what the shown one did. All text through text
// nodes (dom.ts).
import type { CandidateView, CandidatesView, FromWebview, TurnView } from '../src/protocol/webview';
import { el, icon } from './dom';

/** A candidate's flag: what its run says, in a word or two, and its icon. */
export function candidateFlag(c: CandidateView): { readonly icon: string; readonly text: string } {
  switch (c.run) {
    case undefined:
      return { icon: 'circle-outline', text: 'not run' };
    case 'running':
      return { icon: 'loading', text: 'running' };
    case 'ran':
      return c.printedNothing ? { icon: 'pass', text: 'ran, printed nothing' } : { icon: 'pass', text: 'ran' };
    case 'raised':
      return { icon: 'error', text: 'raised' };
    case 'timed-out':
      return { icon: 'watch', text: 'timed out' };
    case 'not-run':
      return { icon: 'info', text: 'not run' };
  }
}

/** "ranked 2 of 3, raised: ZeroDivisionError (line 4)" */
export function describeCandidate(c: CandidateView, of: number): string {
  const flag = candidateFlag(c);
  return `ranked ${c.rank} of ${of}, ${flag.text}${c.error ? `: ${c.error}` : ''}`;
}

export function candidatesElement(turn: TurnView, candidates: CandidatesView, turnNumber: number, post: (m: FromWebview) => void, canSwitch: boolean): HTMLElement {
  const of = candidates.list.length;
  const byRank = candidates.list.map((c, index) => ({ c, index })).sort((a, b) => a.c.rank - b.c.rank);
  const buttons = byRank.map(({ c, index }) => candidateButton(turn, c, index, index === candidates.shown, of, post, canSwitch));
  const shown = candidates.list[candidates.shown];
  const detail = shown ? `Showing the candidate ${describeCandidate(shown, of)}` : '';
  return el('section', { className: 'turn-candidates', attrs: { 'aria-label': `Candidates of turn ${turnNumber}` } }, [
    el('div', { className: 'candidate-buttons', attrs: { role: 'group', 'aria-label': `Candidates of turn ${turnNumber}, best first` } }, buttons),
    el('p', { className: 'candidate-detail', text: detail }),
    candidates.ranking ? el('p', { className: 'candidate-ranking', text: 'Running the candidates to rank them (the ranks may change)…' }) : null,
  ]);
}

function candidateButton(
  turn: TurnView,
  c: CandidateView,
  index: number,
  pressed: boolean,
  of: number,
  post: (m: FromWebview) => void,
  canSwitch: boolean,
): HTMLElement {
  const flag = candidateFlag(c);
  const button = el(
    'button',
    {
      className: `candidate candidate-${c.run ?? 'unrun'}${pressed ? ' shown' : ''}`,
      attrs: {
        type: 'button',
        'aria-pressed': pressed ? 'true' : 'false',
        'aria-label': `Candidate ${describeCandidate(c, of)}`,
        title: `Show the candidate ${describeCandidate(c, of)}${c.meanLogprob !== undefined ? ` (mean log-probability ${c.meanLogprob.toFixed(2)})` : ''}`,
        'data-action': `candidate-${index}`,
        'data-candidate': String(index),
        disabled: canSwitch ? undefined : '',
      },
    },
    [c.run === 'running' ? el('vscode-icon', { attrs: { name: 'loading', spin: '', 'aria-hidden': 'true' } }) : icon(flag.icon), el('span', { text: `#${c.rank} ${flag.text}` })],
  );
  button.addEventListener('click', (event) => {
    event.stopPropagation();
    if (!pressed) post({ type: 'showCandidate', turnId: turn.id, candidate: index });
  });
  return button;
}

/** What to tell a screen reader when the candidates change: the ranking ended, or another one is shown. */
export function candidatesAnnouncement(before: CandidatesView | undefined, now: CandidatesView | undefined): string | undefined {
  if (!now) return undefined;
  const shown = now.list[now.shown];
  if (!shown) return undefined;
  const of = now.list.length;
  if (before?.ranking && !now.ranking) return `Candidates ranked: showing the candidate ${describeCandidate(shown, of)}`;
  if (before && before.shown !== now.shown) return `Showing the candidate ${describeCandidate(shown, of)}`;
  return undefined;
}

/** The control under the input: how many candidates each turn samples (the setting codegenMt.candidatesPerTurn). */
export class CandidatesPerTurnControl {
  readonly element: HTMLElement;
  private readonly select = el('vscode-single-select', {
    className: 'candidates-select',
    // It sits at the foot of the panel: the list opens upwards.
    attrs: { label: 'Candidates per turn', title: 'Candidates per turn: more than one are run and ranked, the best shown', position: 'above' },
  });
  /** Set while the value is being set: the select's change events then are ours, not the user's. */
  private rendering = false;

  constructor(max: number, post: (m: FromWebview) => void) {
    const options = [];
    for (let n = 1; n <= max; n++) options.push(el('vscode-option', { text: String(n), attrs: { value: String(n) } }));
    this.select.replaceChildren(...options);
    this.select.addEventListener('change', () => {
      const count = Number(this.select.value);
      if (!this.rendering && Number.isInteger(count)) post({ type: 'setCandidatesPerTurn', count });
    });
    this.element = el('div', { className: 'candidates-control' }, [
      el('span', { className: 'candidates-label', text: 'Candidates', attrs: { 'aria-hidden': 'true' } }),
      this.select,
    ]);
  }

  render(count: number): void {
    this.rendering = true;
    this.select.value = String(count);
    // The select reads its options on slotchange; let that settle before listening to changes again.
    window.setTimeout(() => {
      this.select.value = String(count);
      this.rendering = false;
    }, 0);
  }
}
