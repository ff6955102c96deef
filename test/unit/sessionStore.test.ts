import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { SessionStore, writeFileAtomic } from '../../src/session/sessionStore';
import { TurnMachine } from '../../src/session/turnMachine';

function tempFolder(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-sessions-'));
}

test('save, list, load and delete sessions', async () => {
  const folder = path.join(tempFolder(), 'nested');
  const store = new SessionStore(folder);
  let t = 0;
  const a = TurnMachine.create('a', () => ++t);
  a.start('t1', 'Load the data.\nmore');
  a.finish('t1', { code: 'data = 1', cancelled: false, perplexity: { perplexity: 3, level: 'low', surprising: [{ text: 'Load', surprisal: 2 }] }, seed: 4 });
  a.accept('t1');
  await store.save(a.toRecord());
  const b = TurnMachine.create('b', () => (t += 10));
  await store.save(b.toRecord());
  const list = await store.list();
  assert.deepEqual(list.map((s) => [s.id, s.title, s.turnCount]), [
    ['b', 'New session', 0],
    ['a', 'Load the data.', 1],
  ]);
  assert.deepEqual(await store.load('a'), a.toRecord());
  assert.equal((await store.loadCurrent())?.id, 'b');
  await store.delete('b');
  assert.deepEqual((await store.list()).map((s) => s.id), ['a']);
  assert.equal((await store.loadCurrent())?.id, 'a');
  assert.equal(await store.load('../escape'), undefined);
  // No temp files are left behind.
  assert.deepEqual(fs.readdirSync(folder).sort(), ['a.json', 'index.json']);
});

test('writes after every change come back in order; a generating turn is restored cancelled', async () => {
  const store = new SessionStore(tempFolder());
  const s = TurnMachine.create('s');
  s.start('t1', 'Step.');
  const saves = [];
  for (const delta of ['a', 'b', 'c']) {
    s.appendDelta('t1', delta);
    saves.push(store.save(s.toRecord()));
  }
  await Promise.all(saves);
  const restored = TurnMachine.restore((await store.loadCurrent())!);
  assert.equal(restored.get('t1')?.state, 'cancelled');
  assert.equal(restored.get('t1')?.code, 'abc');
});

test('atomic write: the file holds the old or the new content, never a mix; the temp file is in the same folder', async () => {
  const folder = tempFolder();
  const file = path.join(folder, 'x.json');
  fs.writeFileSync(file, 'old');
  const renames: string[] = [];
  const original = fs.promises.rename;
  // Watch the rename: it must come from a sibling temp file that already holds the whole new content.
  (fs.promises as { rename: typeof original }).rename = async (from, to) => {
    renames.push(String(from));
    assert.equal(path.dirname(String(from)), folder);
    assert.equal(fs.readFileSync(from, 'utf8'), 'new content');
    assert.equal(fs.readFileSync(to, 'utf8'), 'old');
    return original(from, to);
  };
  try {
    await writeFileAtomic(file, 'new content');
  } finally {
    (fs.promises as { rename: typeof original }).rename = original;
  }
  assert.equal(renames.length, 1);
  assert.equal(fs.readFileSync(file, 'utf8'), 'new content');
  assert.deepEqual(fs.readdirSync(folder), ['x.json']);
});

test('corrupt files are skipped with a warning, never thrown; a corrupt index is rebuilt', async () => {
  const folder = tempFolder();
  const warnings: string[] = [];
  const store = new SessionStore(folder, { log: (w) => warnings.push(w) });
  await store.save(TurnMachine.create('good').toRecord());
  fs.writeFileSync(path.join(folder, 'bad.json'), '{"version": 1, "session": {"id": "bad", "turns": "no"');
  fs.writeFileSync(path.join(folder, 'future.json'), JSON.stringify({ version: 99, session: {} }));
  fs.writeFileSync(path.join(folder, 'index.json'), 'garbage');
  const list = await store.list();
  assert.deepEqual(list.map((s) => s.id), ['good']);
  assert.ok(warnings.some((w) => w.includes('index.json') && w.includes('corrupt')));
  assert.ok(warnings.some((w) => w.includes('bad.json')));
  assert.ok(warnings.some((w) => w.includes('future.json') && w.includes('version')));
  assert.equal(await store.load('bad'), undefined);
  assert.equal((await store.loadCurrent())?.id, 'good');
  // Saving again repairs the index.
  await store.save(TurnMachine.create('next').toRecord());
  assert.deepEqual((await store.list()).map((s) => s.id).sort(), ['good', 'next']);
  assert.equal(await new SessionStore(path.join(folder, 'missing')).loadCurrent(), undefined);
});
