// A read-only ZIP reader over a file descriptor, for PyTorch checkpoints: only the central directory and the local
// headers are read, never the entries' data (a checkpoint is up to 32 GB). ZIP64 is supported because torch.save
// writes it for files over 4 GB. Anything inconsistent is reported as a damaged file: a checkpoint cut short by a
// failed download loses its central directory first, so that is the usual way truncation shows here.
import * as fs from 'node:fs';
import { EngineError } from '../../protocol/errors';

export interface ZipEntry {
  readonly name: string;
  /** 0 is STORED (what PyTorch writes); anything else is compressed and cannot be read in place. */
  readonly method: number;
  readonly compressedSize: number;
  /** Uncompressed size in bytes. */
  readonly size: number;
  /** Absolute offset of the entry's first data byte in the file. */
  readonly dataOffset: number;
  /** General-purpose flags; bit 0 means encrypted. */
  readonly flags: number;
}

export interface ZipArchive {
  readonly file: string;
  readonly fileSize: number;
  /** Every entry by name, in central directory order. */
  readonly entries: ReadonlyMap<string, ZipEntry>;
}

const EOCD_SIGNATURE = 0x06054b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const ZIP64_EOCD_SIZE = 56;
const CENTRAL_SIGNATURE = 0x02014b50;
const CENTRAL_SIZE = 46;
const LOCAL_SIGNATURE = 0x04034b50;
const LOCAL_SIZE = 30;
const ZIP64_EXTRA_ID = 0x0001;
const U16_MAX = 0xffff;
const U32_MAX = 0xffffffff;
/** Far beyond any checkpoint's directory (a 16B model has about 1,500 entries); guards against absurd allocations. */
const MAX_CENTRAL_DIRECTORY = 256 * 1024 * 1024;

export const STORED = 0;

/** The error for any inconsistency in the archive: one line, saying what to do. */
export function damaged(file: string, detail: string): EngineError {
  return new EngineError('invalid-model', `${file} is truncated or damaged (${detail}): download it again.`);
}

/** A name from the file as it may appear in a one-line message: control characters escaped, long ones cut. */
export function printable(text: string): string {
  const escaped = text.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return escaped.length > 120 ? `${escaped.slice(0, 120)}...` : escaped;
}


/** Opens `file` and reads its directory; the data of the entries stays on disk. */
export function openZip(file: string): ZipArchive {
  const fd = openForReading(file);
  try {
    const fileSize = fs.fstatSync(fd).size;
    const reader = new FileReader(fd, file, fileSize);
    const directory = findCentralDirectory(reader);
    const entries = readCentralDirectory(reader, directory);
    return { file, fileSize, entries };
  } finally {
    fs.closeSync(fd);
  }
}

/** The byte range of a STORED entry's data; any other method is refused with a clear message. */
export function storedRange(archive: ZipArchive, entry: ZipEntry): { offset: number; length: number } {
  if (entry.flags & 1) {
    throw new EngineError('invalid-model', `${archive.file}: the entry ${printable(entry.name)} is encrypted, which no PyTorch checkpoint is: download the model from its official repository.`);
  }
  if (entry.method !== STORED) {
    throw new EngineError(
      'invalid-model',
      `${archive.file}: the entry ${printable(entry.name)} is compressed (ZIP method ${entry.method}), but PyTorch stores checkpoint entries uncompressed: re-save the checkpoint with torch.save or download it from its official repository.`,
    );
  }
  return { offset: entry.dataOffset, length: entry.size };
}

/** The whole data of a small STORED entry (data.pkl, version, byteorder). */
export function readEntry(archive: ZipArchive, entry: ZipEntry): Buffer {
  const { offset, length } = storedRange(archive, entry);
  const fd = openForReading(archive.file);
  try {
    return new FileReader(fd, archive.file, fs.fstatSync(fd).size).read(offset, length, `the entry ${printable(entry.name)}`);
  } finally {
    fs.closeSync(fd);
  }
}

export function openForReading(file: string): number {
  try {
    return fs.openSync(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new EngineError('model-not-found', `${file} does not exist: download the model again.`);
    throw new EngineError('invalid-model', `Cannot open ${file} (${code ?? (err as Error).message}): check its permissions or download the model again.`);
  }
}

/** Positioned reads that fail as a damaged file, not as a RangeError, when they reach past the end. */
class FileReader {
  constructor(
    private readonly fd: number,
    readonly file: string,
    readonly size: number,
  ) {}

  read(offset: number, length: number, what: string): Buffer {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw damaged(this.file, `${what} at byte ${offset} ends past the end of the file, which has ${this.size} bytes`);
    }
    const out = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, out, done, length - done, offset + done);
      if (n === 0) throw damaged(this.file, `${what} at byte ${offset} ends past the end of the file`);
      done += n;
    }
    return out;
  }
}

interface CentralDirectory {
  readonly offset: number;
  readonly size: number;
  readonly count: number;
  /** Where the records after the directory begin: nothing of the directory may reach past this. */
  readonly end: number;
}

function findCentralDirectory(reader: FileReader): CentralDirectory {
  if (reader.size < EOCD_SIZE) throw damaged(reader.file, `only ${reader.size} bytes, too short for a ZIP archive`);
  const tailLength = Math.min(reader.size, EOCD_SIZE + MAX_COMMENT);
  const tailStart = reader.size - tailLength;
  const tail = reader.read(tailStart, tailLength, 'the end of the archive');
  // Search backwards: the last record whose comment reaches exactly to the end of the file is the real one.
  for (let at = tailLength - EOCD_SIZE; at >= 0; at--) {
    if (tail.readUInt32LE(at) !== EOCD_SIGNATURE) continue;
    if (at + EOCD_SIZE + tail.readUInt16LE(at + 20) !== tailLength) continue;
    return directoryFromEocd(reader, tail.subarray(at, at + EOCD_SIZE), tailStart + at);
  }
  throw damaged(reader.file, 'no ZIP end-of-central-directory record: the file ends early');
}

function directoryFromEocd(reader: FileReader, eocd: Buffer, eocdOffset: number): CentralDirectory {
  const count = eocd.readUInt16LE(10);
  const size = eocd.readUInt32LE(12);
  const offset = eocd.readUInt32LE(16);
  const locatorOffset = eocdOffset - ZIP64_LOCATOR_SIZE;
  const hasLocator = locatorOffset >= 0 && reader.read(locatorOffset, 4, 'the ZIP64 locator').readUInt32LE(0) === ZIP64_LOCATOR_SIGNATURE;
  if (hasLocator) return zip64Directory(reader, locatorOffset);
  if (count === U16_MAX || size === U32_MAX || offset === U32_MAX) {
    throw damaged(reader.file, 'the end-of-central-directory record needs ZIP64 but the ZIP64 locator is missing');
  }
  return checkedDirectory(reader, { offset, size, count, end: eocdOffset });
}

function zip64Directory(reader: FileReader, locatorOffset: number): CentralDirectory {
  const locator = reader.read(locatorOffset, ZIP64_LOCATOR_SIZE, 'the ZIP64 locator');
  const recordOffset = u64(reader, locator, 8, 'the ZIP64 record offset');
  if (recordOffset + ZIP64_EOCD_SIZE > locatorOffset) throw damaged(reader.file, `the ZIP64 record offset ${recordOffset} is not before its locator`);
  const record = reader.read(recordOffset, ZIP64_EOCD_SIZE, 'the ZIP64 end-of-central-directory record');
  if (record.readUInt32LE(0) !== ZIP64_EOCD_SIGNATURE) throw damaged(reader.file, `no ZIP64 end-of-central-directory record at byte ${recordOffset}`);
  return checkedDirectory(reader, {
    count: u64(reader, record, 32, 'the entry count'),
    size: u64(reader, record, 40, 'the central directory size'),
    offset: u64(reader, record, 48, 'the central directory offset'),
    end: recordOffset,
  });
}

function checkedDirectory(reader: FileReader, directory: CentralDirectory): CentralDirectory {
  if (directory.offset + directory.size > directory.end) {
    throw damaged(reader.file, `the central directory (${directory.size} bytes at ${directory.offset}) overruns the records after it at ${directory.end}`);
  }
  if (directory.size > MAX_CENTRAL_DIRECTORY) throw damaged(reader.file, `a central directory of ${directory.size} bytes`);
  if (directory.count * CENTRAL_SIZE > directory.size) {
    throw damaged(reader.file, `${directory.count} entries cannot fit in a central directory of ${directory.size} bytes`);
  }
  return directory;
}

function readCentralDirectory(reader: FileReader, directory: CentralDirectory): Map<string, ZipEntry> {
  const bytes = reader.read(directory.offset, directory.size, 'the central directory');
  const entries = new Map<string, ZipEntry>();
  let at = 0;
  for (let i = 0; i < directory.count; i++) {
    if (at + CENTRAL_SIZE > bytes.length || bytes.readUInt32LE(at) !== CENTRAL_SIGNATURE) {
      throw damaged(reader.file, `central directory entry ${i} of ${directory.count} is missing or malformed`);
    }
    const { entry, length } = centralEntry(reader, bytes, at, directory);
    if (entries.has(entry.name)) throw damaged(reader.file, `the entry ${printable(entry.name)} appears twice`);
    entries.set(entry.name, entry);
    at += length;
  }
  return entries;
}

function centralEntry(reader: FileReader, bytes: Buffer, at: number, directory: CentralDirectory): { entry: ZipEntry; length: number } {
  const flags = bytes.readUInt16LE(at + 8);
  const method = bytes.readUInt16LE(at + 10);
  const nameLength = bytes.readUInt16LE(at + 28);
  const extraLength = bytes.readUInt16LE(at + 30);
  const commentLength = bytes.readUInt16LE(at + 32);
  const length = CENTRAL_SIZE + nameLength + extraLength + commentLength;
  if (at + length > bytes.length) throw damaged(reader.file, `a central directory entry at byte ${directory.offset + at} overruns the directory`);
  // Bit 11: the name is UTF-8; otherwise it is CP437, of which PyTorch's ASCII names are the same bytes.
  const name = bytes.toString(flags & 0x800 ? 'utf8' : 'latin1', at + CENTRAL_SIZE, at + CENTRAL_SIZE + nameLength);
  const shown = printable(name);
  const extra = bytes.subarray(at + CENTRAL_SIZE + nameLength, at + CENTRAL_SIZE + nameLength + extraLength);
  const sizes = withZip64Sizes(reader, shown, extra, {
    size: bytes.readUInt32LE(at + 24),
    compressedSize: bytes.readUInt32LE(at + 20),
    localHeaderOffset: bytes.readUInt32LE(at + 42),
  });
  const dataOffset = localDataOffset(reader, shown, sizes.localHeaderOffset, directory.offset);
  if (dataOffset + sizes.compressedSize > directory.offset) {
    throw damaged(reader.file, `the entry ${shown} (${sizes.compressedSize} bytes at ${dataOffset}) overruns the central directory at ${directory.offset}`);
  }
  if (method === STORED && sizes.size !== sizes.compressedSize) {
    throw damaged(reader.file, `the stored entry ${shown} has ${sizes.compressedSize} bytes but claims ${sizes.size}`);
  }
  return { entry: { name, method, flags, compressedSize: sizes.compressedSize, size: sizes.size, dataOffset }, length };
}

interface EntrySizes {
  size: number;
  compressedSize: number;
  localHeaderOffset: number;
}

/** Fields saturated at 0xFFFFFFFF take their real value from the ZIP64 extra field, in this fixed order. */
function withZip64Sizes(reader: FileReader, name: string, extra: Buffer, sizes: EntrySizes): EntrySizes {
  const needed = (['size', 'compressedSize', 'localHeaderOffset'] as const).filter((key) => sizes[key] === U32_MAX);
  if (needed.length === 0) return sizes;
  const field = findExtraField(extra, ZIP64_EXTRA_ID);
  if (!field || field.length < needed.length * 8) throw damaged(reader.file, `the entry ${name} needs a ZIP64 extra field it does not have`);
  const out = { ...sizes };
  needed.forEach((key, i) => (out[key] = u64(reader, field, i * 8, `the ZIP64 ${key} of ${name}`)));
  return out;
}

function findExtraField(extra: Buffer, id: number): Buffer | undefined {
  for (let at = 0; at + 4 <= extra.length; ) {
    const fieldId = extra.readUInt16LE(at);
    const fieldLength = extra.readUInt16LE(at + 2);
    if (at + 4 + fieldLength > extra.length) return undefined;
    if (fieldId === id) return extra.subarray(at + 4, at + 4 + fieldLength);
    at += 4 + fieldLength;
  }
  return undefined;
}

/** The local header's own name and extra lengths decide where data starts (PyTorch pads its local extra field). */
function localDataOffset(reader: FileReader, name: string, headerOffset: number, directoryOffset: number): number {
  if (headerOffset + LOCAL_SIZE > directoryOffset) throw damaged(reader.file, `the local header of ${name} at byte ${headerOffset} is not before the central directory`);
  const header = reader.read(headerOffset, LOCAL_SIZE, `the local header of ${name}`);
  if (header.readUInt32LE(0) !== LOCAL_SIGNATURE) throw damaged(reader.file, `no local header for ${name} at byte ${headerOffset}`);
  return headerOffset + LOCAL_SIZE + header.readUInt16LE(26) + header.readUInt16LE(28);
}

function u64(reader: FileReader, bytes: Buffer, at: number, what: string): number {
  const value = bytes.readBigUInt64LE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw damaged(reader.file, `${what} is ${value}`);
  return Number(value);
}
