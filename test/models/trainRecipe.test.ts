// The training recipe of the embedded model (issue 15, models/train_codegen.py) end to end on CPU, in its smoke
// size: a small corpus of the standard library (build_corpus.py, offline), the pack, two training stages, the
// transfer files, the export through the project's compiler, the greedy check against PyTorch, the card. Also: the
// training forward equals the reference forward, and a run stopped and resumed ends with the weights of an
// uninterrupted one.
//
// Needs PyTorch (Debian: apt-get install python3-torch python3-onnx libopenblas0-openmp), which CI does not install:
// there the test is skipped, saying so. It takes 3 to 5 minutes on 2 cores.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';

const REPO = path.join(__dirname, '..', '..', '..');
const RECIPE = path.join(REPO, 'models', 'train_codegen.py');
const PYTHON = '/usr/bin/python3';

function pythonEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  // OpenBLAS overrides set for other tools make PyTorch's BLAS many times slower here.
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

function run(args: string[], timeoutMs: number): string {
  const r = spawnSync(PYTHON, ['-B', ...args], { cwd: REPO, env: pythonEnv(), encoding: 'utf8', timeout: timeoutMs });
  const output = `${r.stdout}${r.stderr}`;
  assert.equal(r.error, undefined, `${args.join(' ')} did not run: ${r.error?.message}\n${output}`);
  assert.equal(r.status, 0, `${args.join(' ')} failed:\n${output}`);
  return output;
}

function torchMissing(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import torch, onnx, numpy'], { env: pythonEnv(), encoding: 'utf8', timeout: 120_000 });
  if (probe.status === 0) return undefined;
  return `${PYTHON} has no PyTorch (${probe.error ? 'not found' : (probe.stderr || '').trim().split('\n').pop()}): apt-get install python3-torch python3-onnx libopenblas0-openmp`;
}

function sha256(file: string): string {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function readJson(file: string): any {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

test('models/train_codegen.py: corpus -> pack -> two-stage training -> compiled graphs checked against PyTorch -> model card', { timeout: 900_000 }, (t) => {
  const missing = torchMissing();
  if (missing) {
    t.skip(missing);
    return;
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-recipe-'));
  try {
    run([RECIPE, 'self-check'], 120_000);

    const corpus = path.join(work, 'corpus');
    const tokenizer = path.join(REPO, 'out', 'src', 'engine', 'tokenizer.js');
    run([path.join(REPO, 'models', 'data', 'build_corpus.py'), '--packages', '0', '--limit', '300', '--tokenize', '--tokenizer', tokenizer, '--out', corpus], 300_000);

    const out = path.join(work, 'smoke');
    const log = run([RECIPE, 'smoke', '--corpus', corpus, '--out', out, '--steps', '60'], 600_000);

    // The pack: four streams, the held-out prompts with the engine's ids.
    const meta = readJson(path.join(out, 'pack', 'meta.json'));
    for (const name of ['broad', 'turns', 'validation', 'turns-validation']) assert.ok(meta.streams[name].tokens > 1000, `the ${name} stream is empty`);
    const heldout = readJson(path.join(out, 'pack', 'heldout.json'));
    assert.equal(heldout.length, 20);
    assert.ok(heldout.every((p: { text: string; ids: number[] }) => p.text.startsWith('# ') && p.ids.length > 2));

    // Training: it learned (the last logged loss well under the first), both stages ran, held-out loss measured.
    const train = readJson(path.join(out, 'export', 'train_log.json'));
    assert.equal(train.steps, 60);
    const curve = train.curve as { loss: number; stage: string }[];
    assert.ok(curve[curve.length - 1].loss < curve[0].loss - 2, `the loss went from ${curve[0].loss} to ${curve[curve.length - 1].loss}`);
    assert.deepEqual([...new Set(curve.map((c) => c.stage))], ['broad', 'turns']);
    assert.ok(Number.isFinite(train.final.validation) && train.final.validation < curve[0].loss);
    assert.ok(Math.abs(train.final.validation_rounded - train.final.validation) < 0.01, 'the int8 transfer rounding changed the held-out loss');

    // Export: fp32 identical to PyTorch on every prompt; the quantized graphs within tolerance; the shipped folder.
    const verify = readJson(path.join(out, 'export', 'verify.json'));
    assert.equal(verify.passed, true, log);
    assert.equal(verify.precisions.fp32.identical, 20, 'the fp32 graph does not write what PyTorch writes');
    assert.ok(verify.precisions.int4.bytes < verify.precisions.int8.bytes && verify.precisions.int8.bytes < verify.precisions.fp32.bytes);
    assert.equal(verify.precisions.int4.embedding, 'int8', 'the quantized graphs keep their embedding in int8');
    const shipped = path.join(out, 'export', 'model');
    assert.ok(fs.existsSync(path.join(shipped, 'onnx', 'int4.onnx')));
    const generated = spawnSync(path.join(REPO, 'bin', 'codegen-mt.js'), ['generate', '--model', shipped, '--prompt', '# Add two numbers.\n', '--max-new-tokens', '4', '--json'], { cwd: REPO, encoding: 'utf8', timeout: 120_000 });
    assert.equal(generated.status, 0, generated.stderr);
    assert.equal(JSON.parse(generated.stdout).ids.length > 0, true);

    // The card: every field filled, the loss curve drawn, the examples all shown.
    const card = fs.readFileSync(path.join(shipped, 'MODEL_CARD.md'), 'utf8');
    assert.doesNotMatch(card, /\{\{/);
    assert.match(card, /SMOKE run/);
    assert.match(card, /\| fp32 \| [\d.]+ \| 20 \/ 20 \|/);
    assert.equal((card.match(/^Greedy continuation/gm) ?? []).length, 8);
    const svg = fs.readFileSync(path.join(shipped, 'loss.svg'), 'utf8');
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /<polyline [^>]*points="(\d+\.\d,\d+\.\d ){5,}/);

    // Resume: stopped after 6 of 12 steps and resumed, the weights equal an uninterrupted run's.
    const pack = path.join(out, 'pack');
    const common = [RECIPE, 'train', '--pack', pack, '--preset', 'smoke', '--steps', '12', '--log-every', '4'];
    run([...common, '--out', path.join(work, 'whole')], 300_000);
    run([...common, '--out', path.join(work, 'resumed'), '--stop-after', '6'], 300_000);
    assert.match(run([...common, '--out', path.join(work, 'resumed'), '--resume'], 300_000), /resumed at step 6 of 12/);
    const weights = (dir: string) => fs.readdirSync(path.join(work, dir, 'transfer')).filter((f) => f.endsWith('.bin')).sort().map((f) => sha256(path.join(work, dir, 'transfer', f)));
    assert.deepEqual(weights('resumed'), weights('whole'));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
