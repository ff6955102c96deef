// A safe unpickler for PyTorch state dicts. A pickle is a program for a stack machine that may call any Python
// function it names, so a checkpoint from anywhere but its official repository can run code on load. This reads
// only the opcodes torch.save emits for a dict of tensors, and resolves a global only from a short allow-list: the
// rest (os.system, builtins.eval, ...) is refused at the opcode that names it, before anything is built. Nothing is
// ever evaluated: the allowed globals map to plain records.
//
// The parts: pickleReader (opcodes and their operands), pickleStack (stack and memo), pickleGlobals (the
// allow-list), torchRebuild (what the allowed globals build), pickleValues (the values), pickleErrors (messages).
import { EngineError } from '../../protocol/errors';
import { damaged, refuse } from './pickleErrors';
import { resolveGlobal } from './pickleGlobals';
import { HIGHEST_PROTOCOL, NOT_LITERAL, OP, PickleReader, readLiteral } from './pickleReader';
import { PickleStack } from './pickleStack';
import { PickleTuple, TensorRecord, asDict, asList, describe, setItems, type PickleKey, type PickleValue, type UnpickleOptions } from './pickleValues';
import { callGlobal, constructGlobal, loadPersistent } from './torchRebuild';
import { printable } from './zipArchive';

export { STORAGE_DTYPES } from './pickleGlobals';
export { LoadedStorage, PickleGlobal, PickleTuple, TensorRecord, describe, type PickleKey, type PickleValue, type StorageId, type UnpickleOptions } from './pickleValues';

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

/** The machine: each opcode group below answers false for an opcode that is not its own. */
class SafeUnpickler {
  private readonly source: string;
  private readonly reader: PickleReader;
  private readonly stack: PickleStack;

  constructor(
    bytes: Uint8Array,
    private readonly options: UnpickleOptions,
  ) {
    this.source = options.source;
    this.reader = new PickleReader(bytes, options.source);
    this.stack = new PickleStack(options.source);
  }

  run(): PickleValue {
    for (;;) {
      const at = this.reader.offset;
      const op = this.reader.u8();
      if (op === OP.STOP) return this.finish();
      this.step(op, at);
    }
  }

  private finish(): PickleValue {
    if (this.stack.size !== 1) damaged(this.source, `the pickle stops with ${this.stack.size} values on its stack instead of 1`);
    return this.stack.pop();
  }

  private step(op: number, at: number): void {
    const literal = readLiteral(this.reader, op);
    if (literal !== NOT_LITERAL) return this.stack.push(literal);
    if (this.streamOp(op) || this.sequenceOp(op) || this.dictOp(op) || this.memoOp(op) || this.objectOp(op)) return;
    refuse(this.source, `contains the pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${at}, which a PyTorch state dict never uses`);
  }

  /** PROTO and FRAME: about the stream, not the stack. */
  private streamOp(op: number): boolean {
    if (op === OP.PROTO) {
      const protocol = this.reader.u8();
      if (protocol > HIGHEST_PROTOCOL) refuse(this.source, `uses pickle protocol ${protocol}, newer than any this reader knows (up to ${HIGHEST_PROTOCOL})`);
      return true;
    }
    if (op === OP.FRAME) {
      this.reader.take(8); // a frame only groups the opcodes that follow; they are read as they come
      return true;
    }
    return false;
  }

  /** MARK, tuples and lists. */
  private sequenceOp(op: number): boolean {
    const stack = this.stack;
    switch (op) {
      case OP.MARK:
        stack.pushMark();
        break;
      case OP.EMPTY_TUPLE:
        stack.push(new PickleTuple([]));
        break;
      case OP.TUPLE1:
      case OP.TUPLE2:
      case OP.TUPLE3:
        stack.push(new PickleTuple(stack.popN(op - OP.TUPLE1 + 1)));
        break;
      case OP.TUPLE:
        stack.push(new PickleTuple(stack.popMark()));
        break;
      case OP.EMPTY_LIST:
        stack.push([]);
        break;
      case OP.LIST:
        stack.push(stack.popMark());
        break;
      case OP.APPEND: {
        const item = stack.pop();
        asList(this.source, stack.top()).push(item);
        break;
      }
      case OP.APPENDS: {
        const items = stack.popMark();
        const list = asList(this.source, stack.top());
        for (const item of items) list.push(item); // not push(...items): a long run would overflow the call stack
        break;
      }
      default:
        return false;
    }
    return true;
  }

  private dictOp(op: number): boolean {
    const stack = this.stack;
    switch (op) {
      case OP.EMPTY_DICT:
        stack.push(new Map());
        break;
      case OP.DICT: {
        const dict = new Map<PickleKey, PickleValue>();
        setItems(this.source, dict, stack.popMark());
        stack.push(dict);
        break;
      }
      case OP.SETITEM: {
        const value = stack.pop();
        const key = stack.pop();
        setItems(this.source, asDict(this.source, stack.top()), [key, value]);
        break;
      }
      case OP.SETITEMS: {
        const items = stack.popMark();
        setItems(this.source, asDict(this.source, stack.top()), items);
        break;
      }
      default:
        return false;
    }
    return true;
  }

  private memoOp(op: number): boolean {
    const stack = this.stack;
    switch (op) {
      case OP.BINPUT:
        stack.memoize(this.reader.u8());
        break;
      case OP.LONG_BINPUT:
        stack.memoize(this.reader.u32());
        break;
      case OP.MEMOIZE:
        stack.memoize(stack.memoSize);
        break;
      case OP.BINGET:
        stack.push(stack.recall(this.reader.u8()));
        break;
      case OP.LONG_BINGET:
        stack.push(stack.recall(this.reader.u32()));
        break;
      default:
        return false;
    }
    return true;
  }

  /** Globals, calls and storages: the allow-list and torchRebuild decide what each may be. */
  private objectOp(op: number): boolean {
    const stack = this.stack;
    switch (op) {
      case OP.GLOBAL: {
        const module = this.reader.line();
        stack.push(resolveGlobal(this.source, module, this.reader.line()));
        break;
      }
      case OP.STACK_GLOBAL: {
        const name = stack.pop();
        const module = stack.pop();
        if (typeof module !== 'string' || typeof name !== 'string') damaged(this.source, 'STACK_GLOBAL without a module and a name');
        stack.push(resolveGlobal(this.source, module, name));
        break;
      }
      case OP.REDUCE: {
        const args = stack.pop();
        stack.push(callGlobal(this.source, stack.pop(), args));
        break;
      }
      case OP.NEWOBJ: {
        const args = stack.pop();
        stack.push(constructGlobal(this.source, stack.pop(), args));
        break;
      }
      case OP.BUILD: {
        stack.pop(); // the state; only an OrderedDict takes one (its _metadata), which a converter does not need
        const target = stack.top();
        if (!(target instanceof Map)) refuse(this.source, `sets the state of ${describe(target)}, which a state dict never does`);
        break;
      }
      case OP.BINPERSID:
        stack.push(loadPersistent(this.options, stack.pop()));
        break;
      default:
        return false;
    }
    return true;
  }
}
