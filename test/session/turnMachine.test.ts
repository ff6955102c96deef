import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canDo, TurnMachine, TurnTransitionError } from '../../src/session/turnMachine';
import type { TurnState } from '../../src/protocol/webview';
import { parseSessionFile, sessionFileData } from '../../src/session/sessionFormat';

let clock = 1000;
const now = (): number => ++clock;

test('a turn: generating, streamed deltas, proposed, accepted with edited code', () => {
  const s = TurnMachine.create('s1', now);
  s.start('t1', 'Print hello.');
  s.appendDelta('t1', 'print(');
  s.appendDelta('t1', '"hi")');
  assert.equal(s.get('t1')?.code, 'print("hi")');
  assert.equal(s.generating?.id, 't1');
  const perplexity = { perplexity: 5, surprising: [{ text: 'hello', surprisal: 3 }] };
  s.finish('t1', { code: 'print("hi")', cancelled: false, perplexity, seed: 7, tokensPerSecond: 30 });
  assert.equal(s.get('t1')?.state, 'proposed');
  s.accept('t1', 'print("hello")');
  assert.deepEqual(s.acceptedTurns().map((t) => t.code), ['print("hello")']);
  // The view's level comes from the thresholds it is shown with (the record keeps only the score).
  assert.deepEqual(s.toView({ low: 8, high: 20 }), [{ id: 't1', prompt: 'Print hello.', code: 'print("hello")', state: 'accepted', perplexity: { ...perplexity, level: 'low' }, tokensPerSecond: 30 }]);
  assert.equal(s.toView({ low: 2, high: 4 })[0].perplexity?.level, 'high');
  assert.equal(s.title, 'Print hello.');
});

test('one generation at a time', () => {
  const s = TurnMachine.create('s2', now);
  s.start('t1', 'a');
  assert.throws(() => s.start('t2', 'b'), TurnTransitionError);
  s.cancel('t1');
  s.start('t2', 'b');
  assert.throws(() => s.regenerate('t1'), /already being generated/);
  s.cancel('t2');
  assert.throws(() => s.start('t3', '   '), /empty/);
});

test('reject, regenerate, fail and retry follow the transition table; illegal actions say why', () => {
  const s = TurnMachine.create('s3', now);
  s.start('t1', 'a');
  assert.throws(() => s.accept('t1'), /Cannot accept a turn that is generating/);
  s.finish('t1', { code: 'x', cancelled: false });
  s.reject('t1');
  assert.throws(() => s.accept('t1'), /Cannot accept a turn that is rejected/);
  s.regenerate('t1');
  assert.equal(s.get('t1')?.code, '');
  s.fail('t1', 'The engine process stopped.');
  assert.equal(s.view('t1', { low: 8, high: 20 })?.error, 'The engine process stopped.');
  s.regenerate('t1'); // Retry
  s.finish('t1', { code: 'partial', cancelled: true });
  assert.equal(s.get('t1')?.state, 'cancelled');
  s.accept('t1');
  assert.throws(() => s.reject('t1'), TurnTransitionError);
  assert.throws(() => s.regenerate('nope'), /no turn nope/);
  const table: [TurnState, string[]][] = [
    ['generating', ['finish', 'cancel', 'fail']],
    ['proposed', ['accept', 'reject', 'regenerate']],
    ['cancelled', ['accept', 'reject', 'regenerate']],
    ['rejected', ['regenerate']],
    ['failed', ['reject', 'regenerate']],
    ['accepted', []],
  ];
  for (const [state, allowed] of table) {
    for (const action of ['finish', 'cancel', 'fail', 'accept', 'reject', 'regenerate'] as const) {
      assert.equal(canDo(state, action), allowed.includes(action), `${action} from ${state}`);
    }
  }
});

test('restore: a turn that was generating comes back cancelled with its partial code', () => {
  const s = TurnMachine.create('s4', now);
  s.start('t1', 'a');
  s.appendDelta('t1', 'x = ');
  const record = s.toRecord();
  const restored = TurnMachine.restore(record, now);
  assert.equal(restored.get('t1')?.state, 'cancelled');
  assert.equal(restored.get('t1')?.code, 'x = ');
  assert.equal(record.turns[0].state, 'generating', 'the record given is not changed');
  assert.equal(restored.newest('proposed', 'cancelled')?.id, 't1');
});

test('candidates: the shown one is the code; runs kept; accept and regenerate drop them; the file format reads them back and refuses bad ones', () => {
  const s = TurnMachine.create('s9', now);
  s.start('t1', 'Pick.');
  const candidates = [{ code: 'a = 1', seed: 5, meanLogprob: -0.5 }, { code: 'b = 2', seed: 6, meanLogprob: -0.2 }];
  s.finish('t1', { code: 'b = 2', seed: 6, cancelled: false, candidates, shownCandidate: 1 });
  assert.equal(s.get('t1')?.shownCandidate, 1);
  s.showCandidate('t1', 0);
  assert.deepEqual([s.get('t1')?.code, s.get('t1')?.seed], ['a = 1', 5]);
  assert.throws(() => s.showCandidate('t1', 2), /has no candidate 3/);
  assert.equal(s.candidateRan('t1', 0, { status: 'raised', output: '', error: 'E', line: 1 }), true);
  assert.equal(s.candidateRan('t1', 7, { status: 'ran', output: '' }), false);

  const file = JSON.parse(JSON.stringify(sessionFileData(s.toRecord())));
  assert.deepEqual(parseSessionFile(file), s.toRecord(), 'read back as written');
  const bad = (change: (turn: Record<string, unknown>) => void): unknown => {
    const copy = structuredClone(file);
    change(copy.session.turns[0]);
    return copy;
  };
  assert.throws(() => parseSessionFile(bad((t) => (t.shownCandidate = 2))), /shownCandidate 2 is not a candidate/);
  assert.throws(() => parseSessionFile(bad((t) => delete t.shownCandidate)), /shownCandidate is not a number/);
  assert.throws(() => parseSessionFile(bad((t) => ((t.candidates as { run?: object }[])[0].run = { status: 'exploded', output: '' }))), /unknown run status/);

  s.regenerate('t1');
  assert.equal(s.get('t1')?.candidates, undefined);
  s.finish('t1', { code: 'a = 1', cancelled: false, candidates, shownCandidate: 0 });
  s.accept('t1');
  assert.deepEqual([s.get('t1')?.code, s.get('t1')?.candidates, s.get('t1')?.shownCandidate], ['a = 1', undefined, undefined]);
  assert.throws(() => s.showCandidate('t1', 0), /Cannot show another candidate of a turn that is accepted/);
});
