// Consent to run model-written programs, in plain Node: asked once per workspace and remembered there (another
// workspace asks again; a reloaded window does not), one dialog for every run waiting on it, an automatic run after
// a "no" stays quiet while Run Program asks again, and nothing runs without a "yes".
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProgramOutcome } from '../../src/session/ports';
import { ConsentedRuns, DECLINED_RUN_ERROR, type ConsentStore, type RunConsent } from '../../src/session/runConsent';

/** One workspace's kept answer (VS Code: its workspaceState). */
class WorkspaceState implements ConsentStore {
  value: RunConsent | undefined;
  get(): RunConsent | undefined {
    return this.value;
  }
  async set(consent: RunConsent): Promise<void> {
    this.value = consent;
  }
}

/** A window on a workspace: the dialog answers what the test queued, and every program it runs is recorded. */
function windowOn(state: ConsentStore) {
  const answers: boolean[] = [];
  let questions = 0;
  const ran: string[] = [];
  let pending: ((agreed: boolean) => void) | undefined;
  const runs = new ConsentedRuns({
    consent: state,
    ask: () =>
      new Promise<boolean>((resolve) => {
        questions++;
        if (answers.length) resolve(answers.shift()!);
        else pending = resolve;
      }),
    runAgreed: async (program): Promise<ProgramOutcome> => {
      ran.push(program);
      return { status: 'ran', output: `ran ${program}\n` };
    },
  });
  const run = (program: string, asked = false, signal = new AbortController().signal) => runs.run(program, { signal, asked });
  return {
    run,
    answer: (agreed: boolean) => (pending ? (pending(agreed), (pending = undefined)) : answers.push(agreed)),
    get asked() {
      return questions;
    },
    ran,
  };
}

test('the first run in a workspace asks; the answer is kept for that workspace only', async () => {
  const first = new WorkspaceState();
  const w = windowOn(first);
  w.answer(true);
  assert.deepEqual(await w.run('a'), { status: 'ran', output: 'ran a\n' });
  assert.equal(first.value, 'yes');
  assert.deepEqual(await w.run('b'), { status: 'ran', output: 'ran b\n' });
  assert.equal(w.asked, 1, 'asked once');

  // The same workspace after a reload: no question.
  const reloaded = windowOn(first);
  await reloaded.run('c');
  assert.equal(reloaded.asked, 0);
  assert.deepEqual(reloaded.ran, ['c']);

  // Another workspace asks for itself.
  const other = windowOn(new WorkspaceState());
  other.answer(false);
  assert.equal(await other.run('d'), undefined);
  assert.equal(other.asked, 1);
  assert.deepEqual(other.ran, []);
});

test('after a "no", automatic runs stay quiet and run nothing; Run Program asks again', async () => {
  const state = new WorkspaceState();
  const w = windowOn(state);
  w.answer(false);
  assert.equal(await w.run('auto'), undefined);
  assert.equal(state.value, 'no');
  assert.equal(await w.run('auto again'), undefined);
  assert.equal(w.asked, 1, 'an automatic run after a "no" does not ask');

  w.answer(false);
  assert.deepEqual(await w.run('asked', true), { status: 'not-run', error: DECLINED_RUN_ERROR });
  assert.equal(w.asked, 2);
  w.answer(true);
  assert.deepEqual(await w.run('asked', true), { status: 'ran', output: 'ran asked\n' });
  assert.equal(state.value, 'yes');
  assert.deepEqual(w.ran, ['asked'], 'only the run after the "yes" ran');
});

test('runs asked for while the dialog is on screen share its one answer', async () => {
  const w = windowOn(new WorkspaceState());
  const waiting = [w.run('1'), w.run('2'), w.run('3', true)];
  await new Promise((r) => setImmediate(r));
  assert.equal(w.asked, 1, 'one dialog');
  w.answer(true);
  const outcomes = await Promise.all(waiting);
  assert.deepEqual(outcomes.map((o) => o?.status), ['ran', 'ran', 'ran']);
  assert.deepEqual(w.ran, ['1', '2', '3']);
});

test('a run cancelled while the dialog waits does not run after the "yes"', async () => {
  const w = windowOn(new WorkspaceState());
  const controller = new AbortController();
  const waiting = w.run('late', false, controller.signal);
  controller.abort();
  w.answer(true);
  assert.equal(await waiting, undefined);
  assert.deepEqual(w.ran, []);
});
