// `codegen-mt session --candidates N`: the candidate loop with a scripted engine and runner (a later candidate that
// runs beats an earlier, more probable one that raises), and the command on the bundled model in the sandbox.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main';
import { candidatesJson, describeCandidates, runCandidateSession } from '../../src/cli/sessionCandidates';
import type { CompletedTurn } from '../../src/session/multiTurn';
import type { Engine, GenerateRequest, GenerateResult } from '../../src/protocol/engine';
import type { ProgramRunView } from '../../src/protocol/webview';
import { NO_PYTHON, PYTHON, tmpDir } from '../eval/helpers';

/** Answers each request by its seed from a script: [code, meanLogprob]. */
function scriptedEngine(script: Record<number, [string, number | undefined]>): Engine & { requests: GenerateRequest[] } {
  const requests: GenerateRequest[] = [];
  const generate = async (request: GenerateRequest): Promise<GenerateResult> => {
    requests.push(request);
    const [text, meanLogprob] = script[request.seed!] ?? ['pass', -1];
    return {
      text,
      rawText: text,
      ids: [1],
      stopReason: 'max-new-tokens',
      ...(meanLogprob !== undefined ? { meanLogprob } : {}),
      seed: request.seed!,
      prompt: { perplexity: 2, tokens: [] },
      promptTokens: 10,
      droppedTurns: 0,
      reusedTokens: 9,
      timings: { tokenizeMs: 0, prefillMs: 0, prefillTokens: 1, timeToFirstTokenMs: 0, decodeMs: 0, decodeTokens: 0, totalMs: 0 },
    };
  };
  const unused = async (): Promise<never> => {
    throw new Error('not used');
  };
  return { requests, generate, load: unused, tokenize: unused, perplexity: unused, dispose: async () => undefined };
}

/** A program raises when any of its turns' code says `raise`. */
function scriptedRunner(): { run: (header: string, turns: readonly CompletedTurn[]) => Promise<ProgramRunView>; calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    run: async (_header, turns) => {
      calls.push(turns.map((t) => t.code));
      return turns.some((t) => t.code.includes('raise')) ? { status: 'raised', output: '', error: 'ValueError' } : { status: 'ran', output: 'ok\n' };
    },
  };
}

test('the candidate loop: a later candidate that runs beats earlier, more probable ones that raise', async () => {
  // Turn 1 (seeds 100..102): the first two raise (the first is the most probable), the third runs.
  // Turn 2 (seeds 103..105): all run; the most probable (the second) wins.
  const engine = scriptedEngine({
    100: ['raise ValueError()', -0.1],
    101: ['x = 1 / 0  # raise', -0.2],
    102: ['x = 1', -2],
    103: ['print(x)', -1.5],
    104: ['print(x + 1)', -0.3],
    105: ['print(x + 2)', undefined],
  });
  const runner = scriptedRunner();
  const ended: number[] = [];
  const result = await runCandidateSession(engine, ['Set x.', 'Print x.'], {
    header: '# h\n\n',
    candidates: 3,
    runner,
    seed: 100,
    temperature: 0.8,
    onTurnEnd: (i) => ended.push(i),
  });
  assert.deepEqual(ended, [0, 1]);
  assert.deepEqual(
    engine.requests.map((r) => r.seed),
    [100, 101, 102, 103, 104, 105],
  );
  assert.ok(engine.requests.every((r) => r.temperature === 0.8));
  const [first, second] = result.candidateTurns;
  assert.equal(first.chosen, 2);
  assert.deepEqual(
    first.candidates.map((c) => [c.rank, c.outcome.status, c.seed]),
    [
      [2, 'raised', 100],
      [3, 'raised', 101],
      [1, 'ran', 102],
    ],
  );
  assert.equal(second.chosen, 1);
  assert.deepEqual(
    second.candidates.map((c) => c.rank),
    [2, 1, 3],
  );
  // Each candidate ran after the program so far: the kept turns, then itself.
  assert.deepEqual(runner.calls, [['raise ValueError()'], ['x = 1 / 0  # raise'], ['x = 1'], ['x = 1', 'print(x)'], ['x = 1', 'print(x + 1)'], ['x = 1', 'print(x + 2)']]);
  // The kept code is the turn's: the next turn's context holds it, and the program is made of it.
  assert.deepEqual(engine.requests[3].context.turns, ['# Set x.\nx = 1\n\n']);
  assert.deepEqual(
    result.turns.map((t) => t.code),
    ['x = 1', 'print(x + 1)'],
  );
  assert.equal(result.program, '# h\n\n# Set x.\nx = 1\n\n# Print x.\nprint(x + 1)\n\n');
  const json = candidatesJson(first);
  assert.equal(json.chosen, 2);
  assert.deepEqual(json.candidates[2], { code: 'x = 1', meanLogprob: -2, seed: 102, run: { status: 'ran', output: 'ok\n' }, rank: 1 });
  const lines = describeCandidates(first).split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0], /^\[rank 1: candidate 3\/3, ran, mean logprob -2\.000, seed 102, kept\]$/);
  assert.match(lines[1], /^\[rank 2: candidate 1\/3, raised, mean logprob -0\.100, seed 100\]$/);
  assert.match(describeCandidates(second).split('\n')[2], /no tokens/);
});

test('session --candidates: a number of 1 or more', async () => {
  for (const bad of ['0', '-2', '1.5', 'x']) {
    let err = '';
    const code = await main(['session', '--turns-file', __filename, '--candidates', bad], { out: () => undefined, err: (t) => (err += t) });
    assert.equal(code, 2, bad);
    assert.match(err, /--candidates/);
  }
});

test('session --candidates 3 --json: every turn has 3 ranked candidates and keeps rank 1', { skip: NO_PYTHON }, async () => {
  const dir = tmpDir('codegen-mt-session-candidates-');
  const turns = path.join(dir, 'turns.txt');
  fs.writeFileSync(turns, 'Print one.\nPrint two.\n');
  let out = '';
  let err = '';
  const args = ['session', '--turns-file', turns, '--candidates', '3', '--python', PYTHON!.executable, '--max-new-tokens', '8', '--seed', '1', '--temperature', '1', '--json'];
  const code = await main(args, { out: (t) => (out += t), err: (t) => (err += t) });
  assert.equal(code, 0, err);
  type J = { code: string; meanLogprob?: number; seed: number; run: { status: string }; rank: number };
  const result = JSON.parse(out) as { program: string; turns: { code: string; run: { status: string }; candidates: J[]; chosen: number }[] };
  assert.equal(result.turns.length, 2);
  result.turns.forEach((t, i) => {
    assert.equal(t.candidates.length, 3);
    assert.deepEqual(
      t.candidates.map((c) => c.seed),
      [1 + 3 * i, 2 + 3 * i, 3 + 3 * i],
    );
    assert.deepEqual(
      t.candidates.map((c) => c.rank).sort(),
      [1, 2, 3],
    );
    const chosen = t.candidates[t.chosen];
    assert.equal(chosen.rank, 1);
    assert.equal(t.code, chosen.code);
    assert.deepEqual(t.run, chosen.run);
    // The rule: by rank, a run without error never follows one that did not; within a group, the score never rises.
    const byRank = [...t.candidates].sort((a, b) => a.rank - b.rank);
    for (let k = 1; k < byRank.length; k++) {
      const [p, q] = [byRank[k - 1], byRank[k]];
      const ranP = p.run.status === 'ran';
      const ranQ = q.run.status === 'ran';
      assert.ok(ranP || !ranQ, JSON.stringify(byRank));
      if (ranP === ranQ) assert.ok((p.meanLogprob ?? -Infinity) >= (q.meanLogprob ?? -Infinity), JSON.stringify(byRank));
    }
    for (const c of t.candidates) assert.ok(['ran', 'raised', 'timed-out'].includes(c.run.status), JSON.stringify(c.run));
  });
  assert.ok(result.program.includes(result.turns[1].code));
});
