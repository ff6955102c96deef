// CodeGen's tokenizer: GPT-2 byte-level BPE (tiktoken's `gpt2` has the same ids) plus 38 added whitespace
// tokens (runs of 2..31 spaces, 2..9 tabs) that are matched on the raw text, leftmost-longest, before BPE.
import { Tiktoken } from 'tiktoken/lite';
import type { TokenId } from '../protocol/engine';

export const EOS_ID: TokenId = 50256;
/** Ids the tokenizer can produce: 50257 GPT-2 ids + 38 whitespace ids. The model's logits have 51200. */
export const TOKENIZER_VOCAB_SIZE = 50295;

const MAX_SPACE_RUN = 31; // ids 50257..50286: 31 down to 2 spaces (id = 50288 - n)
const MAX_TAB_RUN = 9; // ids 50287..50294: 9 down to 2 tabs (id = 50296 - n)
const spaceRunId = (n: number): TokenId => 50288 - n;
const tabRunId = (n: number): TokenId => 50296 - n;

export interface TokenWithSpan {
  readonly id: TokenId;
  /** UTF-16 span in the encoded text; a token holding part of a multi-byte character covers that character. */
  readonly start: number;
  readonly end: number;
}

let sharedBpe: Tiktoken | undefined;
function bpe(): Tiktoken {
  // Parsing the rank table takes ~100 ms: do it once per process. The lite build with only the gpt2 ranks keeps
  // the other encodings (about 20 MB) out of the extension.
  if (!sharedBpe) {
    const gpt2 = require('tiktoken/encoders/gpt2.json') as { bpe_ranks: string; special_tokens: Record<string, number>; pat_str: string };
    sharedBpe = new Tiktoken(gpt2.bpe_ranks, gpt2.special_tokens, gpt2.pat_str);
  }
  return sharedBpe;
}

/** Splits text into added whitespace runs and the pieces between them, as the HF tokenizer does. */
function* splitAddedTokens(text: string): Generator<{ start: number; end: number; id?: TokenId }> {
  const runs = / {2,}|\t{2,}/g;
  let pending = 0; // start of the text not yet emitted
  for (let m = runs.exec(text); m; m = runs.exec(text)) {
    if (m.index > pending) yield { start: pending, end: m.index };
    const isSpace = m[0][0] === ' ';
    const max = isSpace ? MAX_SPACE_RUN : MAX_TAB_RUN;
    let pos = m.index;
    let left = m[0].length;
    while (left >= 2) {
      const n = Math.min(left, max);
      yield { start: pos, end: pos + n, id: isSpace ? spaceRunId(n) : tabRunId(n) };
      pos += n;
      left -= n;
    }
    // A lone leftover space or tab is not an added token: it joins the BPE piece that follows.
    pending = pos;
  }
  if (pending < text.length) yield { start: pending, end: text.length };
}

export class CodeGenTokenizer {
  private readonly bytesCache: (Uint8Array | undefined)[] = [];

  encode(text: string): TokenId[] {
    const ids: TokenId[] = [];
    for (const piece of splitAddedTokens(text)) {
      if (piece.id !== undefined) ids.push(piece.id);
      else for (const id of bpe().encode_ordinary(text.slice(piece.start, piece.end))) ids.push(id);
    }
    return ids;
  }

  /** Tokens with their character spans in `text` (for per-token surprisal). */
  encodeWithSpans(text: string): TokenWithSpan[] {
    const out: TokenWithSpan[] = [];
    for (const piece of splitAddedTokens(text)) {
      if (piece.id !== undefined) {
        out.push({ id: piece.id, start: piece.start, end: piece.end });
        continue;
      }
      const segment = text.slice(piece.start, piece.end);
      const byteToChar = utf16OffsetsOfBytes(segment);
      let byte = 0;
      for (const id of bpe().encode_ordinary(segment)) {
        const len = this.tokenBytes(id).length;
        const start = byteToChar.floor[byte];
        const end = byteToChar.ceil[byte + len];
        out.push({ id, start: piece.start + start, end: piece.start + end });
        byte += len;
      }
    }
    return out;
  }

  /** The raw bytes of one token (whitespace runs as plain spaces or tabs). */
  tokenBytes(id: TokenId): Uint8Array {
    let bytes = this.bytesCache[id];
    if (bytes) return bytes;
    if (!Number.isInteger(id) || id < 0 || id >= TOKENIZER_VOCAB_SIZE) {
      throw new RangeError(`token id ${id} is outside the tokenizer's vocabulary (0..${TOKENIZER_VOCAB_SIZE - 1})`);
    }
    if (id >= 50287) bytes = new Uint8Array(50296 - id).fill(0x09);
    else if (id >= 50257) bytes = new Uint8Array(50288 - id).fill(0x20);
    else bytes = bpe().decode_single_token_bytes(id);
    this.bytesCache[id] = bytes;
    return bytes;
  }

  decode(ids: readonly TokenId[]): string {
    const decoder = new StreamingDecoder(this);
    let text = '';
    for (const id of ids) text += decoder.push(id);
    return text + decoder.flush();
  }
}

/**
 * Turns ids into text as they arrive, holding back the bytes of a character until it is complete, so that
 * no delta ever ends in half a UTF-8 sequence.
 */
export class StreamingDecoder {
  // ignoreBOM: a U+FEFF at the start is text the model wrote (or the prompt held), not a byte order mark.
  private readonly utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
  constructor(private readonly tokenizer: CodeGenTokenizer) {}

  push(id: TokenId): string {
    return this.utf8.decode(this.tokenizer.tokenBytes(id), { stream: true });
  }

  /** Whatever is still held (an incomplete sequence at the very end becomes U+FFFD). */
  flush(): string {
    return this.utf8.decode();
  }
}

/** For each byte offset of `s` in UTF-8, the UTF-16 offset of the character it falls in (floor) or ends (ceil). */
function utf16OffsetsOfBytes(s: string): { floor: Int32Array; ceil: Int32Array } {
  const byteLength = Buffer.byteLength(s, 'utf8');
  const floor = new Int32Array(byteLength + 1);
  const ceil = new Int32Array(byteLength + 1);
  let byte = 0;
  for (let i = 0; i < s.length; ) {
    const cp = s.codePointAt(i)!;
    const units = cp > 0xffff ? 2 : 1;
    const nBytes = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    for (let k = 0; k < nBytes; k++) {
      floor[byte + k] = i;
      ceil[byte + k] = k === 0 ? i : i + units;
    }
    byte += nBytes;
    i += units;
  }
  floor[byteLength] = s.length;
  ceil[byteLength] = s.length;
  return { floor, ceil };
}
