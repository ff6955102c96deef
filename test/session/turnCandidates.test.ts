// A turn sampled as several candidates, in plain Node: the bundled model in an engine process, a scripted program
// port. The first candidate streams, the others follow with consecutive seeds (the panel sees which is sampled),
// each runs after the program so far as it would stand with it accepted, and the ranking (ran first, then mean
// log-probability) shows the best unless the user picked one; accept takes the candidate the panel showed; a
// stop keeps what was sampled; runs not agreed to leave them ranked by probability; they survive a restart.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { CandidatesView, ToWebview, TurnView } from '../../src/protocol/webview';
import { makeHarness, ScriptedProgram, TestModel, until, type Harness } from '../helpers/flowHarness';

const model = new TestModel();
after(() => model.client.dispose());

const viewsOf = (h: Harness, turnId: string): TurnView[] =>
  h.posted.filter((m): m is Extract<ToWebview, { type: 'turn' }> => m.type === 'turn' && m.turn.id === turnId).map((m) => m.turn);
const candidatesOf = (h: Harness, turnId: string): CandidatesView | undefined => viewsOf(h, turnId).at(-1)?.candidates;

type RunAnswer = 'ran' | 'raised' | 'timed-out' | undefined;

/** Answers the program port's calls in order, with the given statuses, as they come. */
function answerRuns(program: ScriptedProgram, statuses: readonly RunAnswer[]): () => void {
  let answered = 0;
  const timer = setInterval(() => {
    while (answered < program.calls.length && answered < statuses.length) {
      const status = statuses[answered];
      const call = program.calls[answered++];
      if (status === undefined) call.answer(undefined);
      else if (status === 'ran') call.answer({ status, output: answered === 2 ? 'printed\n' : '' });
      else call.answer({ status, output: '', error: status === 'raised' ? 'ZeroDivisionError: division by zero' : 'Stopped after 10 s.', line: 3 });
    }
  }, 2);
  return () => clearInterval(timer);
}

/**
 * A harness with a scripted program port whose turns sample `candidatesPerTurn` candidates; with `statuses`, the
 * program's runs are answered with them as they come until `stop()` (without, `stop()` does nothing).
 */
function candidatesHarness(candidatesPerTurn: number, statuses?: readonly RunAnswer[]): { program: ScriptedProgram; h: Harness; stop: () => void } {
  const program = new ScriptedProgram();
  const h = makeHarness({ model, program });
  const stop = statuses ? answerRuns(program, statuses) : () => {};
  h.settings.candidatesPerTurn = candidatesPerTurn;
  return { program, h, stop };
}

test('three candidates: sampled with consecutive seeds, each run as the program with it accepted, the one that ran shown', async () => {
  const { program, h, stop } = candidatesHarness(3, ['raised', 'ran', 'timed-out']);
  try {
    h.editor.text = 'import math\n';
    const id = (await h.flow.submit('Divide.'))!;
    await h.waitFor(id, ['proposed']);
    const sampling = viewsOf(h, id).map((v) => v.sampling).filter((s) => s !== undefined);
    assert.deepEqual([...new Set(sampling.map((s) => `${s!.candidate}/${s!.of}`))], ['2/3', '3/3'], 'the panel saw candidates 2 and 3 sampled');

    await until(() => candidatesOf(h, id)?.ranking === false && program.calls.length === 3, 'the ranking');
    const record = h.flow.turns().find((t) => t.id === id)!;
    const candidates = record.candidates!;
    assert.equal(candidates.length, 3);
    assert.deepEqual(candidates.map((c) => c.seed), [candidates[0].seed!, (candidates[0].seed! + 1) >>> 0, (candidates[0].seed! + 2) >>> 0]);
    for (const c of candidates) assert.ok(typeof c.meanLogprob === 'number' && c.meanLogprob <= 0, 'each has its mean log-probability');
    program.calls.forEach((call, i) => {
      assert.equal(call.program, h.editor.programText({ prompt: 'Divide.', code: candidates[i].code, promptAsComment: true }));
      assert.equal(call.asked, false, 'runs the user did not ask for one by one');
    });
    assert.deepEqual(candidates.map((c) => c.run?.status), ['raised', 'ran', 'timed-out']);

    const shown = candidatesOf(h, id)!;
    assert.equal(shown.shown, 1, 'the one that ran is shown');
    assert.equal(record.shownCandidate, 1);
    assert.equal(record.code, candidates[1].code);
    assert.equal(record.seed, candidates[1].seed);
    assert.equal(shown.list[1].rank, 1);
    assert.deepEqual(shown.list.map((c) => c.run), ['raised', 'ran', 'timed-out']);
    assert.equal(shown.list[0].error, 'ZeroDivisionError: division by zero (line 3)');
    assert.equal(shown.list[1].printedNothing, undefined, 'it printed something');
    assert.deepEqual(shown.list.map((c) => c.rank).sort(), [1, 2, 3]);
    const panel = await h.flow.panelState();
    assert.equal(panel.candidatesPerTurn, 3);
    assert.deepEqual(panel.turns.find((t) => t.id === id)?.candidates, shown, 'a fresh panel gets them too');
  } finally {
    stop();
    await h.dispose();
  }
});

test('a candidate the user picks stays shown after the ranking; accept takes the one the panel showed; the candidates go', async () => {
  const { program, h } = candidatesHarness(2);
  try {
    const id = (await h.flow.submit('Pick one.'))!;
    await h.waitFor(id, ['proposed']);
    await until(() => program.calls.length === 1, 'the first run');
    const before = h.flow.turns().find((t) => t.id === id)!;
    const other = 1 - before.shownCandidate!;
    await h.flow.handle({ type: 'showCandidate', turnId: id, candidate: other });
    assert.equal(h.flow.turns().find((t) => t.id === id)!.code, before.candidates![other].code);
    program.calls[0].answer({ status: 'raised', output: '', error: 'E' });
    await until(() => program.calls.length === 2, 'the second run');
    program.calls[1].answer({ status: 'raised', output: '', error: 'E' });
    await until(() => candidatesOf(h, id)?.ranking === false, 'the ranking');
    assert.equal(candidatesOf(h, id)!.shown, other, 'the ranking left the pick alone');

    // The panel showed candidate 0 when the user clicked Accept: that one goes in, whatever is shown now.
    await h.flow.handle({ type: 'accept', turnId: id, candidate: 0 });
    const accepted = h.flow.turns().find((t) => t.id === id)!;
    assert.equal(accepted.state, 'accepted');
    assert.equal(accepted.code, before.candidates![0].code);
    assert.ok(h.editor.text.includes(`# Pick one.\n${before.candidates![0].code.replace(/\s+$/, '')}`), 'candidate 0 is in the editor');
    assert.equal(accepted.candidates, undefined, 'an accepted turn keeps no candidates');
    assert.equal(candidatesOf(h, id), undefined);
    await h.flow.handle({ type: 'showCandidate', turnId: id, candidate: 1 });
    assert.equal(h.notice.warnings.at(-1), 'Cannot show another candidate of a turn that is accepted.');
  } finally {
    await h.dispose();
  }
});

test('runs not agreed to: no flags, ranked by mean log-probability; Stop while sampling keeps the candidates sampled', async () => {
  const { program, h, stop } = candidatesHarness(3, [undefined]);
  try {
    const id = (await h.flow.submit('Rank by probability.'))!;
    await h.waitFor(id, ['proposed']);
    await until(() => candidatesOf(h, id)?.ranking === false, 'the end of the ranking');
    assert.equal(program.calls.length, 1, 'after one run not agreed to, the others are not tried');
    const record = h.flow.turns().find((t) => t.id === id)!;
    const logprobs = record.candidates!.map((c) => c.meanLogprob!);
    assert.equal(record.shownCandidate, logprobs.indexOf(Math.max(...logprobs)), 'the most probable is shown');
    assert.ok(candidatesOf(h, id)!.list.every((c) => c.run === undefined), 'no run flags');

    // Stop while candidate 2 of 3 is sampled: the turn keeps candidates 1 (and 2, if it ended first).
    h.settings.maxNewTokens = 400;
    h.settings.temperature = 1;
    const stopped = (await h.flow.submit('Stop me.'))!;
    await until(() => viewsOf(h, stopped).some((v) => v.sampling?.candidate === 2), 'candidate 2 sampling');
    h.flow.stop(stopped);
    const turn = await h.waitFor(stopped, ['proposed', 'cancelled']);
    assert.equal(turn.state, 'proposed', 'the first candidate was complete');
    assert.ok(turn.code.length > 0);
    assert.ok(turn.candidates === undefined || turn.candidates.length < 3, 'not all three');
  } finally {
    stop();
    await h.dispose();
  }
});

test('candidates and their runs are saved with the session and come back after a restart', async () => {
  const { program, h, stop } = candidatesHarness(2, ['raised', 'ran']);
  let restarted: Harness | undefined;
  try {
    const id = (await h.flow.submit('Keep them.'))!;
    await h.waitFor(id, ['proposed']);
    await until(() => candidatesOf(h, id)?.ranking === false && program.calls.length === 2, 'the ranking');
    await h.flow.saved();
    const saved = h.flow.turns().find((t) => t.id === id)!;
    restarted = makeHarness({ model, storeFolder: h.store.folder });
    await restarted.flow.restore();
    const back = restarted.flow.turns().find((t) => t.id === id)!;
    assert.deepEqual(back.candidates, saved.candidates);
    assert.equal(back.shownCandidate, 1);
    const view = (await restarted.flow.panelState()).turns.find((t) => t.id === id)!;
    assert.deepEqual(view.candidates?.list.map((c) => c.run), ['raised', 'ran']);
    assert.equal(view.candidates?.ranking, false);
    // Regenerate drops them (and samples new ones as the setting says: one here).
    await restarted.flow.handle({ type: 'regenerate', turnId: id });
    const again = await restarted.waitFor(id, ['proposed']);
    assert.equal(again.candidates, undefined);
  } finally {
    stop();
    await restarted?.dispose();
    await h.dispose();
  }
});
