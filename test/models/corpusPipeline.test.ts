// The training-corpus pipeline of issue 15 (models/data/build_corpus.py) on synthetic files: exact and near
// duplicates dropped, files sharing a 13-gram with MTPB or HumanEval dropped, comment and docstring pairs
// extracted, splits and shards written. `build_corpus.py --self-test` runs its unittest suite offline (no apt, no
// network, a temporary folder) against the repository's own data/; this test fails when that suite does.
// Skipped, saying why, where no Python 3 with numpy is installed (the pipeline's only dependency).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';

const REPO = path.join(__dirname, '..', '..', '..');
const SCRIPT = path.join(REPO, 'models', 'data', 'build_corpus.py');
// Debian's Python first: it has numpy here, while the first python3 on PATH may be a pyenv one without it.
const CANDIDATES = ['/usr/bin/python3', 'python3'];

/** Without the OpenBLAS overrides some environments set for other tools (numpy's OpenBLAS can refuse to load). */
function pythonEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

function findPython(): { python?: string; tried: string[] } {
  const tried: string[] = [];
  for (const python of CANDIDATES) {
    const probe = spawnSync(python, ['-c', 'import numpy, sys; assert sys.version_info >= (3, 8)'], { env: pythonEnv(), encoding: 'utf8', timeout: 60_000 });
    if (probe.status === 0) return { python, tried };
    tried.push(`${python}: ${probe.error ? 'not found' : `no numpy or Python < 3.8 (${(probe.stderr || '').trim().split('\n').pop()})`}`);
  }
  return { tried };
}

test('build_corpus.py --self-test: dedup, decontamination against MTPB and HumanEval, pairs, splits', { timeout: 300_000 }, (t) => {
  const { python, tried } = findPython();
  if (!python) {
    t.skip(`no Python 3 with numpy to run models/data/build_corpus.py (tried ${tried.join('; ')}): Debian/Ubuntu: apt-get install python3-numpy`);
    return;
  }
  const run = spawnSync(python, ['-B', SCRIPT, '--self-test'], { cwd: REPO, env: pythonEnv(), encoding: 'utf8', timeout: 280_000 });
  const output = `${run.stdout}${run.stderr}`;
  assert.equal(run.error, undefined, `${python} ${SCRIPT} --self-test did not run: ${run.error?.message}`);
  assert.equal(run.status, 0, `the corpus self-test failed:\n${output}`);
  const summary = /self-test: (\d+) tests, 0 failures, 0 errors/.exec(output);
  assert.ok(summary, `no passing summary line in the self-test's output:\n${output}`);
  assert.ok(Number(summary[1]) >= 20, `only ${summary[1]} self-tests ran:\n${output}`);
  for (const name of ['test_near_duplicate_dropped_distinct_kept', 'test_mtpb_turns_as_comments_are_caught', 'test_humaneval_solution_reformatted_is_caught', 'test_docstring_pair', 'test_comment_pair_stops_at_the_blank_line_and_filters_noise', 'test_end_to_end']) {
    assert.match(output, new RegExp(`${name} .*\\.\\.\\. ok`), `${name} did not pass:\n${output}`);
  }
});
