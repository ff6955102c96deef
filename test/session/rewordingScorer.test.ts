// Rewordings of the draft in plain Node: its surprising words mapped back to the draft with their replacements
// (draftWords.ts), the scorer of the rewordings on a fake engine (each score posted as it comes; a newer request or
// a new draft aborts the older one, which posts nothing more; nothing while a turn generates), and the flow's
// scoreRewordings message on the bundled model in a real engine process.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Engine, PerplexityRequest, PerplexityResult, PromptScore, TokenSurprisal } from '../../src/protocol/engine';
import { EngineError } from '../../src/protocol/errors';
import type { ToWebview } from '../../src/protocol/webview';
import { DraftScorer } from '../../src/session/draftScorer';
import { editorPromptContext } from '../../src/session/editorContext';
import { formatPrompt, promptOffsets } from '../../src/session/paperFormat';
import { DEFAULT_THRESHOLDS, draftPerplexityView, surprisingWords } from '../../src/session/perplexityView';
import type { ModelPort } from '../../src/session/ports';
import { RewordingScorer } from '../../src/session/rewordingScorer';
import { draftMap } from '../../src/session/draftWords';
import { makeHarness, TestModel } from '../helpers/flowHarness';

/** A token of `prompt` at `text`'s first occurrence from `from` on. */
function token(prompt: string, text: string, surprisal: number, alternatives: string[] = [], from = 0): TokenSurprisal {
  const start = prompt.indexOf(text, from);
  assert.ok(start >= 0, `${JSON.stringify(text)} in ${JSON.stringify(prompt)}`);
  return { text, surprisal, start, end: start + text.length, alternatives: alternatives.map((t, i) => ({ text: t, logprob: -1 - i })) };
}

test('promptOffsets maps the paper format back to the draft: each line\'s "# " and the newlines are the format\'s', () => {
  assert.deepEqual([...promptOffsets('ab')], [-1, -1, 0, 1, -1]);
  assert.equal(formatPrompt('a\r\nb'), '# a\n# b\n');
  assert.deepEqual([...promptOffsets('a\r\nb')], [-1, -1, 0, -1, -1, -1, 3, -1]);
  assert.deepEqual([...promptOffsets('')], [-1, -1, -1]);
});

test('the draft\'s surprising words carry their span in the draft and the alternatives as replacements of it', () => {
  const draft = 'Sort the list\nthen print it';
  const prompt = formatPrompt(draft); // '# Sort the list\n# then print it\n'
  const score: PromptScore = {
    perplexity: 9,
    tokens: [
      token(prompt, '#', 20, [' Define']),
      token(prompt, ' Sort', 5, [' Order', 'atio', ' Countdown', ' Order', '  ']),
      token(prompt, ' the', 9, [' a', 'rational', ' my']),
      token(prompt, ' list', 1, []),
      token(prompt, '\n', 30, [' x']),
      token(prompt, '#', 25, [], 16),
      token(prompt, ' then', 7, [' and', 'then', ' then']),
      token(prompt, ' print', 2, [' show']),
    ],
  };
  const words = surprisingWords(score, 3, draftMap(draft));
  // The `#`s and the newline are the format's, not words of the draft; the rest by surprisal.
  assert.deepEqual(words, [
    { text: 'the', surprisal: 9, start: 4, end: 8, alternatives: [' a', ' my'] },
    { text: 'then', surprisal: 7, start: 14, end: 18, alternatives: ['and'] },
    { text: 'Sort', surprisal: 5, start: 0, end: 4, alternatives: ['Order', 'Countdown'] },
  ]);
  for (const w of words) {
    assert.equal(draft.slice(w.start, w.end).trim(), w.text);
    for (const a of w.alternatives ?? []) assert.notEqual(draft.slice(0, w.start) + a + draft.slice(w.end), draft);
  }
  assert.equal(draft.slice(0, 4) + ' a' + draft.slice(8), 'Sort a list\nthen print it');
  // Without the draft (a turn's prompt, a session file): text and surprisal only.
  assert.deepEqual(surprisingWords(score, 2), [{ text: 'the', surprisal: 9 }, { text: 'then', surprisal: 7 }]);
  // The composer's view: with the spans when the scored prompt is this draft's, as any prompt's otherwise.
  assert.deepEqual(draftPerplexityView(score, DEFAULT_THRESHOLDS, draft, prompt).surprising, words);
  assert.deepEqual(draftPerplexityView(score, DEFAULT_THRESHOLDS, draft, '# something else\n').surprising, surprisingWords(score));
});

/** A model whose perplexity calls the test answers (each call waits until it does) or that answers at once. */
function fakeModel(options: { auto?: boolean } = {}) {
  const calls: { prompt: string; signal?: AbortSignal; answer: () => void }[] = [];
  const engine = {
    perplexity(request: PerplexityRequest, signal?: AbortSignal): Promise<PerplexityResult> {
      return new Promise((resolve, reject) => {
        const result = { perplexity: request.context.prompt.length, tokens: [], promptTokens: 1, droppedTurns: 0, reusedTokens: 0, timings: { tokenizeMs: 0, prefillMs: 0, totalMs: 0 } };
        const answer = (): void => (signal?.aborted ? reject(new EngineError('cancelled', 'Cancelled.')) : resolve(result));
        signal?.addEventListener('abort', () => reject(new EngineError('cancelled', 'Cancelled.')));
        calls.push({ prompt: request.context.prompt, signal, answer });
        if (options.auto) setImmediate(answer);
      });
    },
  } as unknown as Engine;
  const model: ModelPort & { perplexityUnavailable?: string } = {
    status: { state: 'ready', label: 'fake' },
    engine,
    ensureLoaded: async () => undefined,
    setGenerating: () => undefined,
    setIdle: () => undefined,
  };
  return { model, calls };
}

function scorer(model: ModelPort, busy = (): boolean => false) {
  const posted: ToWebview[] = [];
  const logs: string[] = [];
  const deps = {
    model,
    editor: { context: (prompt: string) => editorPromptContext('', prompt) },
    log: { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), error: (m: string) => logs.push(m) },
    panel: () => ({ post: (m: ToWebview) => void posted.push(m) }),
    busy,
  };
  return { scorer: new RewordingScorer(deps), deps, posted, logs };
}

const until = async (condition: () => boolean, what: string, ms = 5000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
};

test('the rewording scorer scores each candidate draft in turn and posts each score as it comes', async () => {
  const { model, calls } = fakeModel({ auto: true });
  const s = scorer(model);
  await s.scorer.score('Sort the list', [{ id: 'a', text: 'Sort a list' }, { id: 'b', text: 'Sort my list' }]);
  assert.deepEqual(calls.map((c) => c.prompt), ['# Sort a list\n', '# Sort my list\n']);
  assert.deepEqual(s.posted, [
    { type: 'rewordingScores', draft: 'Sort the list', scores: [{ id: 'a', perplexity: '# Sort a list\n'.length }] },
    { type: 'rewordingScores', draft: 'Sort the list', scores: [{ id: 'b', perplexity: '# Sort my list\n'.length }] },
  ]);
  assert.deepEqual(s.logs, []);
});

test('a newer request aborts the older one, which posts nothing more; so does a change of the draft', async () => {
  const { model, calls } = fakeModel();
  const s = scorer(model);
  const first = s.scorer.score('one', [{ id: 'a', text: 'one a' }, { id: 'b', text: 'one b' }]);
  await until(() => calls.length === 1, 'the first call');
  const second = s.scorer.score('two', [{ id: 'c', text: 'two c' }]);
  assert.equal(calls[0].signal?.aborted, true, 'the older request is aborted');
  calls[0].answer();
  await first;
  await until(() => calls.length === 2, 'the newer request\'s call');
  calls[1].answer();
  await second;
  assert.deepEqual(s.posted.map((m) => m.type === 'rewordingScores' && m.scores[0].id), ['c'], 'only the newer request\'s score');
  assert.deepEqual(calls.map((c) => c.prompt), ['# one a\n', '# two c\n'], 'the older request\'s second candidate was never scored');

  // The draft scorer aborts the rewordings when the draft changes.
  const draftPosts: ToWebview[] = [];
  const drafts = new DraftScorer({ ...s.deps, panel: () => ({ post: (m) => void draftPosts.push(m) }), settings: () => ({ temperature: 0, topP: 1, maxNewTokens: 1, thresholds: DEFAULT_THRESHOLDS, insertPromptAsComment: true }), debounceMs: 10_000, onScored: () => undefined });
  const third = drafts.scoreRewordings('three', [{ id: 'd', text: 'three d' }]);
  await until(() => calls.length === 3, 'the third request\'s call');
  drafts.changed('three and more');
  assert.equal(calls[2].signal?.aborted, true, 'a new draft aborts the rewordings of the old one');
  await third;
  assert.deepEqual(draftPosts, []);
  drafts.dispose();
});

test('nothing is scored while a turn generates, and a turn starting stops the rest', async () => {
  const { model, calls } = fakeModel({ auto: true });
  let busy = true;
  const s = scorer(model, () => busy);
  await s.scorer.score('x', [{ id: 'a', text: 'x a' }]);
  assert.equal(calls.length, 0, 'no engine call while busy');
  assert.deepEqual(s.posted, []);
  busy = false;
  const manual = fakeModel();
  const t = scorer(manual.model, () => busy);
  const running = t.scorer.score('y', [{ id: 'a', text: 'y a' }, { id: 'b', text: 'y b' }]);
  await until(() => manual.calls.length === 1, 'the first call');
  busy = true; // a turn started: the call in the engine finishes, the next is not made
  manual.calls[0].answer();
  await running;
  assert.equal(manual.calls.length, 1);
  assert.deepEqual(t.posted.map((m) => m.type === 'rewordingScores' && m.scores[0].id), ['a']);
  // A model that cannot score prompts: nothing is asked.
  const unable = fakeModel({ auto: true });
  unable.model.perplexityUnavailable = 'a server without log-probabilities';
  busy = false;
  await scorer(unable.model).scorer.score('z', [{ id: 'a', text: 'z a' }]);
  assert.equal(unable.calls.length, 0);
});

const model = new TestModel();
after(() => model.client.dispose());

test('the flow: the draft\'s words come with spans and alternatives; scoreRewordings scores each on the bundled model', async () => {
  const h = makeHarness({ model, timing: { draftDebounceMs: 5 } });
  const draft = 'Sort the values in descending order.';
  h.flow.draftChanged(draft);
  await until(() => h.posted.some((m) => m.type === 'draftPerplexity'), 'the draft\'s perplexity', 30_000);
  const scored = h.posted.find((m): m is Extract<ToWebview, { type: 'draftPerplexity' }> => m.type === 'draftPerplexity');
  assert.ok(scored?.perplexity, 'the draft was scored');
  const words = scored.perplexity.surprising;
  assert.ok(words.length > 0);
  for (const w of words) {
    assert.ok(w.start !== undefined && w.end !== undefined, `${w.text} has a span`);
    assert.equal(draft.slice(w.start, w.end).trim(), w.text);
  }
  const word = words.find((w) => (w.alternatives?.length ?? 0) > 0);
  assert.ok(word, `a surprising word with alternatives: ${JSON.stringify(words)}`);
  const rewordings = word.alternatives!.map((a, i) => ({ id: `r${i}`, text: draft.slice(0, word.start) + a + draft.slice(word.end) }));
  await h.flow.handle({ type: 'scoreRewordings', draft, rewordings });
  const scores = h.posted.flatMap((m) => (m.type === 'rewordingScores' ? m.scores.map((s) => ({ ...s, draft: m.draft })) : []));
  assert.deepEqual(scores.map((s) => s.id), rewordings.map((r) => r.id));
  for (const [i, s] of scores.entries()) {
    assert.equal(s.draft, draft);
    const direct = await model.engine.perplexity({ context: h.editor.context(rewordings[i].text) });
    assert.ok(Math.abs(s.perplexity / direct.perplexity - 1) < 1e-6, `${rewordings[i].text}: ${s.perplexity} vs ${direct.perplexity}`);
  }

  // While a turn generates, nothing is scored.
  h.settings.maxNewTokens = 2000;
  const before = h.posted.length;
  const turnId = await h.flow.submit('Print the numbers from 1 to 1000.');
  assert.ok(turnId);
  await h.flow.handle({ type: 'scoreRewordings', draft, rewordings });
  assert.equal(h.posted.slice(before).filter((m) => m.type === 'rewordingScores').length, 0);
  h.flow.stop(turnId);
  await h.waitFor(turnId, ['cancelled', 'proposed']);
  await h.dispose();
});
