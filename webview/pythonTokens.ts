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
  return new PythonScanner(code).run();
}

/** One pass over the code: each method takes the token of its kind at the current position, if there is one. */
class PythonScanner {
  private readonly tokens: PythonToken[] = [];
  private i = 0;
  /** Whether we are at the start of a logical line (only whitespace so far), for decorators and soft keywords. */
  private lineStart = true;
  /** Bracket nesting: newlines inside brackets do not start a logical line. */
  private brackets = 0;
  /** The previous token that is not whitespace or a comment. */
  private previous: PythonToken | undefined;

  constructor(private readonly code: string) {}

  run(): PythonToken[] {
    while (this.i < this.code.length) {
      const taken =
        this.whitespace() ||
        this.comment() ||
        this.string() ||
        this.number() ||
        this.name() ||
        this.decorator() ||
        this.operator() ||
        this.punctuation();
      if (!taken) this.other();
    }
    return this.tokens;
  }

  /** Adds a token and moves past it; any token but whitespace and comments ends the start of a line. */
  private push(kind: PythonTokenKind, text: string): void {
    const token: PythonToken = { kind, text };
    this.tokens.push(token);
    this.i += text.length;
    if (kind === 'whitespace' || kind === 'comment') return;
    this.previous = token;
    this.lineStart = false;
  }

  private whitespace(): boolean {
    const ws = matchAt(WHITESPACE, this.code, this.i);
    if (ws === undefined) return false;
    this.push('whitespace', ws);
    // A newline outside brackets starts a logical line, unless a backslash continues the line.
    if (this.brackets === 0 && /[\r\n]/.test(ws) && !(this.previous?.text === '\\' && /^[ \t\f]*\r?\n/.test(ws))) {
      this.lineStart = true;
      this.previous = undefined;
    }
    return true;
  }

  private comment(): boolean {
    if (this.code[this.i] !== '#') return false;
    this.push('comment', matchAt(COMMENT, this.code, this.i) ?? '#');
    return true;
  }

  private string(): boolean {
    const prefix = matchAt(STRING_PREFIX, this.code, this.i) ?? '';
    const quote = this.code[this.i + prefix.length];
    if (quote !== "'" && quote !== '"') return false;
    const lower = prefix.toLowerCase();
    const end = stringEnd(this.code, this.i + prefix.length, lower.includes('f') || lower.includes('t'));
    this.push('string', this.code.slice(this.i, end));
    return true;
  }

  private number(): boolean {
    const c = this.code[this.i];
    if (!/[0-9]/.test(c) && !(c === '.' && /[0-9]/.test(this.code[this.i + 1] ?? ''))) return false;
    this.push('number', matchAt(NUMBER, this.code, this.i) ?? c);
    return true;
  }

  private name(): boolean {
    const identifier = matchAt(IDENTIFIER, this.code, this.i);
    if (identifier === undefined) return false;
    this.push(classifyName(this.code, this.i + identifier.length, identifier, this.previous, this.lineStart), identifier);
    return true;
  }

  private decorator(): boolean {
    if (this.code[this.i] !== '@' || !this.lineStart) return false;
    const decorator = matchAt(DECORATOR, this.code, this.i);
    if (decorator === undefined) return false;
    this.push('function', decorator);
    return true;
  }

  private operator(): boolean {
    const operator = OPERATORS.find((op) => this.code.startsWith(op, this.i));
    if (operator === undefined) return false;
    this.push('operator', operator);
    return true;
  }

  private punctuation(): boolean {
    const punctuation = matchAt(PUNCTUATION, this.code, this.i);
    if (punctuation === undefined) return false;
    if ('([{'.includes(punctuation)) this.brackets += 1;
    else if (')]}'.includes(punctuation)) this.brackets = Math.max(0, this.brackets - 1);
    const lineStart = this.lineStart;
    this.push('punctuation', punctuation);
    if (punctuation === '\\') this.lineStart = lineStart; // a line continuation keeps the line's start
    return true;
  }

  /** Anything else (`$`, `?`, a backtick, an emoji, a lone surrogate): one code point of punctuation. */
  private other(): void {
    const codePoint = this.code.codePointAt(this.i) ?? 0;
    this.push('punctuation', this.code.slice(this.i, this.i + (codePoint > 0xffff ? 2 : 1)));
  }
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
