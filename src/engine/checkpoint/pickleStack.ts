// The unpickler's stack and memo, whose misuse by a pickle is damage, never a crash of the reader.
import { damaged } from './pickleErrors';
import type { PickleValue } from './pickleValues';

const MARK = Symbol('mark');

type StackItem = PickleValue | typeof MARK;

export class PickleStack {
  private readonly items: StackItem[] = [];
  private readonly memo = new Map<number, PickleValue>();

  constructor(private readonly source: string) {}

  get size(): number {
    return this.items.length;
  }

  get memoSize(): number {
    return this.memo.size;
  }

  push(value: PickleValue): void {
    this.items.push(value);
  }

  pushMark(): void {
    this.items.push(MARK);
  }

  pop(): PickleValue {
    if (this.items.length === 0) damaged(this.source, 'an opcode pops an empty stack');
    return this.value(this.items.pop());
  }

  top(): PickleValue {
    if (this.items.length === 0) damaged(this.source, 'an opcode reads an empty stack');
    return this.value(this.items[this.items.length - 1]);
  }

  popN(n: number): PickleValue[] {
    if (this.items.length < n) damaged(this.source, `an opcode needs ${n} values on a stack of ${this.items.length}`);
    return this.items.splice(this.items.length - n, n).map((item) => this.value(item));
  }

  /** The values above the topmost MARK, which goes too. */
  popMark(): PickleValue[] {
    const mark = this.items.lastIndexOf(MARK);
    if (mark < 0) damaged(this.source, 'an opcode needs a MARK that is not there');
    const items = this.items.splice(mark + 1).map((item) => this.value(item));
    this.items.pop();
    return items;
  }

  memoize(index: number): void {
    this.memo.set(index, this.top());
  }

  recall(index: number): PickleValue {
    const value = this.memo.get(index);
    if (value === undefined) damaged(this.source, `the memo has no entry ${index}`);
    return value;
  }

  private value(item: StackItem | undefined): PickleValue {
    if (item === MARK || item === undefined) damaged(this.source, 'an opcode takes a MARK as a value');
    return item;
  }
}
