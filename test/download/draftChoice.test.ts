// Which downloaded model guesses ahead for the model in use: the largest CodeGen with at most a quarter of its
// parameters, of the same family (mono, multi, nl) where there is one; none for a model nothing is small enough
// for; folders that are not CodeGens are passed over.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { salesforceConfigJson, salesforceShape } from '../../src/engine/checkpoint/salesforceModels';
import { chooseDraftModel } from '../../src/download/draftChoice';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-drafts-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

/** A folder with just the config.json of a Salesforce shape (all the choice reads). */
function folder(name: string, size: string, configPatch: Record<string, unknown> = {}): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...salesforceConfigJson(salesforceShape(size)!), ...configPatch }));
  return dir;
}

test('the largest small-enough CodeGen of the same family is the draft', () => {
  const target16B = folder('Salesforce--codegen-16B-mono', '16B');
  const mono350 = folder('Salesforce--codegen-350M-mono', '350M');
  const multi2B = folder('Salesforce--codegen-2B-multi', '2B');
  const mono2B = folder('Salesforce--codegen-2B-mono', '2B');
  const mono6B = folder('Salesforce--codegen-6B-mono', '6B');
  const all = [mono350, multi2B, mono2B, mono6B, target16B];
  assert.equal(chooseDraftModel(target16B, all), mono2B, 'for 16B: 6B has 44% of its parameters, 2B 17% (and mono before multi)');
  assert.equal(chooseDraftModel(mono6B, all), mono350, 'for 6B: 2B has 39%, so 350M');
  assert.equal(chooseDraftModel(mono2B, all), mono350);
  assert.equal(chooseDraftModel(mono350, all), undefined, 'nothing is small enough for 350M');
  const target2BMulti = folder('Salesforce--codegen-2B-multi-copy', '2B');
  const multi350 = folder('Salesforce--codegen-350M-multi', '350M');
  assert.equal(chooseDraftModel(target2BMulti, [mono350, multi350]), multi350, 'the same family first');
});

test('folders that are not CodeGens with the full vocabulary, and the target itself, are passed over', () => {
  const target = folder('codegen-6B-mono', '6B');
  const small = folder('tiny-vocab-350M-mono', '350M', { vocab_size: 1000 });
  const broken = path.join(root, 'not-a-model');
  fs.mkdirSync(broken, { recursive: true });
  fs.writeFileSync(path.join(broken, 'config.json'), '{ not json');
  assert.equal(chooseDraftModel(target, [target, small, broken, path.join(root, 'missing')]), undefined);
  assert.equal(chooseDraftModel(path.join(root, 'missing'), [small]), undefined, 'an unreadable target has no draft');
});
