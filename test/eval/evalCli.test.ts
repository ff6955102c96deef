// `codegen-mt mtpb`, `mtpb score` and `humaneval` end to end on the bundled random model (which writes gibberish:
// its pass rate is ~0): result files' shape, resume after an interruption (nothing lost, nothing recomputed),
// scoring a hand-made samples file, HumanEval pass@k.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { passAtK, truncateHumanEval } from '../../src/eval/humanEval';
import { probePython } from '../../src/eval/python';
import { cliArgv } from '../helpers/cli';
import { FIXTURES, NO_PYTHON, PYTHON, ROOT, tmpDir } from './helpers';


function cli(args: string[], interruptAfter?: RegExp, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, cliArgv(args), { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (interruptAfter && !sent && interruptAfter.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const lines = (file: string): Record<string, unknown>[] =>
  fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

test('mtpb: interrupted, resumed, then nothing recomputed; result files have the documented shape', { skip: NO_PYTHON }, async () => {
  const out = tmpDir('codegen-mt-mtpb-');
  const args = ['mtpb', '--problems', '37', '--mode', 'both', '--samples', '1', '--out', out, '--python', PYTHON!.executable, '--json'];
  const samplesFile = path.join(out, 'samples.jsonl');

  // Ctrl-C after the first finished sample: a consistent file, exit code 130.
  const first = await cli(args, /mtpb [1-9]\d*\/10/);
  assert.equal(first.code, 130, first.stderr);
  const partial = lines(samplesFile);
  assert.ok(partial.length >= 1 && partial.length < 10, `${partial.length} samples after the interruption`);

  // A crash in the middle of a write leaves half a line: it is dropped, and that sample made again.
  const text = fs.readFileSync(samplesFile, 'utf8');
  fs.writeFileSync(samplesFile, text + text.slice(0, 40));

  const second = await cli(args);
  assert.equal(second.code, 0, second.stderr);
  const result = JSON.parse(second.stdout);
  assert.equal(result.complete, true);
  assert.equal(result.skipped, partial.length);
  assert.equal(result.computed, 10 - partial.length);
  const records = lines(samplesFile);
  assert.equal(records.length, 10);
  assert.equal(new Set(records.map((r) => r.key)).size, 10, 'a sample was computed twice');
  assert.deepEqual(records.slice(0, partial.length), partial, 'earlier samples changed');

  const r = records.find((x) => x.key === 'multi/37/0/0')!;
  for (const field of ['id', 'input', 'gold_output', 'completions', 'passed', 'printed', 'error', 'prompt_perplexity', 'turns', 'seed', 'timings', 'mode']) {
    assert.ok(field in r, `sample lacks ${field}`);
  }
  assert.deepEqual(r.input, { l: [-1, -2, 0, 1, 5] });
  assert.equal(r.gold_output, -3);
  assert.equal((r.turns as unknown[]).length, 4);
  assert.ok((r.completions as string).startsWith('# Import libraries.\n\nimport numpy as np\n\n# Given a list of integers [-1, -2, 0, 1, 5], assign'));
  const single = records.find((x) => x.key === 'single/37/0/0')!;
  assert.equal((single.turns as unknown[]).length, 1);
  assert.ok((single.completions as string).includes('# Given a list of integers [-1, -2, 0, 1, 5], assign the list to a varialbe named lst1.\n# Find the negative'));

  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
  assert.deepEqual(summary.modes.map((m: { mode: string; runs: number }) => [m.mode, m.runs]), [['multi', 5], ['single', 5]]);
  assert.ok(summary.modes.every((m: { meanPromptPerplexity: number }) => m.meanPromptPerplexity > 1));
  assert.equal(summary.problems[0].id, '37');
  assert.ok('math' in summary.modes[0].byCategory);
  assert.match(fs.readFileSync(path.join(out, 'summary.md'), 'utf8'), /\| multi \| 5 \|/);
  assert.match(fs.readFileSync(path.join(out, 'summary.svg'), 'utf8'), /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*<\/svg>\n$/);

  // Run again: nothing recomputed, the file untouched.
  const before = fs.readFileSync(samplesFile, 'utf8');
  const third = await cli(args);
  assert.equal(third.code, 0, third.stderr);
  assert.equal(JSON.parse(third.stdout).computed, 0);
  assert.equal(fs.readFileSync(samplesFile, 'utf8'), before);

  // Other sampling settings must not mix into this run.
  const other = await cli([...args, '--temperature', '0.8']);
  assert.equal(other.code, 1);
  assert.match(other.stderr, /other settings/);
});

test('mtpb score: a hand-made samples file in the paper\'s format', { skip: NO_PYTHON }, async () => {
  const out = tmpDir('codegen-mt-score-');
  const r = await cli(['mtpb', 'score', '--samples', path.join(FIXTURES, 'samples.jsonl'), '--timeout', '1', '--out', out, '--python', PYTHON!.executable, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  assert.deepEqual(result.results.map((x: { passed: boolean }) => x.passed), [true, false, true, false, true, true, false]);
  assert.equal(result.results[6].error, 'Timed out');
  assert.equal(result.summary.modes[0].runs, 7);
  assert.equal(result.summary.modes[0].passed, 4);
  assert.ok(fs.existsSync(path.join(out, 'scored.jsonl')));
});

test('mtpb: a missing module of --python is named', async () => {
  const fake = path.join(tmpDir('codegen-mt-py-'), 'python3');
  fs.writeFileSync(fake, `#!/bin/sh\necho '{"python": "3.11.0", "executable": "/fake/python3", "missing": ["pandas"]}'\n`, { mode: 0o755 });
  const r = await cli(['mtpb', '--problems', '1', '--python', fake, '--out', tmpDir('codegen-mt-x-')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /has no pandas/);
  const none = await cli(['mtpb', '--problems', '1', '--python', '/nonexistent/python3']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /Python "\/nonexistent\/python3" cannot be used \(not found\)/);
});

test('mtpb without --python: a python3 first on PATH that lacks pandas is passed over for one that has it', { skip: NO_PYTHON }, async (t) => {
  const system = probePython('/usr/bin/python3');
  if (!system.ok) {
    t.skip(`/usr/bin/python3 cannot be used here: ${system.problem}`);
    return;
  }
  const bin = tmpDir('codegen-mt-path-');
  fs.writeFileSync(path.join(bin, 'python3'), `#!/bin/sh\necho '{"python": "3.11.7", "executable": "${bin}/python3", "missing": ["pandas"]}'\n`, { mode: 0o755 });
  const out = tmpDir('codegen-mt-mtpb-');
  const r = await cli(['mtpb', '--problems', '1,2', '--mode', 'multi', '--out', out, '--json'], undefined, { ...process.env, PATH: `${bin}:${process.env.PATH}` });
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as { settings: { python?: string; data?: string } };
  assert.equal(summary.settings.python, `${system.info.executable} (${system.info.version})`, 'the programs ran on /usr/bin/python3');
  assert.equal(summary.settings.data, path.join(ROOT, 'data', 'mtpb.jsonl'), 'the data shipped in the repository');
  assert.equal(lines(path.join(out, 'samples.jsonl')).length, 10, 'problems 1 and 2, 5 test inputs each');
});

test('humaneval: canonical solutions pass (the harness is right); the random model\'s samples are scored', { skip: NO_PYTHON }, async () => {
  const canonical = await cli(['humaneval', '--canonical', '--problems', '0,1,2', '--k', '1', '--out', tmpDir('codegen-mt-he-'), '--python', PYTHON!.executable, '--json']);
  assert.equal(canonical.code, 0, canonical.stderr);
  assert.deepEqual(JSON.parse(canonical.stdout).summary.passAtK, { 'pass@1': 1 });

  const out = tmpDir('codegen-mt-he-');
  const args = ['humaneval', '--problems', '0', '--samples', '2', '--k', '1,2,10', '--max-new-tokens', '24', '--out', out, '--python', PYTHON!.executable, '--json'];
  const model = await cli(args);
  assert.equal(model.code, 0, model.stderr);
  const summary = JSON.parse(model.stdout).summary;
  assert.deepEqual(Object.keys(summary.passAtK), ['pass@1', 'pass@2']);
  assert.deepEqual(summary.perProblem, [{ task_id: 'HumanEval/0', n: 2, c: summary.perProblem[0].c }]);
  const again = await cli(args);
  assert.equal(JSON.parse(again.stdout).computed, 0);
});

test('pass@k: the unbiased estimator', () => {
  assert.equal(passAtK(10, 0, 1), 0);
  assert.equal(passAtK(10, 10, 5), 1);
  assert.ok(Math.abs(passAtK(10, 3, 1) - 0.3) < 1e-12);
  // 1 - C(7,2)/C(10,2) = 1 - 21/45
  assert.ok(Math.abs(passAtK(10, 3, 2) - (1 - 21 / 45)) < 1e-12);
  assert.equal(passAtK(5, 1, 5), 1);
  assert.throws(() => passAtK(2, 1, 3), RangeError);
});

test('HumanEval completions stop at the usual stop sequences', () => {
  assert.equal(truncateHumanEval('    return x\n\ndef g():\n    pass'), '    return x\n');
  assert.equal(truncateHumanEval('    return x\nif __name__ == "__main__":\n'), '    return x');
  assert.equal(truncateHumanEval('    if a:\n        return 1\n    # done\n    return 2'), '    if a:\n        return 1\n    # done\n    return 2');
  assert.equal(truncateHumanEval('    return 1\n#\nprint(1)'), '    return 1');
});
