// The protocol-buffers wire format, as much as ONNX files need: a reader that walks fields in place (large
// byte fields are returned as offsets, never copied) and a writer that assembles a message from parts by
// reference, so that gigabytes of weights are written to disk once, without a second copy in memory.

export const enum WireType {
  Varint = 0,
  Fixed64 = 1,
  LengthDelimited = 2,
  Fixed32 = 5,
}

export interface Field {
  readonly field: number;
  readonly wireType: WireType;
  /** Varint fields: the value (exact below 2^53; ONNX ints are small). */
  readonly value: number;
  /** Length-delimited fields: the byte range [start, end) of the payload in the buffer. */
  readonly start: number;
  readonly end: number;
}

export class ProtoFormatError extends Error {}

/** Reads a varint at `pos`; returns [value, next position]. */
function readVarint(buf: Uint8Array, pos: number, end: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new ProtoFormatError('truncated varint');
    const b = buf[pos++];
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return [value, pos];
    scale *= 128;
  }
  throw new ProtoFormatError('varint longer than 10 bytes');
}

/** The fields of the message in buf[start, end), in order. */
export function* fields(buf: Uint8Array, start = 0, end = buf.length): Generator<Field> {
  let pos = start;
  while (pos < end) {
    const [key, afterKey] = readVarint(buf, pos, end);
    const field = Math.floor(key / 8);
    const wireType = key & 7;
    pos = afterKey;
    switch (wireType) {
      case WireType.Varint: {
        const [value, next] = readVarint(buf, pos, end);
        yield { field, wireType, value, start: pos, end: next };
        pos = next;
        break;
      }
      case WireType.Fixed64:
        yield { field, wireType, value: 0, start: pos, end: pos + 8 };
        pos += 8;
        break;
      case WireType.Fixed32:
        yield { field, wireType, value: 0, start: pos, end: pos + 4 };
        pos += 4;
        break;
      case WireType.LengthDelimited: {
        const [length, next] = readVarint(buf, pos, end);
        if (next + length > end) throw new ProtoFormatError('length-delimited field runs past its message');
        yield { field, wireType, value: length, start: next, end: next + length };
        pos = next + length;
        break;
      }
      default:
        throw new ProtoFormatError(`unsupported wire type ${wireType}`);
    }
  }
  if (pos !== end) throw new ProtoFormatError('message runs past its end');
}

const textDecoder = new TextDecoder();

export function fieldString(buf: Uint8Array, f: Field): string {
  return textDecoder.decode(buf.subarray(f.start, f.end));
}

/** Packed (or single unpacked) varints of a repeated int field. */
export function fieldVarints(buf: Uint8Array, f: Field): number[] {
  if (f.wireType === WireType.Varint) return [f.value];
  const out: number[] = [];
  for (let pos = f.start; pos < f.end; ) {
    const [v, next] = readVarint(buf, pos, f.end);
    out.push(v);
    pos = next;
  }
  return out;
}

export function fieldFloat(buf: Uint8Array, f: Field): number {
  return new DataView(buf.buffer, buf.byteOffset + f.start, 4).getFloat32(0, true);
}

// ---------------------------------------------------------------------------------------------------------------

function varintBytes(value: number | bigint): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

function smallVarintBytes(value: number): Uint8Array {
  if (value < 0 || !Number.isSafeInteger(value)) return varintBytes(value);
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return Uint8Array.from(out);
}

const textEncoder = new TextEncoder();

/** A message under construction: a list of byte parts, big payloads kept by reference. */
export class ProtoWriter {
  readonly parts: Uint8Array[] = [];
  length = 0;

  private push(part: Uint8Array): void {
    this.parts.push(part);
    this.length += part.length;
  }

  private key(field: number, wireType: WireType): void {
    this.push(smallVarintBytes(field * 8 + wireType));
  }

  int(field: number, value: number | bigint): this {
    this.key(field, WireType.Varint);
    this.push(typeof value === 'bigint' || value < 0 ? varintBytes(value) : smallVarintBytes(value));
    return this;
  }

  float(field: number, value: number): this {
    this.key(field, WireType.Fixed32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  bytes(field: number, payload: Uint8Array): this {
    this.key(field, WireType.LengthDelimited);
    this.push(smallVarintBytes(payload.length));
    if (payload.length > 0) this.push(payload);
    return this;
  }

  string(field: number, text: string): this {
    return this.bytes(field, textEncoder.encode(text));
  }

  message(field: number, sub: ProtoWriter): this {
    this.key(field, WireType.LengthDelimited);
    this.push(smallVarintBytes(sub.length));
    for (const p of sub.parts) this.push(p);
    return this;
  }

  packedInts(field: number, values: readonly (number | bigint)[]): this {
    const sub = new ProtoWriter();
    for (const v of values) sub.push(typeof v === 'bigint' || v < 0 ? varintBytes(v) : smallVarintBytes(v));
    return this.message(field, sub);
  }

  packedFloats(field: number, values: readonly number[]): this {
    const b = new Uint8Array(values.length * 4);
    const view = new DataView(b.buffer);
    values.forEach((v, i) => view.setFloat32(i * 4, v, true));
    return this.bytes(field, b);
  }
}
