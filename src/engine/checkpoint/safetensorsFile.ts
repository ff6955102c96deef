// A safetensors file: an 8-byte little-endian header length N, N bytes of JSON naming each tensor's dtype, shape
// and byte range (relative to the end of the header), then the bytes. Only the header is read here; everything it
// claims is checked against the file, so a lying or cut file fails now with one message, not mid-conversion.
import * as fs from 'node:fs';
import { EngineError } from '../../protocol/errors';
import { DTYPE_BYTES, elementCount, type CheckpointTensor, type TensorDType, type TensorFile } from './tensorFile';
import { openForReading, printable } from './zipArchive';

/** Real headers are a few hundred KB even for sharded 16B models; a larger claim is damage, not a header. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const LENGTH_BYTES = 8;
const METADATA_KEY = '__metadata__';

export function openSafetensors(file: string): TensorFile {
  const { header, dataStart, fileSize } = readHeader(file);
  const tensors = new Map<string, CheckpointTensor>();
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) continue; // free-form strings (format, producer): nothing a converter needs
    tensors.set(name, tensorOf(file, name, value, dataStart, fileSize));
  }
  checkNoOverlap(file, [...tensors.values()]);
  return { file, tensors };
}

function damaged(file: string, detail: string): EngineError {
  return new EngineError('invalid-model', `${file} is truncated or damaged (${detail}): download it again.`);
}

function readHeader(file: string): { header: Record<string, unknown>; dataStart: number; fileSize: number } {
  const fd = openForReading(file);
  try {
    const fileSize = fs.fstatSync(fd).size;
    if (fileSize < LENGTH_BYTES) throw damaged(file, `only ${fileSize} bytes, too short for a safetensors header`);
    const lengthBytes = readExactly(fd, 0, LENGTH_BYTES);
    const headerLength = lengthBytes.readBigUInt64LE(0);
    if (headerLength > BigInt(MAX_HEADER_BYTES)) throw damaged(file, `a header length of ${headerLength} bytes, more than any safetensors header`);
    const length = Number(headerLength);
    if (LENGTH_BYTES + length > fileSize) throw damaged(file, `the header claims ${length} bytes, but the file has only ${fileSize - LENGTH_BYTES} after its length`);
    const header = parseHeader(file, readExactly(fd, LENGTH_BYTES, length));
    return { header, dataStart: LENGTH_BYTES + length, fileSize };
  } finally {
    fs.closeSync(fd);
  }
}

function readExactly(fd: number, position: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, out, done, length - done, position + done);
    if (n === 0) break; // the size was checked; a file shrinking under us reads as a short, invalid header
    done += n;
  }
  return out.subarray(0, done);
}

function parseHeader(file: string, bytes: Buffer): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    throw damaged(file, `its header is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw damaged(file, 'its header is not a JSON object of tensors');
  return parsed as Record<string, unknown>;
}

function tensorOf(file: string, name: string, value: unknown, dataStart: number, fileSize: number): CheckpointTensor {
  const shown = printable(name);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw damaged(file, `the header describes the tensor ${shown} as ${printable(String(JSON.stringify(value)))}, not {dtype, shape, data_offsets}`);
  }
  const entry = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  const dtype = dtypeOf(file, shown, entry.dtype);
  const shape = integers(entry.shape);
  if (!shape) throw damaged(file, `the header gives the tensor ${shown} the shape ${printable(String(JSON.stringify(entry.shape)))}, not a list of sizes`);
  const offsets = integers(entry.data_offsets);
  if (!offsets || offsets.length !== 2 || offsets[0] > offsets[1]) {
    throw damaged(file, `the header gives the tensor ${shown} the data_offsets ${printable(String(JSON.stringify(entry.data_offsets)))}, not [begin, end]`);
  }
  const [begin, end] = offsets;
  const byteLength = elementCount(shape) * DTYPE_BYTES[dtype];
  if (end - begin !== byteLength) {
    throw damaged(file, `the header gives the tensor ${shown} (${dtype} [${shape.join(', ')}], ${byteLength} bytes) a range of ${end - begin} bytes`);
  }
  if (dataStart + end > fileSize) {
    throw damaged(file, `the tensor ${shown} ends at byte ${dataStart + end}, but the file has only ${fileSize} bytes`);
  }
  return { name, dtype, shape, file, offset: dataStart + begin, byteLength };
}

function dtypeOf(file: string, shown: string, dtype: unknown): TensorDType {
  if (typeof dtype === 'string' && Object.hasOwn(DTYPE_BYTES, dtype)) return dtype as TensorDType;
  throw new EngineError(
    'invalid-model',
    `${file}: the tensor ${shown} has the dtype ${printable(String(JSON.stringify(dtype)))}, which this reader does not read (it reads ${Object.keys(DTYPE_BYTES).join(', ')}): use the model's float16 or float32 checkpoint.`,
  );
}

/** The value as non-negative safe integers, or undefined when it is anything else. */
function integers(value: unknown): number[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.every((n) => Number.isSafeInteger(n) && n >= 0) ? (value as number[]) : undefined;
}

/** Two tensors sharing bytes would be a header that lies (safetensors forbids aliasing). */
function checkNoOverlap(file: string, tensors: CheckpointTensor[]): void {
  const byStart = tensors.filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byStart.length; i++) {
    const previous = byStart[i - 1];
    if (byStart[i].offset < previous.offset + previous.byteLength) {
      throw damaged(file, `the header places the tensors ${printable(previous.name)} and ${printable(byStart[i].name)} on overlapping bytes`);
    }
  }
}
