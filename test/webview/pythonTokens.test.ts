import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tokenizePython, type PythonToken, type PythonTokenKind } from '../../webview/pythonTokens';

const joined = (tokens: readonly PythonToken[]): string => tokens.map((t) => t.text).join('');

/** The non-whitespace tokens as `kind:text` strings, for compact expectations. */
const kinds = (code: string): string[] =>
  tokenizePython(code)
    .filter((t) => t.kind !== 'whitespace')
    .map((t) => `${t.kind}:${t.text}`);

const kindOf = (code: string, text: string): PythonTokenKind | undefined =>
  tokenizePython(code).find((t) => t.text === text)?.kind;

function assertRoundTrip(code: string): void {
  const tokens = tokenizePython(code);
  assert.equal(joined(tokens), code, `round trip of ${JSON.stringify(code)}`);
  for (const token of tokens) assert.ok(token.text.length > 0, `empty token in ${JSON.stringify(code)}`);
}

const SAMPLES: readonly string[] = [
  '',
  ' ',
  '\n',
  'x',
  'import numpy as np\n\n',
  'def add(a, b):\n    return a + b\n',
  'print("hello")',
  "s = 'unterminated",
  's = "unterminated\nnext = 1',
  'doc = """triple\nquoted\nstill going',
  "doc = '''closed''' + x",
  'f"{x!r:>10} and {{braces}} {y["k"]}"',
  "f'{a + {1: 2}[1]}' rf'\\d{n}' Rb'\\x00' u'x' t'{t}'",
  'x = 1_000.5e-3j + 0xFF + 0o17 + 0b1010 + .5 + 1.',
  '# just a comment',
  'x = 1  # trailing comment\n',
  '@decorator\n@pkg.mod.decorator(arg)\ndef f(): pass',
  'a @ b; a @= b',
  'lambda x: x ** 2 // 3',
  'x: int = 5\ndef f(a: int) -> str: ...',
  'if (n := len(a)) > 10: pass',
  'line = 1 + \\\n    2',
  's = "escaped \\" quote" + \'it\\\'s\'',
  'bad = "ends with backslash\\',
  'tab\tand\fform feed\r\nwindows',
  'naïve = "café" + 変数 + ℌ',
  'emoji = "😀" + 😀 + $ + ? + `',
  'lone \ud800 surrogate \udc00',
  'match command:\n    case [x, y]:\n        pass\n    case _:\n        pass',
  'match = re.match(p, s)\ntype = 3\ntype Point = tuple[float, float]',
  'class A(Base):\n    def __init__(self):\n        super().__init__()',
  '<|endoftext|>',
  '"""',
  "'",
  'f"',
  'f"{',
  'f"{x',
  'f"{x[\'',
  '0x',
  '1e',
  '1e+',
  '...',
  '\\',
  '@',
  '@\n',
];

test('token texts concatenate exactly to the input (samples)', () => {
  for (const code of SAMPLES) assertRoundTrip(code);
});

test('every prefix of the samples round-trips (code streaming in)', () => {
  for (const code of SAMPLES) {
    for (let n = 0; n <= code.length; n++) assertRoundTrip(code.slice(0, n));
  }
});

// mulberry32: a small seeded RNG, so that a failure can be reproduced.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('random inputs round-trip (Python-like fragments and arbitrary characters)', () => {
  const fragments = [
    'def', 'class', ' ', '  ', '\t', '\n', '\r\n', '\\', '\\\n', '#', '"', "'", '"""', "'''", 'f"', "rb'", 'F',
    '{', '}', '{{', '(', ')', '[', ']', ':', '=', '==', '**=', '->', ':=', '@', '.', '...', ',', '0x1F', '1_0',
    '1.5e-3j', '.5', 'print', 'self', 'x', 'match', 'case', 'type', 'é', '変', '😀', '\ud800', '\u00a0', '$', '?',
    '<|endoftext|>', '!', 'r', 'b',
  ];
  const random = rng(20240607);
  for (let n = 0; n < 3000; n++) {
    let code = '';
    const length = Math.floor(random() * 40);
    for (let k = 0; k < length; k++) {
      if (random() < 0.8) code += fragments[Math.floor(random() * fragments.length)];
      else code += String.fromCharCode(Math.floor(random() * 0x10000)); // may be a lone surrogate
    }
    assertRoundTrip(code);
  }
});

test('keywords, builtins, names and function names', () => {
  assert.deepEqual(kinds('import numpy as np'), ['keyword:import', 'name:numpy', 'keyword:as', 'name:np']);
  assert.deepEqual(kinds('def add(a, b):\n    return a + b'), [
    'keyword:def', 'function:add', 'punctuation:(', 'name:a', 'punctuation:,', 'name:b', 'punctuation:)',
    'punctuation::', 'keyword:return', 'name:a', 'operator:+', 'name:b',
  ]);
  assert.deepEqual(kinds('class Point(object): pass'), [
    'keyword:class', 'function:Point', 'punctuation:(', 'builtin:object', 'punctuation:)', 'punctuation::',
    'keyword:pass',
  ]);
  assert.deepEqual(kinds('result = compute(x)'), ['name:result', 'operator:=', 'function:compute', 'punctuation:(', 'name:x', 'punctuation:)']);
  assert.deepEqual(kinds('print(len(xs))'), [
    'builtin:print', 'punctuation:(', 'builtin:len', 'punctuation:(', 'name:xs', 'punctuation:)', 'punctuation:)',
  ]);
  assert.equal(kindOf('x = None if True else False', 'None'), 'keyword');
  assert.equal(kindOf('x = None if True else False', 'True'), 'keyword');
  // After a dot, a builtin's name is an attribute (or a method when called).
  assert.equal(kindOf('np.sum', 'sum'), 'name');
  assert.equal(kindOf('obj.print()', 'print'), 'function');
  assert.equal(kindOf('np.array ([1])', 'array'), 'function');
  assert.equal(kindOf('naïve = 1', 'naïve'), 'name');
});

test('soft keywords only where they start a statement', () => {
  assert.equal(kindOf('match command:\n    pass', 'match'), 'keyword');
  assert.equal(kindOf('match command:\n    case [x, y]:\n        pass', 'case'), 'keyword');
  assert.equal(kindOf('match = re.match(p, s)', 'match'), 'name');
  assert.deepEqual(kinds('m = re.match(p)').slice(4, 5), ['function:match']);
  assert.equal(kindOf('type Point = tuple[float, float]', 'type'), 'keyword');
  assert.equal(kindOf('t = type(x)', 'type'), 'builtin');
  assert.equal(kindOf('type = 3', 'type'), 'builtin');
});

test('strings: prefixes, escapes, triple quotes, f-strings', () => {
  assert.deepEqual(kinds('s = "a\\"b" + \'c\''), ['name:s', 'operator:=', 'string:"a\\"b"', 'operator:+', "string:'c'"]);
  assert.deepEqual(kinds("rb'\\d' + Rf\"{x}\" + u'u' + B\"b\""), [
    "string:rb'\\d'", 'operator:+', 'string:Rf"{x}"', 'operator:+', "string:u'u'", 'operator:+', 'string:B"b"',
  ]);
  assert.deepEqual(kinds('"""doc\nwith "quotes" and \'\'\' inside\n""" + x'), [
    'string:"""doc\nwith "quotes" and \'\'\' inside\n"""', 'operator:+', 'name:x',
  ]);
  // f-strings: replacement fields may hold other strings and braces; `{{` is a literal brace.
  assert.deepEqual(kinds('f"{d[\'k\']} {{not a field}} {x!r:>{width}}" + y'), [
    'string:f"{d[\'k\']} {{not a field}} {x!r:>{width}}"', 'operator:+', 'name:y',
  ]);
  assert.deepEqual(kinds('f"{x["key"]}" + y'), ['string:f"{x["key"]}"', 'operator:+', 'name:y']); // Python 3.12
  // A name that merely ends in a prefix letter is not a prefix.
  assert.deepEqual(kinds('bar"x"'), ['name:bar', 'string:"x"']);
});

test('unterminated strings while streaming', () => {
  // A single-quoted string ends at the end of its line; the next line is code again.
  assert.deepEqual(kinds('s = "open\nx = 1'), ['name:s', 'operator:=', 'string:"open', 'name:x', 'operator:=', 'number:1']);
  // A triple-quoted string runs to the end of the input.
  assert.deepEqual(kinds('x = """open\nstill = 1'), ['name:x', 'operator:=', 'string:"""open\nstill = 1']);
  assert.deepEqual(kinds("f'{x"), ["string:f'{x"]);
  assert.deepEqual(kinds('"ends with \\'), ['string:"ends with \\']);
});

test('numbers', () => {
  assert.deepEqual(kinds('1 1_000 3.14 .5 1. 1e10 2.5E-3 4j 1.5e3J 0xFF 0o17 0b1010 0x_ff'), [
    'number:1', 'number:1_000', 'number:3.14', 'number:.5', 'number:1.', 'number:1e10', 'number:2.5E-3',
    'number:4j', 'number:1.5e3J', 'number:0xFF', 'number:0o17', 'number:0b1010', 'number:0x_ff',
  ]);
  assert.deepEqual(kinds('x[1:2]'), ['name:x', 'punctuation:[', 'number:1', 'punctuation::', 'number:2', 'punctuation:]']);
  assert.deepEqual(kinds('a.b'), ['name:a', 'punctuation:.', 'name:b']);
});

test('comments, operators, punctuation, decorators', () => {
  assert.deepEqual(kinds('x = 1  # set x "not a string"\ny'), [
    'name:x', 'operator:=', 'number:1', 'comment:# set x "not a string"', 'name:y',
  ]);
  assert.deepEqual(kinds('a **= b // c -> d := e != f'), [
    'name:a', 'operator:**=', 'name:b', 'operator://', 'name:c', 'operator:->', 'name:d', 'operator::=', 'name:e',
    'operator:!=', 'name:f',
  ]);
  assert.deepEqual(kinds('@property\n@functools.lru_cache(maxsize=None)\ndef f(): ...'), [
    'function:@property', 'function:@functools.lru_cache', 'punctuation:(', 'name:maxsize', 'operator:=',
    'keyword:None', 'punctuation:)', 'keyword:def', 'function:f', 'punctuation:(', 'punctuation:)', 'punctuation::',
    'punctuation:...',
  ]);
  // `@` in an expression is matrix multiplication, not a decorator.
  assert.deepEqual(kinds('c = a @ b'), ['name:c', 'operator:=', 'name:a', 'operator:@', 'name:b']);
  assert.deepEqual(kinds('x = (\n  @ b)'), ['name:x', 'operator:=', 'punctuation:(', 'operator:@', 'name:b', 'punctuation:)']);
});

test('whitespace is kept in its own tokens, newlines included', () => {
  const tokens = tokenizePython('if x:\n\tpass\r\n');
  assert.deepEqual(
    tokens.map((t) => [t.kind, t.text]),
    [
      ['keyword', 'if'], ['whitespace', ' '], ['name', 'x'], ['punctuation', ':'], ['whitespace', '\n\t'],
      ['keyword', 'pass'], ['whitespace', '\r\n'],
    ],
  );
});

test('a long program round-trips (the panel re-highlights it on every streamed delta)', () => {
  const line = 'result = [compute(x, y="s", z=f"{x!r}") for x in range(10)]  # comment\n';
  const code = line.repeat(2000);
  const tokens = tokenizePython(code);
  assert.equal(joined(tokens), code);
});
