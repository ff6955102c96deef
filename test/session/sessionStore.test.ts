import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { INDEX_FORMAT_VERSION, SESSION_FORMAT_VERSION, parseSessionFile, summarize, type SessionRecord } from '../../src/session/sessionFormat';
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
  a.finish('t1', { code: 'data = 1', cancelled: false, perplexity: { perplexity: 3, surprising: [{ text: 'Load', surprisal: 2 }] }, seed: 4 });
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

/** A record whose title and updatedAt tell which save wrote it. */
function numberedRecord(id: string, n: number): SessionRecord {
  return { id, createdAt: 1, updatedAt: n, draft: '', turns: [{ id: 't1', prompt: `Save ${n}`, code: '', state: 'accepted', createdAt: 1 }] };
}

function writeSessionFile(folder: string, record: SessionRecord): void {
  fs.writeFileSync(path.join(folder, `${record.id}.json`), JSON.stringify({ version: SESSION_FORMAT_VERSION, session: record }));
}

function writeIndexFile(folder: string, currentId: string | undefined, records: SessionRecord[]): void {
  const index = { version: INDEX_FORMAT_VERSION, currentId, sessions: records.map(summarize) };
  fs.writeFileSync(path.join(folder, 'index.json'), JSON.stringify(index));
}

/** Above any pid_max (Linux allows at most 2^22), so never a running process. */
const NO_SUCH_PID = 2 ** 31 - 1;
const tempName = (file: string, pid: number): string => `.${file}.${pid}.${randomUUID()}.tmp`;

test('at open, what a crash left is repaired: stale temp files removed, the index caught up with the session files', async () => {
  const folder = tempFolder();
  // The index is one save behind for "a", lists "gone" whose file was deleted, and misses "b" altogether.
  writeSessionFile(folder, numberedRecord('a', 5));
  writeSessionFile(folder, numberedRecord('b', 7));
  writeIndexFile(folder, 'a', [numberedRecord('a', 3), numberedRecord('gone', 4)]);
  const stale = [
    tempName('a.json', NO_SUCH_PID), // its process is gone
    tempName('index.json', process.pid), // this process, but no save of it is running
    `.b.json.${randomUUID()}.tmp`, // the naming before the pid was in it
  ];
  const liveOther = tempName('b.json', process.ppid); // a save of another running process (the one that started us)
  const oldOther = tempName('a.json', process.ppid); // hours old: no save takes that long, whoever's pid it bears
  const notOurs = ['notes.tmp', tempName('notes.txt', NO_SUCH_PID), `.a.json.${NO_SUCH_PID}.not-a-uuid.tmp`];
  for (const name of [...stale, liveOther, oldOther, ...notOurs]) fs.writeFileSync(path.join(folder, name), 'partial');
  const hoursAgo = new Date(Date.now() - 3 * 60 * 60 * 1000);
  fs.utimesSync(path.join(folder, oldOther), hoursAgo, hoursAgo);

  const warnings: string[] = [];
  const store = new SessionStore(folder, { log: (w) => warnings.push(w) });
  assert.deepEqual(
    (await store.list()).map((s) => [s.id, s.title, s.updatedAt]),
    [
      ['b', 'Save 7', 7],
      ['a', 'Save 5', 5],
    ],
  );
  assert.deepEqual(fs.readdirSync(folder).sort(), ['a.json', 'b.json', 'index.json', liveOther, ...notOurs].sort());
  assert.equal((await store.loadCurrent())?.id, 'a');
  assert.ok(warnings.some((w) => w.includes('repaired')), warnings.join('\n'));
  // The index on disk was rewritten, so the next start finds nothing to repair.
  const again: string[] = [];
  await new SessionStore(folder, { log: (w) => again.push(w) }).list();
  assert.deepEqual(again, []);
});

test('at open, the temp file of a save still running in this process is left alone', async () => {
  const folder = tempFolder();
  const writer = new SessionStore(folder);
  await writer.save(numberedRecord('a', 1));
  const original = fs.promises.rename;
  let inRename!: () => void;
  const renaming = new Promise<void>((resolve) => (inRename = resolve));
  let finishRename!: () => void;
  const renameMayFinish = new Promise<void>((resolve) => (finishRename = resolve));
  // Hold the next save inside its rename: its temp file is complete and on disk, but not yet renamed.
  (fs.promises as { rename: typeof original }).rename = async (from, to) => {
    (fs.promises as { rename: typeof original }).rename = original;
    inRename();
    await renameMayFinish;
    return original(from, to);
  };
  try {
    const saving = writer.save(numberedRecord('a', 2));
    await renaming;
    const temp = fs.readdirSync(folder).filter((name) => name.endsWith('.tmp'));
    assert.equal(temp.length, 1);
    await new SessionStore(folder).list(); // a second store opens the same folder meanwhile
    assert.deepEqual(fs.readdirSync(folder).filter((name) => name.endsWith('.tmp')), temp);
    finishRename();
    await saving;
  } finally {
    (fs.promises as { rename: typeof original }).rename = original;
    finishRename();
  }
  assert.equal((await new SessionStore(folder).load('a'))?.updatedAt, 2);
  assert.deepEqual(fs.readdirSync(folder).sort(), ['a.json', 'index.json']);
});

test('atomic write: the file is synced before the rename and the folder after it; a folder that cannot be synced is no error', async () => {
  const folder = tempFolder();
  const file = path.join(folder, 'x.json');
  const events: string[] = [];
  const originalOpen = fs.promises.open;
  const originalRename = fs.promises.rename;
  let refuse: NodeJS.ErrnoException | undefined;
  (fs.promises as { open: typeof originalOpen }).open = async (target, ...rest) => {
    const name = path.relative(folder, String(target)) || '<folder>';
    const handle = await originalOpen(target, ...rest);
    const sync = handle.sync.bind(handle);
    handle.sync = async () => {
      if (name === '<folder>' && refuse) throw refuse; // as Windows does
      events.push(`sync ${name.endsWith('.tmp') ? '<temp>' : name}`);
      return sync();
    };
    return handle;
  };
  (fs.promises as { rename: typeof originalRename }).rename = async (from, to) => {
    events.push('rename');
    return originalRename(from, to);
  };
  try {
    await writeFileAtomic(file, 'one');
    assert.deepEqual(events, ['sync <temp>', 'rename', 'sync <folder>']);
    for (const code of ['EPERM', 'EISDIR', 'EINVAL']) {
      refuse = Object.assign(new Error(code), { code });
      await writeFileAtomic(file, code);
      assert.equal(fs.readFileSync(file, 'utf8'), code);
    }
    refuse = Object.assign(new Error('EIO'), { code: 'EIO' });
    await assert.rejects(writeFileAtomic(file, 'lost?'), /EIO/); // a real I/O error is not hidden
  } finally {
    (fs.promises as { open: typeof originalOpen }).open = originalOpen;
    (fs.promises as { rename: typeof originalRename }).rename = originalRename;
  }
  assert.deepEqual(fs.readdirSync(folder), ['x.json']);
});

test('killed mid-save again and again: nothing saved is lost, no temp file outlives the next open, the index matches the files', { timeout: 300_000 }, async () => {
  const root = tempFolder();
  const folder = path.join(root, 'sessions');
  const storeModule = path.join(__dirname, '../../src/session/sessionStore.js');
  // Saves four sessions round-robin, as fast as it can, with a draft big enough that each write takes a while;
  // prints "<id> <n>" once save n has resolved.
  const script = path.join(root, 'saver.js');
  fs.writeFileSync(
    script,
    `const { SessionStore } = require(${JSON.stringify(storeModule)});
const store = new SessionStore(${JSON.stringify(folder)});
const draft = 'x'.repeat(100000);
let n = Number(process.argv[2]);
(async () => {
  for (;;) {
    n++;
    const id = 's' + (n % 4);
    await store.save({ id, createdAt: 1, updatedAt: n, draft, turns: [{ id: 't1', prompt: 'Save ' + n, code: '', state: 'accepted', createdAt: 1 }] });
    process.stdout.write(id + ' ' + n + '\\n');
  }
})();
`,
  );
  const saved = new Map<string, number>(); // the last save each session was told was done
  for (let run = 0; run < 20; run++) {
    // n starts above any earlier save, and each run starts on another session (run + 1) % 4.
    const child = spawn(process.execPath, [script, String(run * 1_000_000 + run)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => (err += chunk));
    child.stdout.on('data', (chunk: Buffer) => {
      // Once it is saving in a loop, kill it at a random moment: whatever it is doing then.
      if (out === '') setTimeout(() => child.kill('SIGKILL'), Math.random() * 20);
      out += chunk;
    });
    const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, sig) => resolve(sig)));
    assert.equal(signal, 'SIGKILL', `the saver ended by itself: ${err}`);
    for (const line of out.split('\n')) {
      const [id, n] = line.split(' ');
      if (n !== undefined) saved.set(id, Number(n));
    }

    const store = new SessionStore(folder);
    const listed = await store.list(); // the first call opens the store
    const names = fs.readdirSync(folder);
    assert.deepEqual(names.filter((name) => name.endsWith('.tmp')), [], `run ${run}: temp files left`);
    const files = names
      .filter((name) => name !== 'index.json')
      .map((name) => parseSessionFile(JSON.parse(fs.readFileSync(path.join(folder, name), 'utf8'))));
    const byId = (a: { id: string }, b: { id: string }): number => a.id.localeCompare(b.id);
    assert.deepEqual([...listed].sort(byId), files.map(summarize).sort(byId), `run ${run}: the index does not match the session files`);
    for (const [id, n] of saved) assert.ok((await store.load(id))!.updatedAt >= n, `run ${run}: save ${n} of ${id} was lost`);
  }
  assert.equal(saved.size, 4); // every session was saved at least once
});
