// The allow-list: the only Python globals a state dict pickle names, which map to plain records.
import { refuse } from './pickleErrors';
import { PickleGlobal } from './pickleValues';
import type { TensorDType } from './tensorFile';
import { printable } from './zipArchive';

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

export const ORDERED_DICT = 'collections.OrderedDict';
export const REBUILD_TENSOR_V2 = 'torch._utils._rebuild_tensor_v2';
export const REBUILD_PARAMETER = 'torch._utils._rebuild_parameter';

/** torch.HalfStorage and the like: named by persistent ids, never called. */
export function isStorageClass(module: string, name: string): boolean {
  return module === 'torch' && Object.hasOwn(STORAGE_DTYPES, name);
}

function isAllowedGlobal(module: string, name: string): boolean {
  const qualified = `${module}.${name}`;
  if (qualified === ORDERED_DICT || qualified === REBUILD_TENSOR_V2 || qualified === REBUILD_PARAMETER) return true;
  return isStorageClass(module, name);
}

/** GLOBAL/STACK_GLOBAL: the named global as a plain record, or a refusal. */
export function resolveGlobal(source: string, module: string, name: string): PickleGlobal {
  if (!isAllowedGlobal(module, name)) refuse(source, `asks for the Python global ${printable(`${module}.${name}`)}, which a CodeGen state dict never needs`);
  return new PickleGlobal(module, name);
}
