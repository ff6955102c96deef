// The program so far, run after each accepted turn and on demand, in plain Node with a scripted program port:
// the turn shows running, then the outcome with an exception's line mapped to the turn that wrote it; a new run
// cancels an older one; a run the user has not agreed to shows nothing; the setting turns the runs off.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { ProgramRunView, ToWebview } from '../../src/protocol/webview';
import { turnAtLine } from '../../src/session/programRuns';
import type { TurnRecord } from '../../src/session/sessionFormat';
import { makeHarness, ScriptedProgram, TestModel, until, type Harness } from '../helpers/flowHarness';

const model = new TestModel();
after(() => model.client.dispose());

/** The runs the panel was sent for a turn, in order. */
const runsOf = (h: Harness, turnId: string): (ProgramRunView | undefined)[] =>
  h.posted.filter((m): m is Extract<ToWebview, { type: 'turn' }> => m.type === 'turn' && m.turn.id === turnId).map((m) => m.turn.run);

async function acceptedTurn(h: Harness, prompt: string): Promise<string> {
  const id = await h.flow.submit(prompt);
  assert.ok(id);
  await h.waitFor(id, ['proposed']);
  await h.flow.handle({ type: 'accept', turnId: id, code: `x_${h.flow.turns().length} = 1\n` });
  return id;
}

test('after an accept the program so far runs: the turn shows running, then the exception and the turn that wrote its line', async () => {
  const program = new ScriptedProgram();
  const h = makeHarness({ model, program });
  try {
    const first = await acceptedTurn(h, 'Set x.');
    await until(() => program.calls.length === 1, 'the run after the first accept');
    assert.equal(program.calls[0].asked, false, 'an automatic run');
    assert.equal(program.calls[0].program, h.editor.programText());
    program.calls[0].answer({ status: 'ran', output: '' });
    await until(() => runsOf(h, first).at(-1)?.status === 'ran', 'the first run shown');
    const second = await acceptedTurn(h, 'Set y.');
    await until(() => program.calls.length === 2, 'the run after the second accept');
    assert.equal(runsOf(h, second).at(-1)?.status, 'running');
    const lines = h.editor.programText().split('\n');
    const firstLine = lines.indexOf('# Set x.') + 2; // 1-based: the line under the first prompt
    program.calls[1].answer({ status: 'raised', output: 'partial\n', error: 'NameError: name z is not defined', line: firstLine });
    await until(() => runsOf(h, second).at(-1)?.status === 'raised', 'the raised run shown');
    assert.deepEqual(runsOf(h, second).at(-1), { status: 'raised', output: 'partial\n', error: 'NameError: name z is not defined', line: firstLine, writtenByTurn: 1 });
    const init = await h.flow.panelState();
    assert.equal(init.turns.find((t) => t.id === second)?.run?.status, 'raised', 'a fresh panel gets the runs too');
  } finally {
    await h.dispose();
  }
});

test('a new run cancels the older one; Run Program asks (consent may be asked then); a run not agreed to shows nothing', async () => {
  const program = new ScriptedProgram();
  const h = makeHarness({ model, program });
  try {
    const id = await acceptedTurn(h, 'Set x.');
    await until(() => program.calls.length === 1, 'the automatic run');
    void h.flow.handle({ type: 'runProgram' });
    await until(() => program.calls.length === 2, 'Run Program');
    assert.equal(program.calls[0].signal.aborted, true, 'the older run was cancelled');
    assert.equal(program.calls[1].asked, true);
    program.calls[0].answer({ status: 'ran', output: 'stale' }); // too late: never shown
    program.calls[1].answer(undefined); // e.g. the user declined
    await until(() => runsOf(h, id).at(-1) === undefined && runsOf(h, id).length > 2, 'the run to be dropped');
    assert.ok(!runsOf(h, id).some((r) => r?.output === 'stale'), 'the cancelled run never showed');
  } finally {
    await h.dispose();
  }
});

test('with runAfterAccept off nothing runs by itself; Run Program with nothing accepted says so; a run that cannot start says why', async () => {
  const program = new ScriptedProgram();
  const h = makeHarness({ model, program });
  try {
    await h.flow.handle({ type: 'runProgram' });
    assert.match(h.notice.warnings.at(-1) ?? '', /Nothing to run yet/);
    h.settings.runAfterAccept = false;
    const id = await acceptedTurn(h, 'Set x.');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(program.calls.length, 0, 'no automatic run');
    void h.flow.runProgram();
    await until(() => program.calls.length === 1, 'Run Program');
    program.calls[0].answer({ status: 'not-run', error: 'No Python with numpy and pandas was found: set codegenMt.python.' });
    await until(() => runsOf(h, id).at(-1)?.status === 'not-run', 'the not-run line');
    assert.equal(runsOf(h, id).at(-1)?.error, 'No Python with numpy and pandas was found: set codegenMt.python.');
  } finally {
    await h.dispose();
  }
});

test('turnAtLine: the accepted turn whose prompt comment is the last at or above the line; none above the first', () => {
  const turns = [
    { id: 'a', prompt: 'Read it.', code: 'a = 1', state: 'accepted' },
    { id: 'b', prompt: 'Drop it.', code: '', state: 'rejected' },
    { id: 'c', prompt: 'Print it.', code: 'print(a)', state: 'accepted' },
  ] as unknown as TurnRecord[];
  const lines = ['import os', '', '# Read it.', 'a = 1', '', '# Print it.', 'print(a)', ''];
  assert.equal(turnAtLine(lines, turns, 0), undefined, "the user's own code above the session");
  assert.equal(turnAtLine(lines, turns, 3), 1);
  assert.equal(turnAtLine(lines, turns, 6), 3, 'numbered as the panel numbers turns (the rejected one counts)');
});
