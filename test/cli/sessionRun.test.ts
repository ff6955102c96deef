// `codegen-mt session --run`: after each turn the program so far runs in the sandbox; an exception's line is
// mapped to the turn that wrote it; --json carries each turn's run.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main';
import { describeRun, sessionRunner } from '../../src/cli/sessionRun';
import type { GenerateResult } from '../../src/protocol/engine';
import { MTPB_HEADER } from '../../src/session/paperFormat';
import { NO_PYTHON, PYTHON, tmpDir } from '../eval/helpers';

const turn = (prompt: string, code: string) => ({ prompt, code, result: {} as GenerateResult });

test('the runner: what the program printed; the line of an exception and the turn that wrote it', { skip: NO_PYTHON }, async () => {
  const runner = await sessionRunner(PYTHON!.executable, 10);
  const first = turn('Make a list.', 'xs = [1, 2, 3]\nprint(sum(xs))');
  const second = turn('Divide.', 'print(xs[0] / 0)');
  const ran = await runner.run(MTPB_HEADER, [first]);
  assert.deepEqual(ran, { status: 'ran', output: '6\n' });
  const raised = await runner.run(MTPB_HEADER, [first, second]);
  assert.equal(raised.status, 'raised');
  assert.equal(raised.output, '6\n');
  assert.match(raised.error ?? '', /^ZeroDivisionError/);
  assert.equal(raised.writtenByTurn, 2);
  assert.match(describeRun(raised), /^\[run: raised at line \d+ \(turn 2\): ZeroDivisionError/);
});

test('session --run --json: every turn carries its run', { skip: NO_PYTHON }, async () => {
  const dir = tmpDir('codegen-mt-session-run-');
  const turns = path.join(dir, 'turns.txt');
  fs.writeFileSync(turns, 'Print one.\nPrint two.\n');
  let out = '';
  let err = '';
  const code = await main(['session', '--turns-file', turns, '--run', '--python', PYTHON!.executable, '--max-new-tokens', '8', '--seed', '1', '--json'], {
    out: (t) => (out += t),
    err: (t) => (err += t),
  });
  assert.equal(code, 0, err);
  const result = JSON.parse(out) as { turns: { run?: { status: string } }[] };
  assert.equal(result.turns.length, 2);
  for (const t of result.turns) assert.ok(t.run && ['ran', 'raised', 'timed-out'].includes(t.run.status), JSON.stringify(t.run));
});
