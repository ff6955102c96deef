// A PyTorch checkpoint (torch.save since 1.6): a ZIP archive holding `<prefix>/data.pkl`, the pickled state dict,
// and one STORED entry `<prefix>/data/<key>` per storage. The pickle is read by the safe unpickler, which names
// storages by key; each tensor then becomes a byte range inside its storage's entry, checked against the file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineError } from '../../protocol/errors';
import { unpickleStateDict, type StorageId, type TensorRecord } from './safePickle';
import { DTYPE_BYTES, elementCount, type CheckpointTensor, type TensorFile } from './tensorFile';
import { damaged, openForReading, openZip, printable, readEntry, storedRange, type ZipArchive, type ZipEntry } from './zipArchive';

/** data.pkl of the largest CodeGen is about 100 KB; anything near this bound is not a state dict. */
const MAX_PICKLE_BYTES = 256 * 1024 * 1024;

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
/** torch's legacy format starts with a protocol-2 pickle of the magic number 0x1950a86a20f9469cfc6c (as LONG1). */
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/** A storage as the pickle names it, placed in the archive. */
interface PlacedStorage {
  readonly id: StorageId;
  readonly entryName: string;
  readonly offset: number;
  readonly byteLength: number;
}

export function openPytorchCheckpoint(file: string): TensorFile {
  checkMagic(file);
  const archive = openZip(file);
  const prefix = archivePrefix(archive);
  checkByteOrder(archive, prefix);
  const pickleEntry = archive.entries.get(`${prefix}/data.pkl`)!;
  if (pickleEntry.size > MAX_PICKLE_BYTES) {
    throw new EngineError('invalid-model', `${file}: its data.pkl has ${pickleEntry.size} bytes, far more than a state dict's: the file is not a CodeGen checkpoint.`);
  }
  const records = unpickleStateDict(readEntry(archive, pickleEntry), {
    source: `${file}: ${path.basename(pickleEntry.name)}`,
    loadStorage: (id) => placeStorage(archive, prefix, id),
  });
  const tensors = new Map<string, CheckpointTensor>();
  for (const [name, record] of records) tensors.set(name, tensorOf(file, name, printable(name), record));
  return { file, tensors };
}

/** Tells a legacy or foreign file from a damaged archive before reading it as one. */
function checkMagic(file: string): void {
  const head = Buffer.alloc(LEGACY_MAGIC.length);
  const fd = openForReading(file);
  let length: number;
  try {
    length = fs.readSync(fd, head, 0, head.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (startsWith(head, length, ZIP_MAGIC)) return;
  if (startsWith(head, length, LEGACY_MAGIC)) {
    throw new EngineError(
      'invalid-model',
      `${file} is in PyTorch's legacy (pre-1.6, non-zip) format, which this reader does not read: re-save it with torch.save from PyTorch 1.6 or newer, or use the model's safetensors file.`,
    );
  }
  if (length < ZIP_MAGIC.length && startsWith(head, length, ZIP_MAGIC.slice(0, length))) throw damaged(file, `only ${length} bytes`);
  throw new EngineError('invalid-model', `${file} is not a PyTorch checkpoint (it does not start as a ZIP archive): download the model from its official repository.`);
}

function startsWith(head: Buffer, length: number, magic: readonly number[]): boolean {
  return length >= magic.length && magic.every((byte, i) => head[i] === byte);
}

/** The folder that holds data.pkl: usually `archive`, or the file's stem when torch.save was given a path. */
function archivePrefix(archive: ZipArchive): string {
  const pickles = [...archive.entries.keys()].filter((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (pickles.length === 1) return pickles[0].slice(0, -'/data.pkl'.length);
  if (pickles.length === 0) {
    throw new EngineError('invalid-model', `${archive.file} is a ZIP archive without a <folder>/data.pkl entry, so not a PyTorch checkpoint: download the model from its official repository.`);
  }
  throw new EngineError('invalid-model', `${archive.file} holds ${pickles.length} data.pkl entries (${pickles.join(', ')}), where a PyTorch checkpoint has one: re-save it with torch.save.`);
}

function checkByteOrder(archive: ZipArchive, prefix: string): void {
  const entry = archive.entries.get(`${prefix}/byteorder`);
  if (!entry) return; // written only since PyTorch 1.11; before that, little-endian was the only order
  const order = readEntry(archive, entry).toString('latin1').trim();
  if (order !== 'little') {
    throw new EngineError('invalid-model', `${archive.file} was saved with ${JSON.stringify(order)} byte order, and this reader reads only little-endian checkpoints: re-save it on a little-endian machine.`);
  }
}

function placeStorage(archive: ZipArchive, prefix: string, id: StorageId): PlacedStorage {
  const entryName = `${prefix}/data/${id.key}`;
  const entry: ZipEntry | undefined = archive.entries.get(entryName);
  if (!entry) throw damaged(archive.file, `data.pkl names the storage ${printable(id.key)}, but there is no entry ${printable(entryName)}`);
  const { offset, length } = storedRange(archive, entry);
  const byteLength = id.numel * DTYPE_BYTES[id.dtype];
  if (byteLength > length) {
    throw damaged(archive.file, `the storage ${printable(id.key)} holds ${id.numel} ${id.storageClass} elements (${byteLength} bytes), but its entry has ${length} bytes`);
  }
  return { id, entryName, offset, byteLength };
}

function tensorOf(file: string, name: string, shown: string, record: TensorRecord<PlacedStorage>): CheckpointTensor {
  const storage = record.storage;
  const dtype = storage.id.dtype;
  const elementBytes = DTYPE_BYTES[dtype];
  const count = elementCount(record.shape);
  checkContiguous(file, shown, record);
  if (count > 0 && record.storageOffset + count > storage.id.numel) {
    throw damaged(
      file,
      `the tensor ${shown} [${record.shape.join(', ')}] at element ${record.storageOffset} of storage ${printable(storage.id.key)} reaches past its ${storage.id.numel} elements`,
    );
  }
  return {
    name,
    dtype,
    shape: record.shape,
    file,
    offset: storage.offset + record.storageOffset * elementBytes,
    byteLength: count * elementBytes,
  };
}

/** The converter reads a tensor as one range of bytes, so it must be row-major with no gaps. */
function checkContiguous(file: string, name: string, record: TensorRecord): void {
  if (elementCount(record.shape) <= 1) return;
  let expected = 1;
  for (let dim = record.shape.length - 1; dim >= 0; dim--) {
    const size = record.shape[dim];
    // A dimension of size 1 never moves, so its stride is arbitrary (torch often writes odd ones there).
    if (size !== 1 && record.stride[dim] !== expected) {
      throw new EngineError(
        'invalid-model',
        `${file}: the tensor ${name} [${record.shape.join(', ')}] has strides (${record.stride.join(', ')}), not a contiguous row-major layout: re-save the state dict with every tensor made .contiguous().`,
      );
    }
    expected *= size;
  }
}
