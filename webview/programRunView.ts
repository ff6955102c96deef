// The run of the program so far under a turn: running, then what it printed, and an exception with its line and
// the turn that wrote that line, or why it could not run. All text through text nodes (dom.ts).
import { programRunPlace, type ProgramRunView } from '../src/protocol/webview';
import { assertNever } from './assert';
import { el, icon } from './dom';

/** What the run's heading says, and its icon. */
function heading(run: ProgramRunView): { readonly icon: string; readonly text: string } {
  switch (run.status) {
    case 'running':
      return { icon: 'loading', text: 'Running the program…' };
    case 'ran':
      return { icon: 'pass', text: run.output === '' ? 'The program ran (it printed nothing)' : 'The program ran' };
    case 'raised':
      return { icon: 'error', text: `The program raised${programRunPlace(run)}` };
    case 'timed-out':
      return { icon: 'watch', text: 'The program timed out' };
    case 'not-run':
      return { icon: 'info', text: 'The program did not run' };
    default:
      return assertNever(run.status);
  }
}

export function programRunElement(run: ProgramRunView): HTMLElement {
  const { icon: iconName, text } = heading(run);
  const head = el('div', { className: 'run-head' }, [
    run.status === 'running'
      ? el('vscode-icon', { attrs: { name: 'loading', spin: '', 'aria-hidden': 'true' } })
      : icon(iconName),
    el('span', { className: 'run-title', text }),
  ]);
  return el('section', { className: `turn-run run-${run.status}`, attrs: { 'aria-label': text } }, [
    head,
    run.error ? el('p', { className: 'run-error', text: run.error }) : null,
    run.output !== '' ? el('pre', { className: 'run-output', attrs: { 'aria-label': 'What the program printed' }, text: run.output }) : null,
  ]);
}

/** What to tell a screen reader when a run ends (undefined while it runs, or when nothing changed). */
export function runAnnouncement(before: ProgramRunView | undefined, now: ProgramRunView | undefined): string | undefined {
  if (!now || now.status === 'running' || before?.status === now.status && before.error === now.error) return undefined;
  const { text } = heading(now);
  return now.error ? `${text}: ${now.error}` : text;
}
