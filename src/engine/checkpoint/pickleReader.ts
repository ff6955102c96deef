// The pickle byte stream: the opcodes torch.save emits, and bounded reads of their operands.
import { damaged } from './pickleErrors';
import type { PickleValue } from './pickleValues';

export const OP = {
  MARK: 0x28, // (
  STOP: 0x2e, // .
  BININT: 0x4a, // J
  BININT1: 0x4b, // K
  BININT2: 0x4d, // M
  NONE: 0x4e, // N
  BINPERSID: 0x51, // Q
  REDUCE: 0x52, // R
  BINSTRING: 0x54, // T
  SHORT_BINSTRING: 0x55, // U
  BINUNICODE: 0x58, // X
  APPEND: 0x61, // a
  BUILD: 0x62, // b
  GLOBAL: 0x63, // c
  DICT: 0x64, // d
  EMPTY_DICT: 0x7d, // }
  APPENDS: 0x65, // e
  BINGET: 0x68, // h
  LONG_BINGET: 0x6a, // j
  LIST: 0x6c, // l
  EMPTY_LIST: 0x5d, // ]
  BINPUT: 0x71, // q
  LONG_BINPUT: 0x72, // r
  SETITEM: 0x73, // s
  TUPLE: 0x74, // t
  EMPTY_TUPLE: 0x29, // )
  SETITEMS: 0x75, // u
  BINFLOAT: 0x47, // G
  PROTO: 0x80,
  NEWOBJ: 0x81,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  BINBYTES: 0x42, // B
  SHORT_BINBYTES: 0x43, // C
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
} as const;

export const HIGHEST_PROTOCOL = 5;

/** What readLiteral returns for an opcode that is not a literal. */
export const NOT_LITERAL = Symbol('not a literal');

/** The value of a literal opcode (None, a bool, a number, a string, bytes) read from its operands, else NOT_LITERAL. */
export function readLiteral(reader: PickleReader, op: number): PickleValue | typeof NOT_LITERAL {
  switch (op) {
    case OP.NONE:
      return null;
    case OP.NEWTRUE:
      return true;
    case OP.NEWFALSE:
      return false;
    case OP.BININT:
      return reader.i32();
    case OP.BININT1:
      return reader.u8();
    case OP.BININT2:
      return reader.u16();
    case OP.LONG1:
      return reader.long(reader.u8());
    case OP.BINFLOAT:
      return reader.f64();
    case OP.BINUNICODE:
      return reader.utf8(reader.u32());
    case OP.SHORT_BINUNICODE:
      return reader.utf8(reader.u8());
    case OP.BINUNICODE8:
      return reader.utf8(reader.u64());
    case OP.BINSTRING:
      return reader.latin1(reader.signedLength());
    case OP.SHORT_BINSTRING:
      return reader.latin1(reader.u8());
    case OP.BINBYTES:
      return reader.take(reader.u32()).slice();
    case OP.SHORT_BINBYTES:
      return reader.take(reader.u8()).slice();
    case OP.BINBYTES8:
      return reader.take(reader.u64()).slice();
    default:
      return NOT_LITERAL;
  }
}

/** Reads the opcode stream; every read is bounded, so a cut pickle is a clear error. */
export class PickleReader {
  private position = 0;
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly source: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** The offset of the next byte to read. */
  get offset(): number {
    return this.position;
  }

  take(n: number): Uint8Array {
    const at = this.skip(n);
    return this.bytes.subarray(at, at + n);
  }

  u8(): number {
    return this.bytes[this.skip(1)];
  }

  u16(): number {
    return this.view.getUint16(this.skip(2), true);
  }

  i32(): number {
    return this.view.getInt32(this.skip(4), true);
  }

  u32(): number {
    return this.view.getUint32(this.skip(4), true);
  }

  /** BINFLOAT is the one big-endian operand. */
  f64(): number {
    return this.view.getFloat64(this.skip(8), false);
  }

  signedLength(): number {
    const n = this.i32();
    if (n < 0) damaged(this.source, `a string of negative length ${n}`);
    return n;
  }

  u64(): number {
    const n = this.view.getBigUint64(this.skip(8), true);
    if (n > BigInt(this.bytes.length)) damaged(this.source, `a length of ${n} bytes in a pickle of ${this.bytes.length}`);
    return Number(n);
  }

  /** A newline-terminated ASCII line (GLOBAL's operands). */
  line(): string {
    const end = this.bytes.indexOf(0x0a, this.position);
    if (end < 0) damaged(this.source, `it ends inside a GLOBAL at byte ${this.position}`);
    const text = latin1(this.bytes.subarray(this.position, end));
    this.position = end + 1;
    return text;
  }

  utf8(n: number): string {
    const bytes = this.take(n);
    try {
      return UTF8.decode(bytes);
    } catch {
      return damaged(this.source, 'a string that is not valid UTF-8');
    }
  }

  latin1(n: number): string {
    return latin1(this.take(n));
  }

  /** LONG1: little-endian two's complement; a number when it fits exactly, else a bigint. */
  long(n: number): number | bigint {
    const bytes = this.take(n);
    let value = 0n;
    for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]);
    if (bytes.length > 0 && bytes[bytes.length - 1] & 0x80) value -= 1n << BigInt(bytes.length * 8);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }

  /** Moves past n bytes and returns where they start. */
  private skip(n: number): number {
    const at = this.position;
    if (n > this.bytes.length - at) damaged(this.source, `it ends inside an opcode at byte ${at}`);
    this.position += n;
    return at;
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}
