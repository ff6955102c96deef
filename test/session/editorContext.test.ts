import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blockStarts, commentLinesToScore, commentPromptContext, editorPromptContext, splitHistory } from '../../src/session/editorContext';
import { buildInsertion, insertionPoint } from '../../src/session/insertion';
import { formatTurn, MTPB_HEADER } from '../../src/session/paperFormat';

const joined = (c: { header: string; turns: readonly string[]; prompt: string }): string => c.header + c.turns.join('') + c.prompt;

test('the paper format splits into the MTPB header and one droppable block per turn', () => {
  const turn1 = formatTurn({ prompt: 'Assign the list [1, 2] to a variable x.', code: 'x = [1, 2]' });
  const turn2 = formatTurn({ prompt: 'Print x.', code: 'print(x)' });
  const context = editorPromptContext(MTPB_HEADER + turn1 + turn2, 'Sort x.');
  assert.equal(context.header, MTPB_HEADER);
  assert.deepEqual(context.turns, [turn1, turn2]);
  assert.equal(context.prompt, '# Sort x.\n');
});

test('an empty document has no header and no turns', () => {
  assert.deepEqual(editorPromptContext('', 'Hello.'), { header: '', turns: [], prompt: '# Hello.\n' });
});

test('separators: the context ends exactly like the editor after the turn is inserted', () => {
  for (const above of ['', 'x = 1', 'x = 1\n', 'x = 1\n\n', 'x = 1\n   \n', '\n', 'import os\n\n# a\nx = 1\n# b\ny = 2', '# only a comment']) {
    const context = editorPromptContext(above, 'Next step.');
    const inserted = buildInsertion({ above, prompt: 'Next step.', code: 'z = 3', indent: '', promptAsComment: true });
    const editor = above + inserted.text;
    assert.ok(editor.startsWith(joined(context)), JSON.stringify({ above, context: joined(context), editor }));
    assert.equal(editor.slice(joined(context).length), 'z = 3\n\n');
    // The next turn sees the paper's `...code\n\n`.
    assert.ok(joined(editorPromptContext(editor, 'After.')).endsWith('z = 3\n\n# After.\n'));
  }
});

test('hand-written code and edits above the cursor are part of the context, as they stand', () => {
  const doc = 'import os\n\n# list the files\nfiles = os.listdir(".")  # edited by hand\n\nextra = 1\n\n# count them\nn = len(files)\n';
  const context = editorPromptContext(doc, 'Print n.');
  assert.equal(context.header, 'import os\n\n');
  assert.deepEqual(context.turns, [
    '# list the files\nfiles = os.listdir(".")  # edited by hand\n\nextra = 1\n\n',
    '# count them\nn = len(files)\n\n',
  ]);
  assert.equal(joined(context), `${doc}\n# Print n.\n`);
});

test('only column-0 comments after a blank line start blocks; the first line never splits', () => {
  assert.deepEqual(blockStarts('# a\nx\n# b\ny\n\n    # c\nz\n\n#d\n'), ['# a\nx\n# b\ny\n\n    # c\nz\n\n'.length]);
  const text = '# first\nx = 1\n\n# second\n# more\ny = 2\n\n';
  const split = splitHistory(text);
  assert.equal(split.header, '# first\nx = 1\n\n');
  assert.deepEqual(split.turns, ['# second\n# more\ny = 2\n\n']);
  assert.equal(split.header + split.turns.join(''), text);
});

test('a cursor in the middle of the document takes only the text above the insertion point', () => {
  const doc = '# a\nx = 1\n\n# b\ny = 2\n';
  const point = insertionPoint(doc, doc.indexOf('\n\n# b'));
  assert.equal(point.offset, doc.indexOf('\n# b'));
  const context = editorPromptContext(doc.slice(0, point.offset), 'mid');
  assert.equal(joined(context), '# a\nx = 1\n\n# mid\n');
});

test('commentLinesToScore: every comment followed by code, with the text above it', () => {
  const doc = '#!/usr/bin/env python\n# header\nimport os\n\n# step one\n# continued\nx = 1\n\ndef f():\n    # inner step\n    return 2\n\n# trailing\n\n#\ny = 3\n# last\n\n';
  const found = commentLinesToScore(doc);
  assert.deepEqual(
    found.map((c) => [c.line, c.text]),
    [
      [1, '# header'],
      [5, '# continued'],
      [9, '    # inner step'],
    ],
  );
  for (const c of found) assert.equal(c.above, doc.split('\n').slice(0, c.line).join('\n') + (c.line ? '\n' : ''));
  const context = commentPromptContext(found[1]);
  assert.equal(joined(context), doc.split('\n').slice(0, 6).join('\n') + '\n');
  assert.equal(context.prompt, '# continued\n');
});

test('a comment followed only by blank lines is not scored; CRLF lines are handled', () => {
  assert.deepEqual(commentLinesToScore('x = 1\n# done\n\n\n'), []);
  assert.deepEqual(
    commentLinesToScore('# a\r\nx = 1\r\n').map((c) => c.text),
    ['# a'],
  );
});
