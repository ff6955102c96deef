// Accepting a turn: its code (or the user's edit of it) goes into the editor as one undoable edit, the turn is
// marked accepted, and the prompt's perplexity hint goes on its comment. Checked before the editor is touched:
// an illegal accept inserts nothing.
import type { EditorPort, FlowSettings, HintPort, ModelPort } from './ports';
import type { TurnRecord } from './sessionFormat';
import { canDo, TurnTransitionError, type TurnMachine } from './turnMachine';

export interface AcceptDeps {
  readonly editor: EditorPort;
  readonly hints: HintPort;
  readonly model: ModelPort;
  readonly settings: () => FlowSettings;
}

export async function acceptTurn(deps: AcceptDeps, session: TurnMachine, turnId: string, code?: string): Promise<Readonly<TurnRecord>> {
  const turn = session.get(turnId);
  if (!turn) throw new TurnTransitionError('accept', undefined, `There is no turn ${turnId} in this session.`);
  if (!canDo(turn.state, 'accept')) throw new TurnTransitionError('accept', turn.state, `Cannot accept a turn that is ${turn.state}.`);
  const inserted = await deps.editor.insert(turn.prompt, code ?? turn.code, deps.settings().insertPromptAsComment);
  const accepted = session.accept(turnId, code);
  session.documentUri = inserted.documentUri;
  const unavailable = accepted.perplexity ? undefined : deps.model.perplexityUnavailable;
  if (inserted.promptLine !== undefined && inserted.promptComment && (accepted.perplexity || unavailable)) {
    const hint = { line: inserted.promptLine, comment: inserted.promptComment, score: accepted.perplexity, unavailable };
    deps.hints.showAccepted(inserted.documentUri, hint);
  }
  return accepted;
}
