// A safe unpickler for PyTorch state dicts. A pickle is a program for a stack machine that may call any Python
// function it names, so a checkpoint from anywhere but its official repository can run code on load. This reads
// only the opcodes torch.save emits for a dict of tensors, and resolves a global only from a short allow-list: the
// rest (os.system, builtins.eval, ...) is refused at the opcode that names it, before anything is built. Nothing is
// ever evaluated: the allowed globals map to plain records.
import { EngineError } from '../../protocol/errors';
import type { TensorDType } from './tensorFile';
import { printable } from './zipArchive';

/** A Python tuple (kept apart from lists, which are arrays). */
export class PickleTuple {
  constructor(readonly items: readonly PickleValue[]) {}
}

/** A class or function named by GLOBAL/STACK_GLOBAL that the allow-list accepted. */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}

  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** What a persistent id ('storage', StorageClass, key, location, numel) names: one storage of the archive. */
export interface StorageId {
  readonly key: string;
  readonly dtype: TensorDType;
  /** The storage class's Python name, e.g. HalfStorage, for messages. */
  readonly storageClass: string;
  /** The device it was saved from, e.g. cpu or cuda:0; the bytes are the same. */
  readonly location: string;
  /** Element count of the whole storage. */
  readonly numel: number;
}

/** A tensor as _rebuild_tensor_v2 describes it: a view of a storage (whatever the caller's loadStorage made of it). */
export class TensorRecord<S = unknown> {
  constructor(
    readonly storage: S,
    readonly storageOffset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {}
}

/** What a persistent id became: only a tensor may hold one. */
export class LoadedStorage {
  constructor(readonly value: unknown) {}
}

export type PickleKey = string | number | bigint | boolean | null;
export type PickleValue = PickleKey | Uint8Array | PickleTuple | PickleValue[] | Map<PickleKey, PickleValue> | PickleGlobal | TensorRecord | LoadedStorage;

export interface UnpickleOptions<S = unknown> {
  /** Names the pickle in messages, e.g. `/models/x/pytorch_model.bin: data.pkl`. */
  readonly source: string;
  /** Turns a storage persistent id into the value a tensor record will hold (and may refuse it by throwing). */
  readonly loadStorage: (id: StorageId) => S;
}

export const STORAGE_DTYPES: Readonly<Record<string, TensorDType>> = {
  HalfStorage: 'F16',
  FloatStorage: 'F32',
  BFloat16Storage: 'BF16',
  DoubleStorage: 'F64',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

const ORDERED_DICT = 'collections.OrderedDict';
const REBUILD_TENSOR_V2 = 'torch._utils._rebuild_tensor_v2';
const REBUILD_PARAMETER = 'torch._utils._rebuild_parameter';

function isAllowedGlobal(module: string, name: string): boolean {
  const qualified = `${module}.${name}`;
  if (qualified === ORDERED_DICT || qualified === REBUILD_TENSOR_V2 || qualified === REBUILD_PARAMETER) return true;
  return module === 'torch' && Object.hasOwn(STORAGE_DTYPES, name);
}

const OP = {
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

const HIGHEST_PROTOCOL = 5;
const MARK = Symbol('mark');

/** Runs the pickle in `bytes` with the restricted opcode set and returns its top-level object. */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): PickleValue {
  return new SafeUnpickler(bytes, options).run();
}

/** The top-level object of a state dict pickle as name -> tensor record, or an error saying what it is instead. */
export function unpickleStateDict<S>(bytes: Uint8Array, options: UnpickleOptions<S>): Map<string, TensorRecord<S>> {
  const top = unpickle(bytes, options);
  if (!(top instanceof Map)) {
    throw new EngineError('invalid-model', `${options.source} holds ${describe(top)}, not a state dict (a dict of tensor names to tensors): save the model's state_dict() or download the model from its official repository.`);
  }
  const out = new Map<string, TensorRecord<S>>();
  for (const [key, value] of top) {
    if (typeof key !== 'string') throw new EngineError('invalid-model', `${options.source} has a key ${describe(key)} in its state dict; tensor names are strings: the file is not a CodeGen checkpoint.`);
    if (!(value instanceof TensorRecord)) throw new EngineError('invalid-model', `${options.source} maps ${printable(key)} to ${describe(value)}, not a tensor: the file is not a plain state dict of tensors.`);
    out.set(key, value as TensorRecord<S>);
  }
  return out;
}

export function describe(value: unknown): string {
  if (value === null) return 'None';
  if (value instanceof Map) return 'a dict';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof PickleTuple) return `a tuple of ${value.items.length}`;
  if (value instanceof TensorRecord) return 'a tensor';
  if (value instanceof LoadedStorage) return 'a storage';
  if (value instanceof PickleGlobal) return `the Python global ${printable(value.qualifiedName)}`;
  if (value instanceof Uint8Array) return 'bytes';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`; // JSON escapes newlines
  if (typeof value === 'number' || typeof value === 'bigint') return `the number ${value}`;
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return 'an object';
}

type StackItem = PickleValue | typeof MARK;

class SafeUnpickler {
  private position = 0;
  private stack: StackItem[] = [];
  private readonly memo = new Map<number, PickleValue>();
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly options: UnpickleOptions,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  run(): PickleValue {
    for (;;) {
      const at = this.position;
      const op = this.u8();
      if (op === OP.STOP) return this.finish();
      this.step(op, at);
    }
  }

  private finish(): PickleValue {
    if (this.stack.length !== 1) this.damaged(`the pickle stops with ${this.stack.length} values on its stack instead of 1`);
    return this.value(this.stack.pop());
  }

  private step(op: number, at: number): void {
    switch (op) {
      case OP.PROTO: {
        const protocol = this.u8();
        if (protocol > HIGHEST_PROTOCOL) this.refuse(`uses pickle protocol ${protocol}, newer than any this reader knows (up to ${HIGHEST_PROTOCOL})`);
        return;
      }
      case OP.FRAME:
        this.take(8); // a frame only groups the opcodes that follow; they are read as they come
        return;
      case OP.MARK:
        return void this.stack.push(MARK);
      case OP.NONE:
        return this.push(null);
      case OP.NEWTRUE:
        return this.push(true);
      case OP.NEWFALSE:
        return this.push(false);
      case OP.BININT:
        return this.push(this.view.getInt32(this.skip(4), true));
      case OP.BININT1:
        return this.push(this.u8());
      case OP.BININT2:
        return this.push(this.view.getUint16(this.skip(2), true));
      case OP.LONG1:
        return this.push(this.long(this.take(this.u8())));
      case OP.BINFLOAT:
        return this.push(this.view.getFloat64(this.skip(8), false));
      case OP.BINUNICODE:
        return this.push(this.utf8(this.take(this.u32())));
      case OP.SHORT_BINUNICODE:
        return this.push(this.utf8(this.take(this.u8())));
      case OP.BINUNICODE8:
        return this.push(this.utf8(this.take(this.u64())));
      case OP.BINSTRING:
        return this.push(latin1(this.take(this.signedLength())));
      case OP.SHORT_BINSTRING:
        return this.push(latin1(this.take(this.u8())));
      case OP.BINBYTES:
        return this.push(this.take(this.u32()).slice());
      case OP.SHORT_BINBYTES:
        return this.push(this.take(this.u8()).slice());
      case OP.BINBYTES8:
        return this.push(this.take(this.u64()).slice());
      case OP.EMPTY_TUPLE:
        return this.push(new PickleTuple([]));
      case OP.TUPLE1:
      case OP.TUPLE2:
      case OP.TUPLE3:
        return this.push(new PickleTuple(this.popN(op - OP.TUPLE1 + 1)));
      case OP.TUPLE:
        return this.push(new PickleTuple(this.popMark()));
      case OP.EMPTY_LIST:
        return this.push([]);
      case OP.LIST:
        return this.push(this.popMark());
      case OP.APPEND: {
        const item = this.pop();
        return void this.list(this.top()).push(item);
      }
      case OP.APPENDS: {
        const items = this.popMark();
        const list = this.list(this.top());
        for (const item of items) list.push(item); // not push(...items): a long run would overflow the call stack
        return;
      }
      case OP.EMPTY_DICT:
        return this.push(new Map());
      case OP.DICT: {
        const dict = new Map<PickleKey, PickleValue>();
        this.setItems(dict, this.popMark());
        return this.push(dict);
      }
      case OP.SETITEM: {
        const value = this.pop();
        const key = this.pop();
        return this.setItems(this.dict(this.top()), [key, value]);
      }
      case OP.SETITEMS: {
        const items = this.popMark();
        return this.setItems(this.dict(this.top()), items);
      }
      case OP.BINPUT:
        return this.memoize(this.u8());
      case OP.LONG_BINPUT:
        return this.memoize(this.u32());
      case OP.MEMOIZE:
        return this.memoize(this.memo.size);
      case OP.BINGET:
        return this.push(this.recall(this.u8()));
      case OP.LONG_BINGET:
        return this.push(this.recall(this.u32()));
      case OP.GLOBAL: {
        const module = this.line();
        return this.push(this.global(module, this.line()));
      }
      case OP.STACK_GLOBAL: {
        const name = this.pop();
        const module = this.pop();
        if (typeof module !== 'string' || typeof name !== 'string') this.damaged('STACK_GLOBAL without a module and a name');
        return this.push(this.global(module, name));
      }
      case OP.REDUCE: {
        const args = this.pop();
        return this.push(this.call(this.pop(), args));
      }
      case OP.NEWOBJ: {
        const args = this.pop();
        return this.push(this.construct(this.pop(), args));
      }
      case OP.BUILD: {
        this.pop(); // the state; only an OrderedDict takes one (its _metadata), which a converter does not need
        const target = this.top();
        if (!(target instanceof Map)) this.refuse(`sets the state of ${describe(target)}, which a state dict never does`);
        return;
      }
      case OP.BINPERSID:
        return this.push(this.persistent(this.pop()));
      default:
        this.refuse(`contains the pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${at}, which a PyTorch state dict never uses`);
    }
  }

  // Globals and calls: the whole of what this file lets a pickle do.

  private global(module: string, name: string): PickleGlobal {
    if (!isAllowedGlobal(module, name)) {
      throw new EngineError(
        'invalid-model',
        `${this.options.source} asks for the Python global ${printable(`${module}.${name}`)}, which a CodeGen state dict never needs; refusing to load it (the file is not a plain checkpoint, or it is hostile): download the model from its official repository.`,
      );
    }
    return new PickleGlobal(module, name);
  }

  private call(callable: PickleValue, args: PickleValue): PickleValue {
    const fn = this.allowedCallable(callable);
    const items = this.tupleItems(args, fn.qualifiedName);
    switch (fn.qualifiedName) {
      case ORDERED_DICT:
        return this.orderedDict(items);
      case REBUILD_TENSOR_V2:
        return this.rebuildTensor(items);
      case REBUILD_PARAMETER:
        // (data, requires_grad, backward_hooks): a parameter is its tensor to a reader.
        if (items.length < 1 || !(items[0] instanceof TensorRecord)) this.damaged('_rebuild_parameter without a tensor');
        return items[0];
      default:
        return this.refuse(`calls ${fn.qualifiedName}, which is only allowed as a storage type`);
    }
  }

  private construct(cls: PickleValue, args: PickleValue): PickleValue {
    const type = this.allowedCallable(cls);
    if (type.qualifiedName !== ORDERED_DICT) this.refuse(`constructs ${type.qualifiedName} with NEWOBJ, which a state dict never does`);
    return this.orderedDict(this.tupleItems(args, type.qualifiedName));
  }

  private allowedCallable(value: PickleValue): PickleGlobal {
    if (!(value instanceof PickleGlobal)) this.refuse(`calls ${describe(value)}, which is not a function`);
    return value;
  }

  private orderedDict(args: readonly PickleValue[]): Map<PickleKey, PickleValue> {
    const dict = new Map<PickleKey, PickleValue>();
    if (args.length === 0) return dict;
    // OrderedDict([(key, value), ...]): the only argument form worth accepting.
    const pairs = args[0];
    if (args.length > 1 || !Array.isArray(pairs)) this.refuse('builds an OrderedDict from something other than a list of pairs');
    for (const pair of pairs) {
      if (!(pair instanceof PickleTuple) || pair.items.length !== 2) this.refuse('builds an OrderedDict from something other than a list of pairs');
      this.setItems(dict, pair.items);
    }
    return dict;
  }

  /** _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]). */
  private rebuildTensor(args: readonly PickleValue[]): TensorRecord {
    if (args.length < 6 || args.length > 7) this.damaged(`_rebuild_tensor_v2 with ${args.length} arguments instead of 6 or 7`);
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof LoadedStorage)) this.damaged(`a tensor whose storage is ${describe(storage)}, not a persistent storage id`);
    const shape = this.dimensions(size, 'size');
    const strides = this.dimensions(stride, 'stride');
    if (shape.length !== strides.length) this.damaged(`a tensor of ${shape.length} dimensions with ${strides.length} strides`);
    return new TensorRecord(storage.value, this.count(offset, 'storage offset'), shape, strides);
  }

  private dimensions(value: PickleValue, what: string): number[] {
    return this.tupleItems(value, `the tensor ${what}`).map((item) => this.count(item, `tensor ${what}`));
  }

  private count(value: PickleValue, what: string): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) this.damaged(`a ${what} of ${describe(value)}`);
    return value;
  }

  /** ('storage', StorageClass, key, location, numel), handed to the caller. */
  private persistent(pid: PickleValue): LoadedStorage {
    const items = this.tupleItems(pid, 'a persistent id');
    const [kind, storageClass, key, location, numel] = items;
    if (items.length !== 5 || kind !== 'storage') this.refuse(`has a persistent id that is not ('storage', type, key, location, numel)`);
    if (!(storageClass instanceof PickleGlobal) || storageClass.module !== 'torch' || !Object.hasOwn(STORAGE_DTYPES, storageClass.name)) {
      this.refuse(`has a storage whose type is ${describe(storageClass)}`);
    }
    if (typeof key !== 'string' || typeof location !== 'string') this.damaged('a storage id whose key or location is not a string');
    return new LoadedStorage(this.options.loadStorage({ key, location, storageClass: storageClass.name, dtype: STORAGE_DTYPES[storageClass.name], numel: this.count(numel, 'storage size') }));
  }

  // The stack and the memo.

  private push(value: PickleValue): void {
    this.stack.push(value);
  }

  private pop(): PickleValue {
    if (this.stack.length === 0) this.damaged('an opcode pops an empty stack');
    return this.value(this.stack.pop());
  }

  private top(): PickleValue {
    if (this.stack.length === 0) this.damaged('an opcode reads an empty stack');
    return this.value(this.stack[this.stack.length - 1]);
  }

  private value(item: StackItem | undefined): PickleValue {
    if (item === MARK || item === undefined) this.damaged('an opcode takes a MARK as a value');
    return item;
  }

  private popN(n: number): PickleValue[] {
    if (this.stack.length < n) this.damaged(`an opcode needs ${n} values on a stack of ${this.stack.length}`);
    return this.stack.splice(this.stack.length - n, n).map((item) => this.value(item));
  }

  private popMark(): PickleValue[] {
    const mark = this.stack.lastIndexOf(MARK);
    if (mark < 0) this.damaged('an opcode needs a MARK that is not there');
    const items = this.stack.splice(mark + 1).map((item) => this.value(item));
    this.stack.pop();
    return items;
  }

  private memoize(index: number): void {
    this.memo.set(index, this.top());
  }

  private recall(index: number): PickleValue {
    const value = this.memo.get(index);
    if (value === undefined) this.damaged(`the memo has no entry ${index}`);
    return value;
  }

  private list(value: PickleValue): PickleValue[] {
    if (!Array.isArray(value)) this.refuse(`appends to ${describe(value)}, not a list`);
    return value;
  }

  private dict(value: PickleValue): Map<PickleKey, PickleValue> {
    if (!(value instanceof Map)) this.refuse(`sets items of ${describe(value)}, not a dict`);
    return value;
  }

  private setItems(dict: Map<PickleKey, PickleValue>, items: readonly PickleValue[]): void {
    if (items.length % 2 !== 0) this.damaged('a dict built from an odd number of values');
    for (let i = 0; i < items.length; i += 2) {
      const key = items[i];
      if (key !== null && typeof key === 'object') this.refuse(`uses ${describe(key)} as a dict key`);
      dict.set(key as PickleKey, items[i + 1]);
    }
  }

  private tupleItems(value: PickleValue, what: string): readonly PickleValue[] {
    if (!(value instanceof PickleTuple)) this.damaged(`${what} given ${describe(value)} instead of a tuple`);
    return value.items;
  }

  // Reading the opcode stream; every read is bounded, so a cut pickle is a clear error.

  private skip(n: number): number {
    const at = this.position;
    if (n > this.bytes.length - at) this.damaged(`it ends inside an opcode at byte ${at}`);
    this.position += n;
    return at;
  }

  private take(n: number): Uint8Array {
    const at = this.skip(n);
    return this.bytes.subarray(at, at + n);
  }

  private u8(): number {
    return this.bytes[this.skip(1)];
  }

  private u32(): number {
    return this.view.getUint32(this.skip(4), true);
  }

  private signedLength(): number {
    const n = this.view.getInt32(this.skip(4), true);
    if (n < 0) this.damaged(`a string of negative length ${n}`);
    return n;
  }

  private u64(): number {
    const n = this.view.getBigUint64(this.skip(8), true);
    if (n > BigInt(this.bytes.length)) this.damaged(`a length of ${n} bytes in a pickle of ${this.bytes.length}`);
    return Number(n);
  }

  /** A newline-terminated ASCII line (GLOBAL's operands). */
  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.position);
    if (end < 0) this.damaged(`it ends inside a GLOBAL at byte ${this.position}`);
    const text = latin1(this.bytes.subarray(this.position, end));
    this.position = end + 1;
    return text;
  }

  private utf8(bytes: Uint8Array): string {
    try {
      return UTF8.decode(bytes);
    } catch {
      return this.damaged('a string that is not valid UTF-8');
    }
  }

  /** LONG1: little-endian two's complement; a number when it fits exactly, else a bigint. */
  private long(bytes: Uint8Array): number | bigint {
    let value = 0n;
    for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]);
    if (bytes.length > 0 && bytes[bytes.length - 1] & 0x80) value -= 1n << BigInt(bytes.length * 8);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }

  private damaged(detail: string): never {
    throw new EngineError('invalid-model', `${this.options.source} is truncated or damaged (${detail}): download it again.`);
  }

  private refuse(what: string): never {
    throw new EngineError('invalid-model', `${this.options.source} ${what}; refusing to load it (the file is not a plain checkpoint, or it is hostile): download the model from its official repository.`);
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}
