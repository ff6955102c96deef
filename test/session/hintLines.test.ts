import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptedTurnHints, findCommentLines, promptCommentLine, updateHints, type LineChange } from '../../src/session/hintLines';
import { formatPerplexity, perplexityLevel, perplexityView } from '../../src/session/perplexityView';

const at = (line: number, character = 0) => ({ line, character });

test('hints move with lines inserted or deleted above them and stay put for edits below', () => {
  const lines = ['a', '# p', 'x'];
  const hints = [{ line: 1, comment: '# p' }];
  const insertAbove: LineChange = { start: at(0), end: at(0), text: 'new\nnew\n' };
  assert.deepEqual(updateHints(hints, [insertAbove], (l) => ['new', 'new', ...lines][l]), [{ line: 3, comment: '# p' }]);
  const deleteAbove: LineChange = { start: at(0), end: at(1), text: '' };
  assert.deepEqual(updateHints(hints, [deleteAbove], (l) => lines.slice(1)[l]), [{ line: 0, comment: '# p' }]);
  const below: LineChange = { start: at(2), end: at(2, 1), text: 'yy\nzz' };
  assert.deepEqual(updateHints(hints, [below], (l) => ['a', '# p', 'yy', 'zz'][l]), hints);
  const atStart: LineChange = { start: at(1), end: at(1), text: '\n' };
  assert.deepEqual(updateHints(hints, [atStart], (l) => ['a', '', '# p', 'x'][l]), [{ line: 2, comment: '# p' }]);
});

test('a hint is dropped when its line no longer holds its comment', () => {
  const hints = [{ line: 1, comment: '# p' }];
  const edit: LineChange = { start: at(1, 3), end: at(1, 3), text: 'q' };
  assert.deepEqual(updateHints(hints, [edit], (l) => ['a', '# pq', 'x'][l]), []);
  const deleted: LineChange = { start: at(0, 1), end: at(2, 0), text: '' };
  assert.deepEqual(updateHints(hints, [deleted], (l) => ['ax'][l]), []);
});

test('perplexity levels, the most surprising words, the hint text', () => {
  const t = { low: 8, high: 20 };
  assert.equal(perplexityLevel(8, t), 'low');
  assert.equal(perplexityLevel(8.01, t), 'medium');
  assert.equal(perplexityLevel(20, t), 'high');
  const view = perplexityView(
    {
      perplexity: 12,
      tokens: [
        { text: '#', surprisal: 9, start: 0, end: 1 },
        { text: ' Sort', surprisal: 4, start: 1, end: 6 },
        { text: ' the', surprisal: 1, start: 6, end: 10 },
        { text: ' frobs', surprisal: 7, start: 10, end: 16 },
        { text: ' list', surprisal: 3, start: 16, end: 21 },
        { text: '\n', surprisal: 8, start: 21, end: 22 },
      ],
    },
    t,
  );
  assert.deepEqual(view, {
    perplexity: 12,
    level: 'medium',
    surprising: [
      { text: 'frobs', surprisal: 7 },
      { text: 'Sort', surprisal: 4 },
      { text: 'list', surprisal: 3 },
    ],
  });
  assert.equal(formatPerplexity(7.94), 'ppl 7.9');
  assert.equal(formatPerplexity(1234.5), 'ppl 1235');
});

test('findCommentLines: each comment below the previous one found, a missing one skipped', () => {
  const lines = ['# Import libraries.', '', '# a', 'x = 1', '', '    # b  ', 'y = 2', '# a', '# c'];
  assert.deepEqual(findCommentLines(lines, ['# a', '# b', '# c']), [2, 5, 8]);
  // The same comment twice: the second is the next one below the first.
  assert.deepEqual(findCommentLines(lines, ['# a', '# a']), [2, 7]);
  // A comment no longer there is skipped; the search for the next one goes on from the last one found.
  assert.deepEqual(findCommentLines(lines, ['# a', '# gone', '# b']), [2, undefined, 5]);
  // Order matters: a comment above the one found before it is not taken.
  assert.deepEqual(findCommentLines(lines, ['# c', '# b']), [8, undefined]);
  assert.deepEqual(findCommentLines([], ['# a']), [undefined]);
  assert.deepEqual(findCommentLines(lines, ['']), [undefined]);
});

test('acceptedTurnHints: accepted turns with a known perplexity, on the lines of their prompt comments', () => {
  const lines = ['# Import libraries.', '', '# First step.', 'a = 1', '', '# Second step', '# has two lines.', 'b = 2', '', '# Third.', 'c = 3', ''];
  const turns = [
    { prompt: 'First step.', state: 'accepted', perplexity: 5 },
    { prompt: 'Rejected.', state: 'rejected', perplexity: 6 },
    { prompt: 'Second step\nhas two lines.', state: 'accepted', perplexity: 7 },
    { prompt: 'Gone.', state: 'accepted', perplexity: 8 },
    { prompt: 'Third.', state: 'accepted' },
  ];
  assert.deepEqual(acceptedTurnHints(lines, turns), [
    { line: 2, comment: '# First step.', view: 5 },
    { line: 5, comment: '# Second step', view: 7 },
  ]);
  assert.equal(promptCommentLine('  Trailing space  \nmore'), '#   Trailing space');
  // A turn without a perplexity still holds its place: the next turn's comment is looked for below it.
  const repeated = ['# Same.', 'x', '# Same.', 'y'];
  assert.deepEqual(
    acceptedTurnHints(repeated, [
      { prompt: 'Same.', state: 'accepted' },
      { prompt: 'Same.', state: 'accepted', perplexity: 3 },
    ]),
    [{ line: 2, comment: '# Same.', view: 3 }],
  );
});
