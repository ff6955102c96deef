// A small Python tokenizer for syntax colouring in the panel. Pure (no DOM, no Node): it runs in the webview
// bundle and in node's test runner. It never fails and never loses a character: the token texts concatenate
// exactly to the input, whatever the input is (code still streaming in, with an unterminated string, or not
// Python at all). It colours; it does not validate.

export type PythonTokenKind =
  | 'keyword'
  | 'builtin'
  | 'string'
  | 'number'
  | 'comment'
  | 'operator'
  | 'name'
  | 'function'
  | 'whitespace'
  | 'punctuation';

export interface PythonToken {
  readonly kind: PythonTokenKind;
  readonly text: string;
}

const KEYWORDS: ReadonlySet<string> = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def', 'del',
  'elif', 'else', 'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal',
  'not', 'or', 'pass', 'raise', 'return', 'try', 'while', 'with', 'yield',
]);

/** Soft keywords: keywords only at the start of a statement (`match x:`, `case 1:`, `type X = int`). */
const SOFT_KEYWORDS: ReadonlySet<string> = new Set(['match', 'case', 'type']);

const BUILTINS: ReadonlySet<string> = new Set([
  'abs', 'aiter', 'all', 'anext', 'any', 'ascii', 'bin', 'bool', 'breakpoint', 'bytearray', 'bytes', 'callable',
  'chr', 'classmethod', 'compile', 'complex', 'delattr', 'dict', 'dir', 'divmod', 'enumerate', 'eval', 'exec',
  'filter', 'float', 'format', 'frozenset', 'getattr', 'globals', 'hasattr', 'hash', 'help', 'hex', 'id', 'input',
  'int', 'isinstance', 'issubclass', 'iter', 'len', 'list', 'locals', 'map', 'max', 'memoryview', 'min', 'next',
  'object', 'oct', 'open', 'ord', 'pow', 'print', 'property', 'range', 'repr', 'reversed', 'round', 'set',
  'setattr', 'slice', 'sorted', 'staticmethod', 'str', 'sum', 'super', 'tuple', 'type', 'vars', 'zip',
  '__import__', 'self', 'cls', 'NotImplemented', 'Ellipsis', '__name__', '__file__',
  'Exception', 'BaseException', 'ValueError', 'TypeError', 'KeyError', 'IndexError', 'AttributeError',
  'RuntimeError', 'StopIteration', 'NotImplementedError', 'ZeroDivisionError', 'OSError', 'FileNotFoundError',
  'ImportError', 'AssertionError', 'ArithmeticError', 'LookupError', 'NameError', 'OverflowError',
  'KeyboardInterrupt', 'SystemExit', 'UnicodeError', 'PermissionError', 'TimeoutError', 'Warning',
]);

// Longest first, so that `**=` wins over `**` and `*`.
const OPERATORS: readonly string[] = [
  '**=', '//=', '>>=', '<<=',
  '->', ':=', '==', '!=', '<=', '>=', '**', '//', '<<', '>>',
  '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '@=',
  '+', '-', '*', '/', '%', '&', '|', '^', '~', '<', '>', '=', '@', '!',
];

const WHITESPACE = /[ \t\f\v\r\n\u00a0\ufeff]+/y;
const COMMENT = /#[^\r\n]*/y;
// Identifiers: Unicode letters, `_`, then letters, digits, combining marks and connector punctuation.
const IDENTIFIER = /[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*/uy;
const NUMBER =
  /(?:0[xX](?:_?[0-9a-fA-F])*|0[oO](?:_?[0-7])*|0[bB](?:_?[01])*|(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?[jJ]?)/y;
// A string prefix (any case, any order Python allows, plus 3.14's t-strings) directly followed by a quote.
const STRING_PREFIX = /(?:[rR][bBfFtT]?|[bBfFtT][rR]?|[uU])?(?=['"])/y;
// `@name.name` at the start of a logical line: a decorator, coloured as a function name.
const DECORATOR = /@[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}.]*/uy;
const PUNCTUATION = /\.\.\.|[()[\]{},:;.\\]/y;

function matchAt(re: RegExp, text: string, at: number): string | undefined {
  re.lastIndex = at;
  const m = re.exec(text);
  return m !== null && m[0].length > 0 ? m[0] : undefined;
}

/**
 * The end (exclusive) of the string literal whose opening quote is at `quoteAt`. Unterminated strings end at
 * the end of their line (single-quoted) or of the input (triple-quoted). In f-strings (and t-strings),
 * replacement fields `{...}` may hold nested strings with the same quote (Python 3.12), which are skipped.
 */
function stringEnd(code: string, quoteAt: number, formatted: boolean): number {
  const quote = code[quoteAt];
  const triple = code.startsWith(quote.repeat(3), quoteAt);
  let i = quoteAt + (triple ? 3 : 1);
  let depth = 0; // open replacement-field braces (f-strings only)
  while (i < code.length) {
    const c = code[i];
    if (depth === 0) {
      if (c === '\\') {
        // An escape; in a raw string too, a backslash keeps the next character from ending the string.
        i += 2;
        continue;
      }
      if (triple ? code.startsWith(quote.repeat(3), i) : c === quote) return i + (triple ? 3 : 1);
      if (!triple && (c === '\n' || c === '\r')) return i;
      if (formatted && c === '{') {
        if (code[i + 1] === '{') i += 2;
        else {
          depth = 1;
          i += 1;
        }
        continue;
      }
      i += 1;
      continue;
    }
    // Inside a replacement field: an expression, which may hold strings of its own (with the same quote, since
    // Python 3.12).
    if (!triple && (c === '\n' || c === '\r')) return i;
    if (c === '{') depth += 1;
    else if (c === '}') depth -= 1;
    else if (c === "'" || c === '"') {
      i = stringEnd(code, i, false);
      continue;
    }
    i += 1;
  }
  return code.length;
}

/** Tokens of `code`, in order; their texts concatenate exactly to `code`. */
export function tokenizePython(code: string): PythonToken[] {
  const tokens: PythonToken[] = [];
  let i = 0;
  // Whether we are at the start of a logical line (only whitespace so far), for decorators and soft keywords.
  let lineStart = true;
  // Bracket nesting: newlines inside brackets do not start a logical line.
  let brackets = 0;
  let previous: PythonToken | undefined; // the previous token that is not whitespace or a comment
  const push = (kind: PythonTokenKind, text: string): void => {
    const token: PythonToken = { kind, text };
    tokens.push(token);
    if (kind !== 'whitespace' && kind !== 'comment') previous = token;
  };

  while (i < code.length) {
    const c = code[i];

    const ws = matchAt(WHITESPACE, code, i);
    if (ws !== undefined) {
      push('whitespace', ws);
      if (brackets === 0 && /[\r\n]/.test(ws) && !(previous?.text === '\\' && /^[ \t\f]*\r?\n/.test(ws))) {
        lineStart = true;
        previous = undefined;
      }
      i += ws.length;
      continue;
    }

    if (c === '#') {
      const comment = matchAt(COMMENT, code, i) ?? c;
      push('comment', comment);
      i += comment.length;
      continue;
    }

    const prefix = matchAt(STRING_PREFIX, code, i) ?? '';
    if (code[i + prefix.length] === "'" || code[i + prefix.length] === '"') {
      const lower = prefix.toLowerCase();
      const end = stringEnd(code, i + prefix.length, lower.includes('f') || lower.includes('t'));
      push('string', code.slice(i, end));
      i = end;
      lineStart = false;
      continue;
    }

    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(code[i + 1] ?? ''))) {
      const number = matchAt(NUMBER, code, i) ?? c;
      push('number', number);
      i += number.length;
      lineStart = false;
      continue;
    }

    const identifier = matchAt(IDENTIFIER, code, i);
    if (identifier !== undefined) {
      push(classifyName(code, i + identifier.length, identifier, previous, lineStart), identifier);
      i += identifier.length;
      lineStart = false;
      continue;
    }

    if (c === '@' && lineStart) {
      const decorator = matchAt(DECORATOR, code, i);
      if (decorator !== undefined) {
        push('function', decorator);
        i += decorator.length;
        lineStart = false;
        continue;
      }
    }

    const operator = OPERATORS.find((op) => code.startsWith(op, i));
    if (operator !== undefined) {
      push('operator', operator);
      i += operator.length;
      lineStart = false;
      continue;
    }

    const punctuation = matchAt(PUNCTUATION, code, i);
    if (punctuation !== undefined) {
      if ('([{'.includes(punctuation)) brackets += 1;
      else if (')]}'.includes(punctuation)) brackets = Math.max(0, brackets - 1);
      push('punctuation', punctuation);
      i += punctuation.length;
      if (punctuation !== '\\') lineStart = false;
      continue;
    }

    // Anything else (`$`, `?`, a backtick, an emoji, a lone surrogate): one code point of punctuation.
    const codePoint = code.codePointAt(i) ?? 0;
    const width = codePoint > 0xffff ? 2 : 1;
    push('punctuation', code.slice(i, i + width));
    i += width;
    lineStart = false;
  }
  return tokens;
}

function classifyName(
  code: string,
  after: number,
  name: string,
  previous: PythonToken | undefined,
  lineStart: boolean,
): PythonTokenKind {
  const afterDot = previous?.text === '.';
  if (!afterDot && KEYWORDS.has(name)) return 'keyword';
  // The name being defined: `def name`, `class name`.
  if (previous?.kind === 'keyword' && (previous.text === 'def' || previous.text === 'class')) return 'function';
  const rest = code.slice(after, after + 80);
  if (!afterDot && lineStart && SOFT_KEYWORDS.has(name) && isSoftKeywordUse(name, rest)) return 'keyword';
  const called = /^[ \t]*\(/.test(rest);
  if (!afterDot && BUILTINS.has(name)) return 'builtin';
  return called ? 'function' : 'name';
}

/** `match x:` / `case y:` / `type X = ...` rather than a name used as a variable (`match = 1`, `type(x)`). */
function isSoftKeywordUse(name: string, rest: string): boolean {
  const line = /^[^\r\n]*/.exec(rest)?.[0] ?? '';
  if (name === 'type') return /^[ \t]+[\p{L}_][\p{L}\p{N}_]*[ \t]*(?:\[[^\]]*\])?[ \t]*=(?!=)/u.test(line);
  return /^[ \t]+(?![=.,:;)\]}])[^#]*:[ \t]*(?:#.*)?$/.test(line);
}
