// What the allowed globals do when a pickle calls them: the whole of what this reader lets a pickle do. Nothing is
// ever evaluated: an OrderedDict becomes a Map, a tensor a TensorRecord, a storage whatever loadStorage makes of it.
import { damaged, refuse } from './pickleErrors';
import { ORDERED_DICT, REBUILD_PARAMETER, REBUILD_TENSOR_V2, STORAGE_DTYPES, isStorageClass } from './pickleGlobals';
import { LoadedStorage, PickleGlobal, PickleTuple, TensorRecord, describe, setItems, tupleItems, type PickleKey, type PickleValue, type UnpickleOptions } from './pickleValues';

/** REDUCE: `callable(*args)`. */
export function callGlobal(source: string, callable: PickleValue, args: PickleValue): PickleValue {
  const fn = allowedCallable(source, callable);
  const items = tupleItems(source, args, fn.qualifiedName);
  switch (fn.qualifiedName) {
    case ORDERED_DICT:
      return orderedDict(source, items);
    case REBUILD_TENSOR_V2:
      return rebuildTensor(source, items);
    case REBUILD_PARAMETER:
      // (data, requires_grad, backward_hooks): a parameter is its tensor to a reader.
      if (items.length < 1 || !(items[0] instanceof TensorRecord)) damaged(source, '_rebuild_parameter without a tensor');
      return items[0];
    default:
      return refuse(source, `calls ${fn.qualifiedName}, which is only allowed as a storage type`);
  }
}

/** NEWOBJ: `cls.__new__(cls, *args)`. */
export function constructGlobal(source: string, cls: PickleValue, args: PickleValue): PickleValue {
  const type = allowedCallable(source, cls);
  if (type.qualifiedName !== ORDERED_DICT) refuse(source, `constructs ${type.qualifiedName} with NEWOBJ, which a state dict never does`);
  return orderedDict(source, tupleItems(source, args, type.qualifiedName));
}

/** BINPERSID: ('storage', StorageClass, key, location, numel), handed to the caller. */
export function loadPersistent(options: UnpickleOptions, pid: PickleValue): LoadedStorage {
  const { source } = options;
  const items = tupleItems(source, pid, 'a persistent id');
  const [kind, storageClass, key, location, numel] = items;
  if (items.length !== 5 || kind !== 'storage') refuse(source, `has a persistent id that is not ('storage', type, key, location, numel)`);
  if (!(storageClass instanceof PickleGlobal) || !isStorageClass(storageClass.module, storageClass.name)) {
    refuse(source, `has a storage whose type is ${describe(storageClass)}`);
  }
  if (typeof key !== 'string' || typeof location !== 'string') damaged(source, 'a storage id whose key or location is not a string');
  const id = { key, location, storageClass: storageClass.name, dtype: STORAGE_DTYPES[storageClass.name], numel: count(source, numel, 'storage size') };
  return new LoadedStorage(options.loadStorage(id));
}

function allowedCallable(source: string, value: PickleValue): PickleGlobal {
  if (!(value instanceof PickleGlobal)) refuse(source, `calls ${describe(value)}, which is not a function`);
  return value;
}

function orderedDict(source: string, args: readonly PickleValue[]): Map<PickleKey, PickleValue> {
  const dict = new Map<PickleKey, PickleValue>();
  if (args.length === 0) return dict;
  // OrderedDict([(key, value), ...]): the only argument form worth accepting.
  const pairs = args[0];
  if (args.length > 1 || !Array.isArray(pairs)) refuse(source, 'builds an OrderedDict from something other than a list of pairs');
  for (const pair of pairs) {
    if (!(pair instanceof PickleTuple) || pair.items.length !== 2) refuse(source, 'builds an OrderedDict from something other than a list of pairs');
    setItems(source, dict, pair.items);
  }
  return dict;
}

/** _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]). */
function rebuildTensor(source: string, args: readonly PickleValue[]): TensorRecord {
  if (args.length < 6 || args.length > 7) damaged(source, `_rebuild_tensor_v2 with ${args.length} arguments instead of 6 or 7`);
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof LoadedStorage)) damaged(source, `a tensor whose storage is ${describe(storage)}, not a persistent storage id`);
  const shape = dimensions(source, size, 'size');
  const strides = dimensions(source, stride, 'stride');
  if (shape.length !== strides.length) damaged(source, `a tensor of ${shape.length} dimensions with ${strides.length} strides`);
  return new TensorRecord(storage.value, count(source, offset, 'storage offset'), shape, strides);
}

function dimensions(source: string, value: PickleValue, what: string): number[] {
  return tupleItems(source, value, `the tensor ${what}`).map((item) => count(source, item, `tensor ${what}`));
}

function count(source: string, value: PickleValue, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) damaged(source, `a ${what} of ${describe(value)}`);
  return value;
}
