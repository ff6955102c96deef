// The turn flow in plain Node, on the bundled model in a real engine process, a real session store and an
// in-memory editor (test/helpers/flowHarness.ts): each step a user takes, and what the panel, the editor, the
// hints and the store see of it. The VS Code suite (test/integration/) proves the same flow end to end.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { ToWebview } from '../../src/protocol/webview';
import { SessionStore } from '../../src/session/sessionStore';
import { makeHarness, TestModel, tempSessionFolder, type Harness } from '../helpers/flowHarness';

const model = new TestModel();
after(() => model.client.dispose());

type Message<T extends ToWebview['type']> = Extract<ToWebview, { type: T }>;
function messages<T extends ToWebview['type']>(h: Harness, type: T): Message<T>[] {
  return h.posted.filter((m): m is Message<T> => m.type === type);
}

function turnMessages(h: Harness, turnId: string): Message<'turn'>[] {
  return messages(h, 'turn').filter((m) => m.turn.id === turnId);
}

async function proposedTurn(h: Harness, prompt: string): Promise<string> {
  const id = await h.flow.submit(prompt);
  assert.ok(id, 'the prompt was submitted');
  await h.waitFor(id, ['proposed']);
  return id;
}

test('submit streams the code to the panel in batches and proposes it, with its perplexity, seed and speed', async () => {
  const h = makeHarness({ model });
  const generations: string[] = [];
  h.flow.onGeneration((g) => generations.push(g.stopReason ?? 'started'));
  await h.flow.handle({ type: 'ready' });
  assert.equal(messages(h, 'init').length, 1);
  await h.flow.handle({ type: 'submit', prompt: 'Print the numbers from 1 to 10.' });
  const [turn] = h.flow.turns();
  const proposed = await h.waitFor(turn.id, ['proposed']);
  await h.flow.saved();
  const streamed = messages(h, 'turnDelta').filter((m) => m.turnId === turn.id).map((m) => m.delta).join('');
  assert.ok(proposed.code.length > 0);
  // The turn's code is what streamed, less what the turn's end cut off (the stop text, trailing space).
  assert.ok(streamed.startsWith(proposed.code.trimEnd()), `streamed ${JSON.stringify(streamed)}, code ${JSON.stringify(proposed.code)}`);
  assert.ok(messages(h, 'turnDelta').length < streamed.length || streamed.length <= 1, 'batched: fewer messages than characters');
  const states = turnMessages(h, turn.id).map((m) => m.turn.state);
  assert.deepEqual([states[0], states.at(-1)], ['generating', 'proposed']);
  const view = turnMessages(h, turn.id).at(-1)!.turn;
  assert.ok(view.perplexity && Number.isFinite(view.perplexity.perplexity) && ['low', 'medium', 'high'].includes(view.perplexity.level));
  assert.ok(Number.isInteger(proposed.seed));
  assert.equal(generations.length, 2);
  assert.equal(generations[0], 'started');
  assert.ok(['turn-end', 'max-new-tokens', 'eos'].includes(generations[1]), generations[1]);
  assert.deepEqual(h.model.statuses.slice(0, 1), ['generating']);
  assert.equal(h.model.statuses.at(-1), 'idle');
  // The store has the proposed turn, and the panel got the new session list after the save.
  const saved = await new SessionStore(h.store.folder).load(h.flow.sessionId);
  assert.equal(saved?.turns[0].state, 'proposed');
  assert.equal(saved?.turns[0].code, proposed.code);
  assert.equal(messages(h, 'sessions').at(-1)?.sessions[0].title, 'Print the numbers from 1 to 10.');
  await h.dispose();
});

test('a model that cannot score prompts (a server without log-probabilities): no score is kept, the hint says why', async () => {
  const h = makeHarness({ model });
  model.perplexityUnavailable = 'Prompt perplexity is not available from this server (http://gpu:8000/v1).';
  try {
    const id = await proposedTurn(h, 'Read the numbers.');
    assert.equal(h.flow.turns()[0].perplexity, undefined, 'no score, rather than NaN');
    await h.flow.handle({ type: 'accept', turnId: id });
    assert.equal(h.hints.accepted.length, 1);
    assert.equal(h.hints.accepted[0].hint.score, undefined);
    assert.equal(h.hints.accepted[0].hint.unavailable, model.perplexityUnavailable);
    await h.flow.saved();
    const saved = await new SessionStore(h.store.folder).load(h.flow.sessionId);
    assert.equal(saved?.turns[0].state, 'accepted');
    assert.equal(saved?.turns[0].perplexity, undefined, 'the saved session has no score for it');
  } finally {
    model.perplexityUnavailable = undefined;
    await h.dispose();
  }
});

test('accept inserts the code under its prompt comment, puts the hint on it, and conditions the next turn on it', async () => {
  const h = makeHarness({ model });
  const first = await proposedTurn(h, 'Read the numbers.');
  const code = h.flow.turns()[0].code;
  await h.flow.handle({ type: 'accept', turnId: first });
  assert.equal(h.flow.turns()[0].state, 'accepted');
  assert.ok(h.editor.text.startsWith('# Read the numbers.\n'), JSON.stringify(h.editor.text));
  assert.ok(h.editor.text.includes(code.trim()));
  assert.equal(h.flow.documentUri, h.editor.uri);
  assert.deepEqual(h.hints.accepted.map((a) => [a.documentUri, a.hint.line, a.hint.comment]), [[h.editor.uri, 0, '# Read the numbers.']]);
  assert.ok(Number.isFinite(h.hints.accepted[0].hint.score?.perplexity), "the hint has the prompt's score");
  assert.equal(h.hints.accepted[0].hint.score?.perplexity, h.flow.turns()[0].perplexity?.perplexity);
  // The next turn's context is the document above the cursor: the accepted turn is its history.
  const contexts: string[] = [];
  h.flow.onGeneration((g) => g.stopReason === undefined && contexts.push(g.context.header + g.context.turns.join('')));
  await proposedTurn(h, 'Print their sum.');
  assert.ok(contexts[0].includes('# Read the numbers.') && contexts[0].includes(code.trim()), JSON.stringify(contexts[0]));
  await h.dispose();
});

test('edit: accepting with the user\'s code inserts and keeps the edit', async () => {
  const h = makeHarness({ model });
  const id = await proposedTurn(h, 'Define a function that adds two numbers.');
  await h.flow.handle({ type: 'accept', turnId: id, code: 'def add(a, b):\n    return a + b' });
  assert.equal(h.flow.turns()[0].code, 'def add(a, b):\n    return a + b');
  assert.ok(h.editor.text.includes('def add(a, b):\n    return a + b\n'));
  await h.dispose();
});

test('reject inserts nothing; an illegal action is refused with a warning and the panel gets the true state', async () => {
  const h = makeHarness({ model });
  const id = await proposedTurn(h, 'Sort the list.');
  await h.flow.handle({ type: 'reject', turnId: id });
  assert.equal(h.flow.turns()[0].state, 'rejected');
  const before = h.posted.length;
  await h.flow.handle({ type: 'accept', turnId: id });
  assert.deepEqual(h.notice.warnings, ['Cannot accept a turn that is rejected.']);
  assert.equal(h.editor.inserts, 0, 'nothing inserted');
  assert.deepEqual(h.posted.slice(before).map((m) => m.type === 'turn' && m.turn.state), ['rejected'], 'republished');
  await h.dispose();
});

test('an editor that refuses the edit leaves the turn proposed and says why', async () => {
  const h = makeHarness({ model });
  const id = await proposedTurn(h, 'Sort the list.');
  h.editor.refuseNext = true;
  await h.flow.handle({ type: 'accept', turnId: id });
  assert.equal(h.flow.turns()[0].state, 'proposed');
  assert.match(h.notice.errors[0], /refused the edit/);
  await h.dispose();
});

test('regenerate samples the prompt again (a new seed) and proposes it', async () => {
  const h = makeHarness({ model });
  const id = await proposedTurn(h, 'Reverse a string.');
  const first = h.flow.turns()[0];
  await h.flow.handle({ type: 'regenerate', turnId: id });
  assert.equal(h.flow.turns()[0].state, 'generating');
  const second = await h.waitFor(id, ['proposed']);
  assert.notEqual(second.seed, first.seed);
  assert.equal(h.flow.turns().length, 1, 'the same turn, not a new one');
  await h.dispose();
});

test('stop cancels a long generation, keeps what streamed, and a second submit meanwhile is refused', async () => {
  const h = makeHarness({ model });
  h.settings.maxNewTokens = 2000;
  let firstDelta: () => void = () => undefined;
  const streaming = new Promise<void>((resolve) => (firstDelta = resolve));
  const id = (await h.flow.submit('Write a very long comment.'))!;
  const waitDelta = setInterval(() => messages(h, 'turnDelta').length > 0 && firstDelta(), 2);
  await streaming;
  clearInterval(waitDelta);
  assert.equal(await h.flow.submit('Another prompt.'), undefined);
  assert.match(h.notice.warnings[0], /still writing/);
  assert.equal(h.flow.newestTurnId('stop'), id);
  const ended = new Promise<number | undefined>((resolve) => h.flow.onGeneration((g) => g.stopReason && resolve(g.tokens)));
  await h.flow.handle({ type: 'stop', turnId: id });
  const turn = await h.waitFor(id, ['cancelled'], 10_000);
  const tokens = await ended;
  assert.ok(tokens !== undefined && tokens > 0 && tokens < 2000, `${tokens} tokens`);
  assert.ok(turn.code.length > 0, 'what streamed before the stop is kept');
  assert.equal(h.flow.newestTurnId('accept'), id, 'a cancelled turn can still be accepted');
  await h.dispose();
});

test('an engine crash fails the turn with the reason; Retry runs it in a fresh engine process', async () => {
  const h = makeHarness({ model });
  h.settings.maxNewTokens = 2000;
  await model.ensureLoaded();
  const id = (await h.flow.submit('Write a very long comment.'))!;
  while (messages(h, 'turnDelta').length === 0) await new Promise((r) => setTimeout(r, 2));
  const pid = model.client.pid!;
  process.kill(pid, 'SIGKILL');
  const failed = await h.waitFor(id, ['failed'], 10_000);
  assert.match(failed.error ?? '', /SIGKILL/);
  assert.equal(h.notice.engineFailures.length, 1);
  assert.match(h.notice.engineFailures[0], /^The turn failed: \[engine-crashed\]/);
  assert.equal(h.flow.newestTurnId('regenerate'), id);
  h.settings.maxNewTokens = 16;
  await h.flow.handle({ type: 'retry', turnId: id });
  const retried = await h.waitFor(id, ['proposed']);
  assert.equal(retried.error, undefined);
  assert.notEqual(model.client.pid, pid, 'a fresh engine process');
  await h.dispose();
});

test('the draft is scored after typing pauses; a newer draft supersedes one being scored; an empty one clears it', async () => {
  const h = makeHarness({ model, timing: { draftDebounceMs: 10 } });
  await model.ensureLoaded();
  let release: () => void = () => undefined;
  model.gate = new Promise<void>((resolve) => (release = resolve));
  h.flow.draftChanged('Print');
  // Wait until the first draft's scoring is in the engine (held at the gate), then type on.
  await new Promise((r) => setTimeout(r, 200));
  h.flow.draftChanged('Print the sum.');
  release();
  model.gate = undefined;
  const deadline = Date.now() + 10_000;
  while (messages(h, 'draftPerplexity').length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 100));
  const scored = messages(h, 'draftPerplexity');
  assert.deepEqual(scored.map((m) => m.draft), ['Print the sum.'], 'only the newest draft gets a number');
  assert.ok(scored[0].perplexity && scored[0].perplexity.perplexity > 0);
  assert.equal(h.flow.draft, 'Print the sum.');
  h.flow.draftChanged('   ');
  assert.deepEqual(messages(h, 'draftPerplexity').at(-1), { type: 'draftPerplexity', draft: '   ', perplexity: null });
  await h.dispose();
});

test('saves land in order: with a save on every streamed piece, the store ends with the turn as it ended', async () => {
  const folder = tempSessionFolder();
  const h = makeHarness({ model, storeFolder: folder, timing: { streamSaveMs: 0 } });
  const id = (await h.flow.submit('Count the words in a sentence.'))!;
  const turn = await h.waitFor(id, ['proposed']);
  await h.flow.saved();
  const saved = await new SessionStore(folder).load(h.flow.sessionId);
  assert.deepEqual(saved?.turns.map((t) => [t.state, t.code, t.seed]), [['proposed', turn.code, turn.seed]]);
  await h.dispose();
});

test('a restart restores the session from the store: a turn saved while generating comes back cancelled, hints go back', async () => {
  const folder = tempSessionFolder();
  const a = makeHarness({ model, storeFolder: folder, timing: { streamSaveMs: 0 } });
  const accepted = await proposedTurn(a, 'Read the file.');
  await a.flow.accept(accepted);
  a.settings.maxNewTokens = 2000;
  const running = (await a.flow.submit('Write a very long comment.'))!;
  while (!(await new SessionStore(folder).load(a.flow.sessionId))?.turns.some((t) => t.id === running && t.code.length > 0)) {
    await new Promise((r) => setTimeout(r, 5));
  }
  // A second window (a restart) reads the store while the first is still generating.
  const b = makeHarness({ model, storeFolder: folder });
  await b.flow.restore();
  assert.equal(b.flow.sessionId, a.flow.sessionId);
  assert.deepEqual(b.flow.turns().map((t) => t.state), ['accepted', 'cancelled']);
  assert.ok(b.flow.turns()[1].code.length > 0);
  assert.deepEqual(b.hints.restored.map((r) => [r.documentUri, r.turns.length]), [[a.editor.uri, 2]]);
  assert.equal(messages(b, 'init').at(-1)?.state.turns.length, 2);
  a.flow.stop(running);
  await a.dispose();
  await b.dispose();
});

test('New Session starts empty and is the one restored; Open Session goes back to the earlier one', async () => {
  const folder = tempSessionFolder();
  const h = makeHarness({ model, storeFolder: folder });
  await proposedTurn(h, 'Read the file.');
  const first = h.flow.sessionId;
  await h.flow.handle({ type: 'newSession' });
  assert.notEqual(h.flow.sessionId, first);
  assert.deepEqual(h.flow.turns(), []);
  const restarted = makeHarness({ model, storeFolder: folder });
  await restarted.flow.restore();
  assert.equal(restarted.flow.sessionId, h.flow.sessionId);
  await h.flow.handle({ type: 'openSession', sessionId: first });
  assert.equal(h.flow.sessionId, first);
  assert.deepEqual(h.flow.turns().map((t) => t.prompt), ['Read the file.']);
  await h.flow.handle({ type: 'openSession', sessionId: 'no-such-session' });
  assert.deepEqual(h.notice.errors, ['That session could not be read (see the CodeGen log).']);
  assert.equal(h.flow.sessionId, first, 'a session that cannot be read changes nothing');
  await h.dispose();
  await restarted.dispose();
});
