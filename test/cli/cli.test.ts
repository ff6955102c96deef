// The codegen-mt command as a user runs it (bin/codegen-mt.js over the esbuild bundle in dist/).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';

const ROOT = path.join(__dirname, '..', '..', '..');
const BIN = path.join(ROOT, 'bin', 'codegen-mt.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], options: { signalAfterOutput?: NodeJS.Signals } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT });
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

  const range = await cli(['generate', '--prompt', 'x', '--top-p', '1.5']);
  assert.equal(range.code, 1);
  assert.match(range.stderr, /top-p must be in \(0, 1\]/);

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
