// What an unpickled value can be, and the checks the machine and the torch calls make on such values.
import { damaged, refuse } from './pickleErrors';
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

export function asList(source: string, value: PickleValue): PickleValue[] {
  if (!Array.isArray(value)) refuse(source, `appends to ${describe(value)}, not a list`);
  return value;
}

export function asDict(source: string, value: PickleValue): Map<PickleKey, PickleValue> {
  if (!(value instanceof Map)) refuse(source, `sets items of ${describe(value)}, not a dict`);
  return value;
}

/** Sets alternating keys and values; only scalars may be keys, as in a state dict. */
export function setItems(source: string, dict: Map<PickleKey, PickleValue>, items: readonly PickleValue[]): void {
  if (items.length % 2 !== 0) damaged(source, 'a dict built from an odd number of values');
  for (let i = 0; i < items.length; i += 2) {
    const key = items[i];
    if (key !== null && typeof key === 'object') refuse(source, `uses ${describe(key)} as a dict key`);
    dict.set(key as PickleKey, items[i + 1]);
  }
}

export function tupleItems(source: string, value: PickleValue, what: string): readonly PickleValue[] {
  if (!(value instanceof PickleTuple)) damaged(source, `${what} given ${describe(value)} instead of a tuple`);
  return value.items;
}
