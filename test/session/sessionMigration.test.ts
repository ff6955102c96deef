// Sessions saved before the format's version 2 (test/fixtures/sessions-v1: written by the version-1 store, with each
// perplexity's level frozen in) open, show their levels by today's thresholds, and are written back as version 2.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { SESSION_FORMAT_VERSION } from '../../src/session/sessionFormat';
import { SessionStore } from '../../src/session/sessionStore';
import { TurnMachine } from '../../src/session/turnMachine';

const V1_FOLDER = path.join(__dirname, '../../../test/fixtures/sessions-v1');
const CURRENT = '6f1c2e1a-5b7d-4c1e-9a0b-3d2f4e5a6b7c';

function copyOfV1(): string {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-sessions-v1-'));
  fs.cpSync(V1_FOLDER, folder, { recursive: true });
  return folder;
}

test('a version-1 session folder opens as it was saved, its levels from the thresholds of now', async () => {
  const warnings: string[] = [];
  const store = new SessionStore(copyOfV1(), { log: (w) => warnings.push(w) });
  assert.deepEqual((await store.list()).map((s) => [s.title, s.turnCount]), [
    ['New session', 0],
    ['Read the CSV file data.csv into a list of rows.', 3],
  ]);
  const record = await store.loadCurrent();
  assert.equal(record?.id, CURRENT);
  assert.equal(record.draft, 'Then plot');
  assert.equal(record.documentUri, 'file:///home/user/project/prices.py');
  assert.deepEqual(record.turns.map((t) => [t.state, t.seed]), [['accepted', 123], ['rejected', 9], ['generating', undefined]]);
  assert.deepEqual(record.turns[0].perplexity, { perplexity: 6.4, surprising: [{ text: 'CSV', surprisal: 5.1 }, { text: 'rows', surprisal: 3.2 }] });
  assert.equal(record.turns[2].code, 'from statistics import mean\n', 'what streamed before the save is kept');

  const session = TurnMachine.restore(record);
  assert.equal(session.get(record.turns[2].id)?.state, 'cancelled', 'a turn saved while generating comes back cancelled');
  // Version 1 froze 'high' for 23.7 (thresholds 8 / 20); with a high threshold of 30 it is 'medium' now.
  assert.deepEqual(session.toView({ low: 8, high: 30 }).map((t) => t.perplexity?.level), ['low', 'medium', undefined]);
  assert.deepEqual(warnings, []);
});

test('a migrated session is written back as version 2, without the frozen levels, and reads back the same', async () => {
  const folder = copyOfV1();
  const store = new SessionStore(folder);
  const record = (await store.load(CURRENT))!;
  await store.save(record);
  const written = JSON.parse(fs.readFileSync(path.join(folder, `${CURRENT}.json`), 'utf8'));
  assert.equal(written.version, SESSION_FORMAT_VERSION);
  assert.equal(SESSION_FORMAT_VERSION, 2);
  assert.equal(JSON.stringify(written).includes('"level"'), false);
  assert.deepEqual(await new SessionStore(folder).load(CURRENT), record);
  // The other, untouched version-1 file still opens next to it.
  assert.equal((await store.list()).length, 2);
  assert.ok(await store.load('0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a'));
});

test('a version-1 file with a level that is not one is refused (skipped with the reason), not half-read', async () => {
  const folder = copyOfV1();
  const file = path.join(folder, `${CURRENT}.json`);
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"level": "low"', '"level": "lowish"'));
  const warnings: string[] = [];
  const store = new SessionStore(folder, { log: (w) => warnings.push(w) });
  assert.equal(await store.load(CURRENT), undefined);
  assert.ok(warnings.some((w) => w.includes(CURRENT) && w.includes('unknown level lowish')), warnings.join('\n'));
});
