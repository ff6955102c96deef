import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CodeGenTokenizer, StreamingDecoder, TOKENIZER_VOCAB_SIZE } from '../../src/engine/tokenizer';

const tokenizer = new CodeGenTokenizer();

test('GPT-2 ids plus a whitespace token for the indentation, as CodeGen tokenizes code', () => {
  // def=4299 " add"=751 "("=7 "a"=64 ","=11 " b"=275 "):"=2599 "\n"=198 [4 spaces]=50284 return=7783 " a"=257 " +"=1343
  assert.deepEqual(tokenizer.encode('def add(a, b):\n    return a + b'), [4299, 751, 7, 64, 11, 275, 2599, 198, 50284, 7783, 257, 1343, 275]);
});

test('whitespace runs are matched leftmost-longest before BPE', () => {
  assert.deepEqual(tokenizer.encode(' '.repeat(40)), [50288 - 31, 50288 - 9]);
  assert.deepEqual(tokenizer.encode(' '.repeat(31)), [50257]);
  assert.deepEqual(tokenizer.encode('  '), [50286]);
  assert.deepEqual(tokenizer.encode('\t'.repeat(9)), [50287]);
  assert.deepEqual(tokenizer.encode('\t'.repeat(12)), [50287, 50293]); // 9 + 3 tabs
  assert.deepEqual(tokenizer.encode('\t\t'), [50294]);
  // A lone space is never an added token: it stays with the word after it.
  assert.deepEqual(tokenizer.encode(' '.repeat(32) + 'x'), [50257, 2124]);
  assert.deepEqual(tokenizer.encode('a  b'), [64, 50286, 65]);
  assert.deepEqual(tokenizer.encode('x = 1'), tokenizer.encode('x') .concat(tokenizer.encode(' = 1')));
});

test('added ids decode to plain whitespace', () => {
  assert.equal(tokenizer.decode([50257]), ' '.repeat(31));
  assert.equal(tokenizer.decode([50286]), '  ');
  assert.equal(tokenizer.decode([50287]), '\t'.repeat(9));
  assert.equal(tokenizer.decode([50294]), '\t\t');
  assert.throws(() => tokenizer.decode([TOKENIZER_VOCAB_SIZE]), /outside the tokenizer's vocabulary/);
});

test('<|endoftext|> inside text is ordinary text, never the EOS id', () => {
  const ids = tokenizer.encode('a<|endoftext|>b');
  assert.ok(!ids.includes(50256));
  assert.equal(tokenizer.decode(ids), 'a<|endoftext|>b');
});

const SAMPLES = [
  '',
  'print("héllo, wörld")',
  'emoji 🎉🐍 and flags 🇫🇷 and a family 👨‍👩‍👧',
  '中文注释 # 日本語のコメント\n\tx = "한국어"',
  'e\u0301 combining, \u00a0nbsp, \u2028 line sep',
  '\r\n\r\n    \t  \t\t  mixed   whitespace \n\n\n',
  ' '.repeat(100) + '\t'.repeat(23) + ' ',
  'def f():\n\t\treturn [x ** 2 for x in range(10)]  # squares\n',
];

test('decode(encode(x)) === x, non-ASCII and emoji included', () => {
  for (const s of SAMPLES) assert.equal(tokenizer.decode(tokenizer.encode(s)), s, JSON.stringify(s));
});

test('round trip on random text over a hostile alphabet', () => {
  const alphabet = [' ', '  ', '\t', '\n', 'a', 'Z', '0', '#', "'", '"', 'é', '€', '𝔘', '🎉', '\u200d', '中', '<|', '|>', 'endoftext'];
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let i = 0; i < 300; i++) {
    let s = '';
    const len = rand(40);
    for (let k = 0; k < len; k++) s += alphabet[rand(alphabet.length)];
    assert.equal(tokenizer.decode(tokenizer.encode(s)), s, JSON.stringify(s));
  }
});

test('streaming decode never emits half a UTF-8 character', () => {
  for (const s of SAMPLES) {
    const ids = tokenizer.encode(s);
    const decoder = new StreamingDecoder(tokenizer);
    let out = '';
    for (const id of ids) {
      const delta = decoder.push(id);
      assert.ok(!delta.includes('\ufffd'), `half a character emitted for ${JSON.stringify(s)}`);
      // A complete string never ends in a lone high surrogate.
      if (delta.length > 0) assert.ok(!/[\ud800-\udbff]$/.test(delta));
      out += delta;
    }
    out += decoder.flush();
    assert.equal(out, s);
  }
  // The emoji really is split across tokens, so the test above exercises holding bytes back.
  const emojiIds = tokenizer.encode('🎉');
  assert.ok(emojiIds.length > 1);
});

test('a U+FEFF is text, kept at the start, the end and twice in a row, in decode and when streamed', () => {
  for (const s of ['\ufeffx', 'a\ufeff', '\ufeff\ufeff', '\ufeff']) {
    const ids = tokenizer.encode(s);
    assert.equal(tokenizer.decode(ids), s, JSON.stringify(s));
    const decoder = new StreamingDecoder(tokenizer);
    let streamed = '';
    for (const id of ids) streamed += decoder.push(id);
    assert.equal(streamed + decoder.flush(), s, JSON.stringify(s));
  }
});

test('a lone surrogate is not valid Unicode and cannot be written in UTF-8: it comes back as U+FFFD', () => {
  assert.equal(tokenizer.decode(tokenizer.encode('a\ud800b')), 'a\ufffdb');
  assert.equal(tokenizer.decode(tokenizer.encode('\udfff')), '\ufffd');
  // A well-formed pair is one character and survives.
  assert.equal(tokenizer.decode(tokenizer.encode('\ud83c\udf89')), '🎉');
});

test('token spans cover the text in order', () => {
  for (const s of SAMPLES) {
    const spans = tokenizer.encodeWithSpans(s);
    assert.deepEqual(spans.map((t) => t.id), tokenizer.encode(s));
    let pos = 0;
    for (const t of spans) {
      assert.ok(t.start <= pos && t.end >= pos && t.end <= s.length, `${JSON.stringify(s)} ${JSON.stringify(t)}`);
      pos = Math.max(pos, t.end);
    }
    assert.equal(pos, s.length);
  }
  const spans = tokenizer.encodeWithSpans('    return x');
  assert.deepEqual(spans.map((t) => 'return x'.length && '    return x'.slice(t.start, t.end)), ['    ', 'return', ' x']);
});
