// The paper's turn stop rules (codegen1's `truncate`), applied while streaming so that generation stops as soon
// as a turn is complete and no text past the turn's end is ever emitted.

const TERMINALS = [/^#/m, /<\|endoftext\|>/, /^'''/m, /^"""/m, /\n\n\n/];
/** Line starts that may still become a terminal or a second print/def when more text arrives. */
const LINE_START_MARKERS = ['#', "'''", '"""', 'print', 'def'];
const EOS_TEXT = '<|endoftext|>';

/**
 * codegen1's truncate(): cut before a second top-level `print`, then before a second top-level `def`, then at
 * the first of: a line starting with `#`, `<|endoftext|>`, a line starting with `'''` or `"""`, three newlines.
 * Like the original, the patterns have no word boundary (`^print` also matches `printer = 1`).
 */
export function truncateCompletion(completion: string): string {
  let text = cutAtSecond(completion, /^print/gm);
  text = cutAtSecond(text, /^def/gm);
  let end = text.length;
  for (const terminal of TERMINALS) {
    const m = terminal.exec(text);
    if (m && m.index < end) end = m.index;
  }
  return text.slice(0, end);
}

function cutAtSecond(text: string, pattern: RegExp): string {
  pattern.lastIndex = 0;
  let count = 0;
  for (let m = pattern.exec(text); m; m = pattern.exec(text)) {
    if (++count === 2) return text.slice(0, m.index);
  }
  return text;
}

/**
 * How much of a not-yet-truncated completion can be shown for sure: everything except a tail that more text could
 * still turn into a cut (a last line that is a prefix of a line-start marker, trailing newlines that could become
 * three, a partial `<|endoftext|>`). Any later cut happens at or after this point.
 */
export function settledLength(text: string): number {
  const lastNewline = text.lastIndexOf('\n');
  const lastLine = text.slice(lastNewline + 1);
  let settled = text.length;
  if (lastLine === '') {
    let runStart = lastNewline;
    while (runStart > 0 && text[runStart - 1] === '\n') runStart--;
    settled = runStart;
  } else if (LINE_START_MARKERS.some((m) => m.length > lastLine.length && m.startsWith(lastLine))) {
    settled = lastNewline + 1;
  }
  for (let k = Math.min(EOS_TEXT.length - 1, text.length); k > 0; k--) {
    if (text.endsWith(EOS_TEXT.slice(0, k))) {
      settled = Math.min(settled, text.length - k);
      break;
    }
  }
  return settled;
}

/**
 * Accumulates decoded text and says what may be shown. With `turn`, it holds back what a turn rule could still
 * cut and reports when the turn has ended; with `none`, everything passes through.
 */
export class TurnStopper {
  private raw = '';
  private shown = 0;
  private finalText: string | undefined;

  constructor(private readonly mode: 'turn' | 'none') {}

  /** Adds decoded text; returns the text that may be shown now (possibly empty). */
  push(delta: string): string {
    if (this.finalText !== undefined) return '';
    this.raw += delta;
    if (this.mode === 'none') return this.reveal(this.raw.length);
    const truncated = truncateCompletion(this.raw);
    if (truncated.length < this.raw.length) {
      this.finalText = truncated;
      return this.reveal(truncated.length);
    }
    return this.reveal(settledLength(this.raw));
  }

  /** True once a turn rule has fired: nothing more will be shown. */
  get ended(): boolean {
    return this.finalText !== undefined;
  }

  /** Generation is over (EOS, budget, cancel): releases whatever was held and returns it. */
  finish(): string {
    if (this.finalText === undefined) {
      this.finalText = this.mode === 'turn' ? truncateCompletion(this.raw) : this.raw;
    }
    return this.reveal(this.finalText.length);
  }

  get text(): string {
    return this.finalText ?? this.raw.slice(0, this.shown);
  }

  get rawText(): string {
    return this.raw;
  }

  private reveal(upTo: number): string {
    if (upTo <= this.shown) return '';
    const delta = this.raw.slice(this.shown, upTo);
    this.shown = upTo;
    return delta;
  }
}
