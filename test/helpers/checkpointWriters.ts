// Small writers for the checkpoint formats, so tests build their fixtures: a pickle writer that emits what
// torch.save (protocol 2) emits for an OrderedDict of tensors, a ZIP writer (STORED entries, optionally with every
// ZIP64 record forced), and a safetensors writer. They write only what the readers need to be tested against.
import * as zlib from 'node:zlib';
import type { TensorDType } from '../../src/engine/checkpoint/tensorFile';

// Pickle.

export const PICKLE = {
  MARK: 0x28,
  STOP: 0x2e,
  BININT: 0x4a,
  BININT1: 0x4b,
  BININT2: 0x4d,
  BINPERSID: 0x51,
  REDUCE: 0x52,
  BINUNICODE: 0x58,
  BUILD: 0x62,
  GLOBAL: 0x63,
  EMPTY_DICT: 0x7d,
  EMPTY_LIST: 0x5d,
  APPEND: 0x61,
  BINGET: 0x68,
  LONG_BINGET: 0x6a,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  SETITEM: 0x73,
  SETITEMS: 0x75,
  TUPLE: 0x74,
  EMPTY_TUPLE: 0x29,
  PROTO: 0x80,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  SHORT_BINUNICODE: 0x8c,
  STACK_GLOBAL: 0x93,
  MEMOIZE: 0x94,
  FRAME: 0x95,
} as const;

/** Emits opcodes; strings and globals are memoized (BINPUT, then BINGET) the way Python's pickler does. */
export class PickleWriter {
  private readonly out: number[] = [];
  private readonly memo = new Map<string, number>();

  op(...bytes: number[]): this {
    this.out.push(...bytes);
    return this;
  }

  proto(version: number): this {
    return this.op(PICKLE.PROTO, version);
  }

  global(module: string, name: string): this {
    if (this.recall(`global ${module} ${name}`)) return this;
    this.op(PICKLE.GLOBAL, ...Buffer.from(`${module}\n${name}\n`, 'latin1'));
    return this.put(`global ${module} ${name}`);
  }

  /** Protocol 4's way: the module and name as strings on the stack. */
  stackGlobal(module: string, name: string): this {
    this.shortUnicode(module).memoize().shortUnicode(name).memoize();
    return this.op(PICKLE.STACK_GLOBAL).memoize();
  }

  memoize(): this {
    return this.op(PICKLE.MEMOIZE).remember(`anonymous ${this.memo.size}`);
  }

  string(text: string): this {
    if (this.recall(`string ${text}`)) return this;
    const bytes = Buffer.from(text, 'utf8');
    this.op(PICKLE.BINUNICODE, ...u32(bytes.length), ...bytes);
    return this.put(`string ${text}`);
  }

  shortUnicode(text: string): this {
    const bytes = Buffer.from(text, 'utf8');
    return this.op(PICKLE.SHORT_BINUNICODE, bytes.length, ...bytes);
  }

  int(n: number): this {
    if (n >= 0 && n < 0x100) return this.op(PICKLE.BININT1, n);
    if (n >= 0 && n < 0x10000) return this.op(PICKLE.BININT2, n & 0xff, n >> 8);
    if (n >= -0x80000000 && n < 0x80000000) return this.op(PICKLE.BININT, ...u32(n >>> 0));
    const bytes: number[] = [];
    let value = BigInt(n);
    do {
      bytes.push(Number(value & 0xffn));
      value >>= 8n;
    } while (value !== 0n || (bytes[bytes.length - 1] & 0x80) !== 0);
    return this.op(PICKLE.LONG1, bytes.length, ...bytes);
  }

  /** A tuple of the values `items` writes, with the opcode Python picks for its length. */
  tuple(count: number, items: () => void): this {
    if (count === 0) return this.op(PICKLE.EMPTY_TUPLE);
    if (count <= 3) {
      items();
      return this.op(PICKLE.TUPLE1 + count - 1).putAnonymous();
    }
    this.op(PICKLE.MARK);
    items();
    return this.op(PICKLE.TUPLE).putAnonymous();
  }

  intTuple(values: readonly number[]): this {
    return this.tuple(values.length, () => values.forEach((v) => this.int(v)));
  }

  putAnonymous(): this {
    return this.put(`anonymous ${this.memo.size}`);
  }

  bytes(): Buffer {
    return Buffer.from(this.out);
  }

  private recall(key: string): boolean {
    const index = this.memo.get(key);
    if (index === undefined) return false;
    if (index < 256) this.op(PICKLE.BINGET, index);
    else this.op(PICKLE.LONG_BINGET, ...u32(index));
    return true;
  }

  private put(key: string): this {
    const index = this.memo.size;
    if (index < 256) this.op(PICKLE.BINPUT, index);
    else this.op(PICKLE.LONG_BINPUT, ...u32(index));
    return this.remember(key);
  }

  /** MEMOIZE (protocol 4) stores at the next free index, so it keeps the memo's count too. */
  private remember(key: string): this {
    this.memo.set(key, this.memo.size);
    return this;
  }
}

export type StorageClass = 'HalfStorage' | 'FloatStorage' | 'BFloat16Storage' | 'DoubleStorage' | 'LongStorage' | 'IntStorage' | 'BoolStorage' | 'ByteStorage';

export interface PickledTensor {
  readonly name: string;
  readonly storageClass: StorageClass;
  readonly key: string;
  /** Elements in the whole storage. */
  readonly storageNumel: number;
  readonly offset: number;
  readonly shape: readonly number[];
  /** Row-major when left out. */
  readonly stride?: readonly number[];
}

export function rowMajorStride(shape: readonly number[]): number[] {
  const stride: number[] = new Array<number>(shape.length);
  let step = 1;
  for (let dim = shape.length - 1; dim >= 0; dim--) {
    stride[dim] = step;
    step *= shape[dim];
  }
  return stride;
}

export interface StateDictPickleOptions {
  /** Writes more key/value pairs into the dict after the tensors (e.g. a hostile value). */
  readonly extraItems?: (w: PickleWriter) => void;
  /** Ends with BUILD of {'_metadata': OrderedDict({'': {'version': 1}})}, as model.state_dict() has (default true). */
  readonly metadata?: boolean;
}

/** What torch.save (protocol 2) writes for an OrderedDict of tensors, opcode for opcode. */
export function stateDictPickle(tensors: readonly PickledTensor[], options: StateDictPickleOptions = {}): Buffer {
  const w = new PickleWriter().proto(2);
  w.global('collections', 'OrderedDict').op(PICKLE.EMPTY_TUPLE, PICKLE.REDUCE).putAnonymous();
  w.op(PICKLE.MARK);
  for (const t of tensors) {
    w.string(t.name);
    w.global('torch._utils', '_rebuild_tensor_v2');
    w.op(PICKLE.MARK);
    w.op(PICKLE.MARK).string('storage').global('torch', t.storageClass).string(t.key).string('cpu').int(t.storageNumel).op(PICKLE.TUPLE).putAnonymous();
    w.op(PICKLE.BINPERSID);
    w.int(t.offset).intTuple(t.shape).intTuple(t.stride ?? rowMajorStride(t.shape));
    w.op(PICKLE.NEWFALSE);
    w.global('collections', 'OrderedDict').op(PICKLE.EMPTY_TUPLE, PICKLE.REDUCE).putAnonymous();
    w.op(PICKLE.TUPLE).putAnonymous().op(PICKLE.REDUCE).putAnonymous();
  }
  options.extraItems?.(w);
  w.op(PICKLE.SETITEMS);
  if (options.metadata ?? true) {
    w.op(PICKLE.EMPTY_DICT).putAnonymous().string('_metadata');
    w.global('collections', 'OrderedDict').op(PICKLE.EMPTY_TUPLE, PICKLE.REDUCE).putAnonymous();
    w.string('').op(PICKLE.EMPTY_DICT).putAnonymous().string('version').int(1);
    w.op(PICKLE.SETITEM, PICKLE.SETITEM, PICKLE.SETITEM, PICKLE.BUILD);
  }
  return w.op(PICKLE.STOP).bytes();
}

// ZIP.

export interface ZipInput {
  readonly name: string;
  readonly data: Uint8Array;
  /** Written as the method field only; the data is never compressed. */
  readonly method?: number;
}

export interface ZipOptions {
  /** Write every size and offset through ZIP64 records, as a file over 4 GB would need. */
  readonly zip64?: boolean;
  /** Align data to this many bytes with a padding extra field in the local header, as PyTorch does (64). */
  readonly align?: number;
}

const U32_MAX = 0xffffffff;

export function writeZip(entries: readonly ZipInput[], options: ZipOptions = {}): Buffer {
  const zip64 = options.zip64 ?? false;
  const align = options.align ?? 64;
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const crc = zlib.crc32(entry.data);
    const method = entry.method ?? 0;
    const localZip64 = zip64 ? extraField(0x0001, [u64(entry.data.length), u64(entry.data.length)]) : Buffer.alloc(0);
    const unpadded = offset + 30 + name.length + localZip64.length;
    const padding = align > 1 ? (align - ((unpadded + 4) % align)) % align : 0;
    const localExtra = align > 1 ? Buffer.concat([localZip64, extraField(0x4246, [Buffer.alloc(padding)])]) : localZip64;
    const sizeField = zip64 ? U32_MAX : entry.data.length;
    const local = Buffer.concat([
      u32b(0x04034b50), u16b(zip64 ? 45 : 20), u16b(0x800), u16b(method), u16b(0), u16b(0x21),
      u32b(crc), u32b(sizeField), u32b(sizeField), u16b(name.length), u16b(localExtra.length), name, localExtra,
    ]);
    const centralExtra = zip64 ? extraField(0x0001, [u64(entry.data.length), u64(entry.data.length), u64(offset)]) : Buffer.alloc(0);
    central.push(Buffer.concat([
      u32b(0x02014b50), u16b(zip64 ? 45 : 20), u16b(zip64 ? 45 : 20), u16b(0x800), u16b(method), u16b(0), u16b(0x21),
      u32b(crc), u32b(sizeField), u32b(sizeField), u16b(name.length), u16b(centralExtra.length), u16b(0), u16b(0), u16b(0), u32b(0),
      u32b(zip64 ? U32_MAX : offset), name, centralExtra,
    ]));
    parts.push(local, Buffer.from(entry.data));
    offset += local.length + entry.data.length;
  }
  const directory = Buffer.concat(central);
  parts.push(directory);
  const directoryOffset = offset;
  offset += directory.length;
  if (zip64) {
    const recordOffset = offset;
    parts.push(Buffer.concat([
      u32b(0x06064b50), u64(44), u16b(45), u16b(45), u32b(0), u32b(0),
      u64(entries.length), u64(entries.length), u64(directory.length), u64(directoryOffset),
    ]));
    parts.push(Buffer.concat([u32b(0x07064b50), u32b(0), u64(recordOffset), u32b(1)]));
  }
  parts.push(Buffer.concat([
    u32b(0x06054b50), u16b(0), u16b(0),
    u16b(zip64 ? 0xffff : entries.length), u16b(zip64 ? 0xffff : entries.length),
    u32b(zip64 ? U32_MAX : directory.length), u32b(zip64 ? U32_MAX : directoryOffset), u16b(0),
  ]));
  return Buffer.concat(parts);
}

function extraField(id: number, chunks: Buffer[]): Buffer {
  const body = Buffer.concat(chunks);
  return Buffer.concat([u16b(id), u16b(body.length), body]);
}

// PyTorch checkpoint.

export interface StorageInput {
  readonly key: string;
  readonly storageClass: StorageClass;
  readonly values: readonly number[];
}

export interface CheckpointOptions extends ZipOptions {
  /** The archive folder: torch.save names it after the file's stem (or `archive`). */
  readonly prefix?: string;
  readonly byteorder?: string;
  /** Replaces the pickle torch.save would write. */
  readonly pickle?: Buffer;
}

/** A whole pytorch_model.bin: data.pkl, the storages, version (and byteorder when asked). */
export function writeTorchCheckpoint(storages: readonly StorageInput[], tensors: readonly Omit<PickledTensor, 'storageClass' | 'storageNumel'>[], options: CheckpointOptions = {}): Buffer {
  const prefix = options.prefix ?? 'archive';
  const byKey = new Map(storages.map((s) => [s.key, s]));
  const pickled = tensors.map((t) => {
    const storage = byKey.get(t.key)!;
    return { ...t, storageClass: storage.storageClass, storageNumel: storage.values.length };
  });
  const entries: ZipInput[] = [{ name: `${prefix}/data.pkl`, data: options.pickle ?? stateDictPickle(pickled) }];
  if (options.byteorder !== undefined) entries.push({ name: `${prefix}/byteorder`, data: Buffer.from(options.byteorder) });
  for (const s of storages) entries.push({ name: `${prefix}/data/${s.key}`, data: encodeValues(STORAGE_DTYPE[s.storageClass], s.values) });
  entries.push({ name: `${prefix}/version`, data: Buffer.from('3\n') });
  return writeZip(entries, options);
}

const STORAGE_DTYPE: Record<StorageClass, TensorDType> = {
  HalfStorage: 'F16',
  FloatStorage: 'F32',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  BoolStorage: 'BOOL',
  ByteStorage: 'U8',
};

// Safetensors.

export interface SafetensorsInput {
  readonly name: string;
  readonly dtype: TensorDType;
  readonly shape: readonly number[];
  readonly values: readonly number[];
}

/** A safetensors file; `header` edits the JSON header after it is built (to make it lie). */
export function writeSafetensors(tensors: readonly SafetensorsInput[], edit?: (header: Record<string, unknown>) => void): Buffer {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const data: Buffer[] = [];
  let offset = 0;
  for (const t of tensors) {
    const bytes = encodeValues(t.dtype, t.values);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    data.push(bytes);
    offset += bytes.length;
  }
  edit?.(header);
  return safetensorsBytes(JSON.stringify(header), Buffer.concat(data));
}

/** The raw layout: length, header text (padded with spaces to 8 bytes, as the reference writer does), data. */
export function safetensorsBytes(headerText: string, data: Uint8Array, headerLength?: bigint): Buffer {
  let text = Buffer.from(headerText, 'utf8');
  if (text.length % 8) text = Buffer.concat([text, Buffer.alloc(8 - (text.length % 8), 0x20)]);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(headerLength ?? BigInt(text.length));
  return Buffer.concat([length, text, data]);
}

// Values.

export function encodeValues(dtype: TensorDType, values: readonly number[]): Buffer {
  switch (dtype) {
    case 'F32':
      return Buffer.from(Float32Array.from(values).buffer);
    case 'F64':
      return Buffer.from(Float64Array.from(values).buffer);
    case 'F16':
      return Buffer.from(Uint16Array.from(values, floatToHalf).buffer);
    case 'BF16':
      // The top half of each float32: exact for the values tests use.
      return Buffer.from(Uint16Array.from(new Uint32Array(Float32Array.from(values).buffer), (bits) => bits >>> 16).buffer);
    case 'I64':
      return Buffer.from(BigInt64Array.from(values, (v) => BigInt(v)).buffer);
    case 'I32':
      return Buffer.from(Int32Array.from(values).buffer);
    case 'I16':
      return Buffer.from(Int16Array.from(values).buffer);
    case 'I8':
      return Buffer.from(Int8Array.from(values).buffer);
    case 'U8':
    case 'BOOL':
      return Buffer.from(Uint8Array.from(values));
  }
}

/** IEEE half for values that have one exactly (tests choose them so); rounds to nearest otherwise. */
export function floatToHalf(value: number): number {
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const magnitude = Math.abs(value);
  if (magnitude === 0) return sign;
  if (!Number.isFinite(magnitude)) return sign | 0x7c00 | (Number.isNaN(value) ? 0x200 : 0);
  let exponent = Math.floor(Math.log2(magnitude));
  if (exponent < -14) return sign | Math.round(magnitude / 2 ** -24);
  let fraction = Math.round((magnitude / 2 ** exponent - 1) * 1024);
  if (fraction === 1024) {
    exponent++;
    fraction = 0;
  }
  if (exponent > 15) return sign | 0x7c00;
  return sign | ((exponent + 15) << 10) | fraction;
}

function u16b(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
}

function u32b(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function u32(n: number): number[] {
  return [...u32b(n)];
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}
