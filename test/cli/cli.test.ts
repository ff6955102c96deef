// The codegen-mt command as a user runs it (bin/codegen-mt.js over the esbuild bundle in dist/).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';

import { NODE_FLAGS } from '../../src/worker/nodeFlags';
import { BIN, binNodeFlags, cliArgv, ROOT } from '../helpers/cli';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], options: { signalAfterOutput?: NodeJS.Signals } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, cliArgv(args), { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (options.signalAfterOutput && !signalled && stdout.length > 0) {
        signalled = true;
        child.kill(options.signalAfterOutput);
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function tmpFile(name: string, text: string): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-cli-')), name);
  fs.writeFileSync(file, text);
  return file;
}

test('the command runs through its shebang line, with the node flags the engine worker gets too', async () => {
  assert.deepEqual(binNodeFlags(), NODE_FLAGS);
  const r = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    const child = spawn(BIN, ['tokenize', '--text', 'x', '--json'], { cwd: ROOT });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('close', (code) => resolve({ code, stdout }));
  });
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.stdout), { ids: [87] });
});

test('tokenize --json', async () => {
  const r = await cli(['tokenize', '--text', '    return x', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { ids: [50284, 7783, 2124] });
  const f = await cli(['tokenize', '--file', tmpFile('t.py', 'def f():\n\treturn 1\n'), '--json']);
  assert.deepEqual(JSON.parse(f.stdout).ids.slice(0, 2), [4299, 277]);
});

test('generate --json: text, ids, prompt tokens, stop reason, timings; reproducible with --seed', async () => {
  const args = ['generate', '--prompt', 'def add(a, b):\n', '--max-new-tokens', '12', '--temperature', '0.8', '--seed', '7', '--stop', 'none', '--json'];
  const a = await cli(args);
  assert.equal(a.code, 0, a.stderr);
  const out = JSON.parse(a.stdout);
  assert.equal(out.ids.length, 12);
  assert.equal(typeof out.text, 'string');
  assert.equal(out.promptTokens, 8);
  assert.equal(out.stopReason, 'max-new-tokens');
  for (const key of ['prefillMs', 'timeToFirstTokenMs', 'decodeMs', 'totalMs']) assert.equal(typeof out.timings[key], 'number');
  const b = await cli(args);
  assert.deepEqual(JSON.parse(b.stdout).ids, out.ids);
});

test('generate without --json streams the text to stdout', async () => {
  const json = JSON.parse((await cli(['generate', '--prompt', 'x = ', '--max-new-tokens', '8', '--temperature', '0', '--stop', 'none', '--json'])).stdout);
  const r = await cli(['generate', '--prompt', 'x = ', '--max-new-tokens', '8', '--temperature', '0', '--stop', 'none']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, json.text + '\n');
  assert.match(r.stderr, /8 tokens, stop: max-new-tokens/);
});

test('generate --prompt-file and the older layout by --variant', async () => {
  const r = await cli(['generate', '--prompt-file', tmpFile('p.py', 'import numpy as np\n'), '--variant', 'merged', '--max-new-tokens', '5', '--temperature', '0', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(JSON.parse(r.stdout).ids.length <= 5);
});

test('usage says how to write a newline in --prompt; perplexity states its unit', async () => {
  const help = await cli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /"\\n" is a backslash and an n\. For a newline use\nbash's \$'\.\.\.' quoting/);
  assert.match(help.stdout, /surprisal in nats/);
  const r = await cli(['perplexity', '--prompt', 'Sort the list.']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^perplexity \d+\.\d\d\nsurprisal \(nats\)  token\n/);
});

test('output piped into a reader that stops early ends quietly', async () => {
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    // `true` exits at once, long before the model is loaded: the command's first write meets a closed pipe.
    const child = spawn('sh', ['-c', `"${BIN}" perplexity --prompt "Sort the list." | true`], { cwd: ROOT });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
  assert.equal(r.stderr, '');
});

test('perplexity --json with a history file', async () => {
  const history = tmpFile('h.py', '# Import libraries.\n\nimport numpy as np\n\n');
  const r = await cli(['perplexity', '--history-file', history, '--prompt', 'Sort the list.', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.ok(out.perplexity > 1);
  assert.deepEqual(out.tokens.map((t: { text: string }) => t.text).join(''), '# Sort the list.\n');
  const mean = out.tokens.reduce((a: number, t: { surprisal: number }) => a + t.surprisal, 0) / out.tokens.length;
  assert.ok(Math.abs(Math.exp(mean) - out.perplexity) / out.perplexity < 1e-9);
});

test('perplexity --history-file with a history longer than the model: its oldest blocks are left out', async () => {
  let history = '# Import libraries.\n\nimport numpy as np\n\n';
  for (let i = 0; i < 200; i++) history += `# Step ${i}: compute the value.\nvalue_${i} = compute(${i}, "abc")\nprint(value_${i})\n\n`;
  const r = await cli(['perplexity', '--history-file', tmpFile('long.py', history), '--prompt', 'Print it.', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.ok(out.droppedTurns > 0 && out.droppedTurns < 200, `dropped ${out.droppedTurns}`);
  assert.ok(out.promptTokens <= 2048);
  assert.ok(Number.isFinite(out.perplexity));
});

test('session: the multi-turn protocol prints the program and each turn with its perplexity', async () => {
  const turnsFile = path.join(ROOT, 'examples', 'turns.txt');
  const r = await cli(['session', '--turns-file', turnsFile, '--max-new-tokens', '16', '--seed', '1', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  const prompts = fs.readFileSync(turnsFile, 'utf8').trim().split('\n');
  assert.equal(out.turns.length, prompts.length);
  let program = '# Import libraries.\n\nimport numpy as np\n\n';
  for (const [i, t] of out.turns.entries()) {
    assert.equal(t.prompt, prompts[i]);
    assert.ok(t.perplexity > 1);
    program += `# ${t.prompt}\n${t.code}\n\n`;
    if (i > 0) assert.ok(t.reusedTokens > 0, 'later turns reuse the cache');
  }
  assert.equal(out.program, program);
  const human = await cli(['session', '--turns-file', turnsFile, '--max-new-tokens', '4', '--seed', '1']);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /--- turn 1: Assign the string/);
  assert.match(human.stdout, /prompt perplexity \d/);
  assert.match(human.stdout, /=== program\n# Import libraries\./);
});

test('errors: a message on stderr and a non-zero exit code', async () => {
  const missing = await cli(['generate', '--prompt', 'x', '--model', '/nonexistent/dir']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Model folder \/nonexistent\/dir does not exist/);
  assert.equal(missing.stdout, '');

  const flag = await cli(['generate', '--prompt', 'x', '--temprature', '1']);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /Unknown option '--temprature'/);

  const both = await cli(['tokenize']);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /exactly one of --text and --file/);

  const num = await cli(['generate', '--prompt', 'x', '--max-new-tokens', 'lots']);
  assert.equal(num.code, 2);
  assert.match(num.stderr, /--max-new-tokens must be a whole number, got "lots"/);

  // Values out of range are usage errors too (exit 2), found before any model is loaded.
  for (const [args, message] of [
    [['generate', '--prompt', 'x', '--top-p', '2'], /top-p must be in \(0, 1\], got 2/],
    [['generate', '--prompt', 'x', '--max-new-tokens', '0'], /max new tokens must be a whole number >= 1, got 0/],
    [['generate', '--prompt', 'x', '--temperature=-1'], /temperature must be a number >= 0/],
    [['session', '--turns-file', path.join(ROOT, 'examples', 'turns.txt'), '--seed=-3'], /seed must be a whole number in 0\.\.4294967295/],
    [['generate', '--prompt', 'x', '--max-new-tokens', '4096'], /must be below the model's 2048 positions/],
    [['mtpb', '--top-p', '0'], /top-p must be in \(0, 1\], got 0/],
  ] as const) {
    const r = await cli([...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /Run "codegen-mt --help" for usage/);
  }

  // Every error says what to do next.
  assert.match(missing.stderr, /check the path, or download a model first \(codegen-mt download/);
  const file = await cli(['generate', '--prompt', 'x', '--model', path.join(ROOT, 'models', 'codegen-tiny-random', 'onnx', 'model.onnx')]);
  assert.equal(file.code, 1);
  assert.match(file.stderr, /is a file, not a model folder: give the folder above onnx\/, .*codegen-tiny-random, and the variant model \(--variant model\)/);

  const unknown = await cli(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);

  const noFile = await cli(['session', '--turns-file', '/nonexistent.txt']);
  assert.equal(noFile.code, 2);
  assert.match(noFile.stderr, /cannot read turns file \/nonexistent\.txt: ENOENT/);
});

test('Ctrl-C stops a streaming generation and prints what was generated', async () => {
  const r = await cli(['generate', '--prompt', 'x = ', '--max-new-tokens', '1900', '--temperature', '1', '--stop', 'none'], { signalAfterOutput: 'SIGINT' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /stop: cancelled/);
});

test('optimize compiles a published folder into a loadable one; generate on it gives the same greedy text', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-optimized-'));
  const model = path.join(ROOT, 'models', 'codegen-tiny-random');
  const r = await cli(['optimize', '--model', model, '--variant', 'int8', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.variant, 'int8');
  assert.equal(summary.onnxFile, path.join(out, 'onnx', 'int8.onnx'));
  assert.ok(fs.existsSync(path.join(out, 'config.json')));
  // The output folder is a model folder: its variants are the compiled precisions.
  const fromOut = await cli(['generate', '--model', out, '--prompt', 'def f(x):', '--temperature', '0', '--max-new-tokens', '8', '--json']);
  assert.equal(fromOut.code, 0, fromOut.stderr);
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-cache-'));
  const fromSource = await cli(['generate', '--model', model, '--variant', 'int8', '--cache', cache, '--prompt', 'def f(x):', '--temperature', '0', '--max-new-tokens', '8', '--json']);
  assert.equal(fromSource.code, 0, fromSource.stderr);
  assert.match(fromSource.stderr, /Compiling codegen-tiny-random for this machine \(once\)/);
  assert.deepEqual(JSON.parse(fromOut.stdout).ids, JSON.parse(fromSource.stdout).ids);
  const bad = await cli(['optimize', '--model', model, '--variant', 'int3']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--variant must be one of fp32, fp16, int8, int4, got "int3"/);
});

test('optimize --embedding int8: a smaller folder that generates; bad combinations get one line each', async () => {
  const model = path.join(ROOT, 'models', 'codegen-tiny-random');
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-optimized-'));
  const r = await cli(['optimize', '--model', model, '--variant', 'int4', '--embedding', 'int8', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const plain = await cli(['optimize', '--model', model, '--variant', 'int4', '--out', fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-optimized-')), '--json']);
  assert.ok(JSON.parse(r.stdout).bytes < JSON.parse(plain.stdout).bytes, 'the int8 table is smaller than the fp16 one');
  const generated = await cli(['generate', '--model', out, '--prompt', 'def f(x):', '--temperature', '0', '--max-new-tokens', '8', '--json']);
  assert.equal(generated.code, 0, generated.stderr);
  assert.equal(JSON.parse(generated.stdout).ids.length, 8);
  for (const [args, message] of [
    [['--variant', 'int4', '--embedding', 'int4', '--out', out], /--embedding must be one of fp16, int8, got "int4"/],
    [['--variant', 'fp32', '--embedding', 'int8', '--out', out], /--embedding int8 goes with --variant fp16, int8 or int4, not fp32/],
    [['--variant', 'int4', '--embedding', 'int8'], /--embedding int8 needs --out DIR/],
  ] as const) {
    const bad = await cli(['optimize', '--model', model, ...args]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, message);
  }
});

test('generate --speculate: off, lookup and a draft folder give the same greedy text; the JSON says what was guessed', async () => {
  const base = ['generate', '--prompt', 'total = 0\ntotal = total + 1\ntotal = total + 1\n', '--max-new-tokens', '24', '--temperature', '0', '--stop', 'none', '--json'];
  const off = JSON.parse((await cli([...base, '--speculate', 'off'])).stdout);
  const lookup = JSON.parse((await cli([...base, '--speculate', 'lookup'])).stdout);
  const byDefault = JSON.parse((await cli(base)).stdout);
  const draft = JSON.parse((await cli([...base, '--speculate', path.join(ROOT, 'models', 'codegen-tiny-random')])).stdout);
  assert.equal(off.speculation, undefined);
  for (const [what, r] of [['lookup', lookup], ['default', byDefault], ['draft', draft]] as const) {
    assert.deepEqual(r.ids, off.ids, `${what}: the same tokens`);
    assert.equal(r.text, off.text);
  }
  assert.equal(lookup.speculation.proposer, 'lookup');
  assert.equal(byDefault.speculation.proposer, 'lookup', 'lookup by default');
  assert.equal(draft.speculation.proposer, 'lookup+draft');
  assert.ok(draft.speculation.accepted > 0, 'the model as its own draft: its guesses are accepted');
  const bad = await cli([...base, '--speculate', '/nonexistent/draft']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /\/nonexistent\/draft/);
  const server = await cli(['generate', '--prompt', 'x', '--server', 'http://127.0.0.1:9', '--speculate', 'off']);
  assert.equal(server.code, 2);
  assert.match(server.stderr, /--speculate is for a local model/);
});
