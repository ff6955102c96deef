// A checkpoint file as the converter needs it: the name, dtype and shape of each tensor, and where its bytes lie
// in the file. Both of Salesforce's formats reduce to this: a safetensors file names byte ranges in its header,
// and a PyTorch zip archive stores each storage uncompressed, so a tensor is a range of its storage's entry.
// Nothing is read until a tensor is asked for, and then only that tensor (converting 16B must not hold 32 GB).
import * as fs from 'node:fs';
import { EngineError } from '../../protocol/errors';
import { halfToFloat } from '../compiler/quantize';

export type TensorDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Readonly<Record<TensorDType, number>> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export interface CheckpointTensor {
  readonly name: string;
  readonly dtype: TensorDType;
  readonly shape: readonly number[];
  /** The file holding the bytes, and their place in it: row-major, little-endian, contiguous. */
  readonly file: string;
  readonly offset: number;
  readonly byteLength: number;
}

export interface TensorFile {
  readonly file: string;
  /** Every tensor of the file by name, in the file's order; byte ranges already checked against the file's size. */
  readonly tensors: ReadonlyMap<string, CheckpointTensor>;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Largest single read (fs.readSync takes at most 2 GiB - 1 at once). */
const READ_CHUNK = 1 << 30;

/** The raw bytes of one tensor, read from its file now. */
export function readTensorBytes(tensor: CheckpointTensor): Uint8Array {
  const out = new Uint8Array(tensor.byteLength);
  let fd: number;
  try {
    fd = fs.openSync(tensor.file, 'r');
  } catch (err) {
    throw new EngineError('invalid-model', `Cannot open ${tensor.file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): download the model again.`);
  }
  try {
    let done = 0;
    while (done < out.length) {
      const n = fs.readSync(fd, out, done, Math.min(READ_CHUNK, out.length - done), tensor.offset + done);
      if (n === 0) {
        throw new EngineError('invalid-model', `${tensor.file} ends inside ${tensor.name}: the file is truncated; download the model again.`);
      }
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/** One tensor's values as float32 (from F32, F16, BF16 or F64). */
export function readFloat32(tensor: CheckpointTensor): Float32Array {
  const bytes = readTensorBytes(tensor);
  const count = elementCount(tensor.shape);
  switch (tensor.dtype) {
    case 'F32':
      return new Float32Array(bytes.buffer, bytes.byteOffset, count);
    case 'F16':
      return halfToFloat(new Uint16Array(bytes.buffer, bytes.byteOffset, count));
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, count);
      const out = new Uint32Array(count);
      for (let i = 0; i < count; i++) out[i] = halves[i] << 16;
      return new Float32Array(out.buffer);
    }
    case 'F64':
      return Float32Array.from(new Float64Array(bytes.buffer, bytes.byteOffset, count));
    default:
      throw new EngineError('invalid-model', `${tensor.file}: ${tensor.name} holds ${tensor.dtype}, not floating-point weights: the checkpoint is not a CodeGen model this converter can read.`);
  }
}
