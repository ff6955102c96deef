// Salesforce's checkpoint formats: PyTorch zip archives (through a safe unpickler) and safetensors files are read
// to the same tensor list with the right values; hostile pickles are refused before anything runs; cut, damaged or
// lying files fail with one actionable message, never a crash.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { openPytorchCheckpoint } from '../../src/engine/checkpoint/pytorchFile';
import { unpickle, unpickleStateDict } from '../../src/engine/checkpoint/safePickle';
import { openSafetensors } from '../../src/engine/checkpoint/safetensorsFile';
import { readFloat32, readTensorBytes, type TensorFile } from '../../src/engine/checkpoint/tensorFile';
import { openZip, readEntry, storedRange } from '../../src/engine/checkpoint/zipArchive';
import { EngineError } from '../../src/protocol/errors';
import {
  PICKLE,
  PickleWriter,
  safetensorsBytes,
  stateDictPickle,
  writeSafetensors,
  writeTorchCheckpoint,
  writeZip,
  type SafetensorsInput,
  type StorageInput,
} from '../helpers/checkpointWriters';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'codegen-checkpoints-'));
after(() => fs.rmSync(scratch, { recursive: true, force: true }));

let fileCount = 0;
function writeFile(bytes: Uint8Array, name = 'pytorch_model.bin'): string {
  const dir = path.join(scratch, String(fileCount++));
  fs.mkdirSync(dir);
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

/** One reused path, for loops over many variants of a file. */
function overwrite(bytes: Uint8Array, name = 'variant.bin'): string {
  const file = path.join(scratch, name);
  fs.writeFileSync(file, bytes);
  return file;
}

const TRUNCATED = /is truncated or damaged \(.+\): download it again\.$/;

/** Asserts `fn` throws one EngineError 'invalid-model' whose message matches. */
function assertInvalid(fn: () => unknown, message: RegExp): EngineError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof EngineError, `expected an EngineError, got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught)}`);
  assert.equal(caught.code, 'invalid-model');
  assert.match(caught.message, message);
  assert.ok(!caught.message.includes('\n'), 'the message is one line');
  return caught;
}

function values(file: TensorFile, name: string): number[] {
  const tensor = file.tensors.get(name);
  assert.ok(tensor, `${name} is in the file`);
  return [...readFloat32(tensor)];
}

// Fixtures.

const STORAGES: StorageInput[] = [
  { key: '0', storageClass: 'HalfStorage', values: [0, 1, -2, 0.5, 1.5, 65504] },
  { key: '1', storageClass: 'FloatStorage', values: [0.1, -3.25, 1e-8] },
  { key: '2', storageClass: 'BFloat16Storage', values: [1, -0.5, 256, 3.5] },
  { key: '3', storageClass: 'HalfStorage', values: [7] },
  { key: '4', storageClass: 'BoolStorage', values: [1, 0, 0, 1] },
];
const TENSORS = [
  { name: 'transformer.wte.weight', key: '0', offset: 0, shape: [2, 3] },
  { name: 'transformer.ln_f.bias', key: '1', offset: 0, shape: [3] },
  { name: 'lm_head.weight', key: '2', offset: 0, shape: [2, 2] },
  { name: 'transformer.h.0.attn.masked_bias', key: '3', offset: 0, shape: [] },
  { name: 'transformer.h.0.attn.causal_mask', key: '4', offset: 0, shape: [1, 1, 2, 2] },
];
const checkpointBytes = (options = {}) => writeTorchCheckpoint(STORAGES, TENSORS, options);

function assertFixtureValues(file: TensorFile): void {
  assert.deepEqual([...file.tensors.keys()], TENSORS.map((t) => t.name));
  const wte = file.tensors.get('transformer.wte.weight')!;
  assert.equal(wte.dtype, 'F16');
  assert.deepEqual(wte.shape, [2, 3]);
  assert.equal(wte.byteLength, 12);
  assert.deepEqual(values(file, 'transformer.wte.weight'), [0, 1, -2, 0.5, 1.5, 65504]);
  assert.equal(file.tensors.get('transformer.ln_f.bias')!.dtype, 'F32');
  assert.deepEqual(values(file, 'transformer.ln_f.bias'), [...Float32Array.from([0.1, -3.25, 1e-8])]);
  assert.equal(file.tensors.get('lm_head.weight')!.dtype, 'BF16');
  assert.deepEqual(values(file, 'lm_head.weight'), [1, -0.5, 256, 3.5]);
  const bias = file.tensors.get('transformer.h.0.attn.masked_bias')!;
  assert.deepEqual(bias.shape, []);
  assert.deepEqual(values(file, 'transformer.h.0.attn.masked_bias'), [7]);
  const mask = file.tensors.get('transformer.h.0.attn.causal_mask')!;
  assert.equal(mask.dtype, 'BOOL');
  assert.deepEqual([...readTensorBytes(mask)], [1, 0, 0, 1]);
}

// PyTorch archives.

test('a torch.save archive of fp16, fp32, bf16 and bool tensors reads back with its values, names and order', () => {
  assertFixtureValues(openPytorchCheckpoint(writeFile(checkpointBytes())));
});

test('the archive folder may be named after the file, and a little-endian byteorder entry is accepted', () => {
  assertFixtureValues(openPytorchCheckpoint(writeFile(checkpointBytes({ prefix: 'pytorch_model', byteorder: 'little' }))));
});

test('data is found through each local header, whose extra field differs from the central directory one', () => {
  for (const align of [1, 64]) {
    const file = writeFile(checkpointBytes({ align }));
    const archive = openZip(file);
    const storage = archive.entries.get('archive/data/0')!;
    if (align === 64) assert.equal(storage.dataOffset % 64, 0);
    assert.equal(storage.size, 12);
    assertFixtureValues(openPytorchCheckpoint(file));
  }
});

test('ZIP64 records (zip64 end of central directory, locator and 0x0001 extra fields) are read like plain ones', () => {
  const file = writeFile(checkpointBytes({ zip64: true }));
  const archive = openZip(file);
  assert.deepEqual([...archive.entries.keys()], ['archive/data.pkl', 'archive/data/0', 'archive/data/1', 'archive/data/2', 'archive/data/3', 'archive/data/4', 'archive/version']);
  assert.equal(readEntry(archive, archive.entries.get('archive/version')!).toString(), '3\n');
  assertFixtureValues(openPytorchCheckpoint(file));
});

test('two tensors viewing one storage at different storage offsets get their own ranges', () => {
  const storages: StorageInput[] = [{ key: '0', storageClass: 'HalfStorage', values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] }];
  const tensors = [
    { name: 'a', key: '0', offset: 0, shape: [2, 3] },
    { name: 'b', key: '0', offset: 6, shape: [4] },
    { name: 'c', key: '0', offset: 2, shape: [1, 3], stride: [99, 1] },
  ];
  const file = openPytorchCheckpoint(writeFile(writeTorchCheckpoint(storages, tensors)));
  assert.deepEqual(values(file, 'a'), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(values(file, 'b'), [7, 8, 9, 10]);
  assert.deepEqual(values(file, 'c'), [3, 4, 5], 'a size-1 dimension may have any stride');
  assert.equal(file.tensors.get('b')!.offset, file.tensors.get('a')!.offset + 12);
});

test('a non-contiguous tensor (a transpose) is refused, naming it', () => {
  const storages: StorageInput[] = [{ key: '0', storageClass: 'FloatStorage', values: [1, 2, 3, 4, 5, 6] }];
  const bytes = writeTorchCheckpoint(storages, [{ name: 'transformer.h.0.mlp.fc_in.weight', key: '0', offset: 0, shape: [3, 2], stride: [1, 3] }]);
  assertInvalid(() => openPytorchCheckpoint(writeFile(bytes)), /transformer\.h\.0\.mlp\.fc_in\.weight \[3, 2\] has strides \(1, 3\), not a contiguous row-major layout: re-save .*\.contiguous\(\)/);
});

test('a tensor reaching past its storage, or a storage larger than its entry, is a damaged file', () => {
  const storages: StorageInput[] = [{ key: '0', storageClass: 'HalfStorage', values: [1, 2, 3, 4] }];
  const past = writeTorchCheckpoint(storages, [{ name: 'w', key: '0', offset: 2, shape: [3] }]);
  assertInvalid(() => openPytorchCheckpoint(writeFile(past)), /the tensor w \[3\] at element 2 of storage 0 reaches past its 4 elements/);
  const lying = stateDictPickle([{ name: 'w', key: '0', storageClass: 'HalfStorage', storageNumel: 8, offset: 0, shape: [8] }]);
  const bytes = writeTorchCheckpoint(storages, [], { pickle: lying });
  assertInvalid(() => openPytorchCheckpoint(writeFile(bytes)), /the storage 0 holds 8 HalfStorage elements \(16 bytes\), but its entry has 8 bytes/);
  const missing = stateDictPickle([{ name: 'w', key: '7', storageClass: 'HalfStorage', storageNumel: 4, offset: 0, shape: [4] }]);
  assertInvalid(() => openPytorchCheckpoint(writeFile(writeTorchCheckpoint(storages, [], { pickle: missing }))), /names the storage 7, but there is no entry archive\/data\/7/);
});

test('a pytorch_model.bin cut anywhere gives the one actionable error', () => {
  const bytes = checkpointBytes();
  const archive = openZip(writeFile(bytes));
  const storage = archive.entries.get('archive/data/2')!;
  const directoryStart = bytes.length - 22 - [...archive.entries.values()].reduce((n, e) => n + 46 + Buffer.byteLength(e.name), 0);
  const named = { 'inside a storage': storage.dataOffset + 3, 'inside the central directory': directoryStart + 50, 'inside the end record': bytes.length - 5, 'after two bytes': 2 };
  for (const [where, length] of Object.entries(named)) {
    const err = assertInvalid(() => openPytorchCheckpoint(writeFile(bytes.subarray(0, length))), TRUNCATED);
    assert.ok(err.message.startsWith(scratch), `${where}: the message names the file`);
  }
  for (let length = 0; length < bytes.length; length++) {
    assertInvalid(() => openPytorchCheckpoint(overwrite(bytes.subarray(0, length))), TRUNCATED);
  }
  const zip64 = checkpointBytes({ zip64: true });
  for (let length = 0; length < zip64.length; length++) {
    assertInvalid(() => openPytorchCheckpoint(overwrite(zip64.subarray(0, length))), TRUNCATED);
  }
});

test('a corrupted byte anywhere in the archive opens or fails as an EngineError, never a raw exception', () => {
  for (const bytes of [checkpointBytes(), checkpointBytes({ zip64: true })]) {
    for (let at = 0; at < bytes.length; at++) {
      const copy = Buffer.from(bytes);
      copy[at] ^= 0xa5;
      try {
        openPytorchCheckpoint(overwrite(copy));
      } catch (err) {
        assert.ok(err instanceof EngineError, `byte ${at}: ${err instanceof Error ? err.stack : String(err)}`);
        assert.ok(!err.message.includes('\n'));
      }
    }
  }
});

test('a compressed entry is refused when its data is asked for', () => {
  const pickle = stateDictPickle([]);
  const file = writeFile(writeZip([{ name: 'archive/data.pkl', data: pickle, method: 8 }, { name: 'archive/version', data: Buffer.from('3\n') }]));
  const archive = openZip(file);
  assert.equal(archive.entries.get('archive/data.pkl')!.method, 8, 'listing the entry is fine');
  assertInvalid(() => storedRange(archive, archive.entries.get('archive/data.pkl')!), /the entry archive\/data\.pkl is compressed \(ZIP method 8\)/);
  assertInvalid(() => openPytorchCheckpoint(file), /is compressed \(ZIP method 8\), but PyTorch stores checkpoint entries uncompressed/);
});

test('the legacy format, a foreign zip, a big-endian archive and a non-zip file are each named for what they are', () => {
  const legacy = Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e, 0x80, 0x02]);
  assertInvalid(() => openPytorchCheckpoint(writeFile(legacy)), /legacy \(pre-1\.6, non-zip\) format.*re-save it with torch\.save from PyTorch 1\.6 or newer, or use the model's safetensors file/);
  assertInvalid(() => openPytorchCheckpoint(writeFile(writeZip([{ name: 'readme.txt', data: Buffer.from('hi') }]))), /without a <folder>\/data\.pkl entry/);
  assertInvalid(() => openPytorchCheckpoint(writeFile(checkpointBytes({ byteorder: 'big' }))), /"big" byte order/);
  assertInvalid(() => openPytorchCheckpoint(writeFile(Buffer.from('<!DOCTYPE html><html>rate limited</html>'))), /is not a PyTorch checkpoint/);
  assert.throws(() => openPytorchCheckpoint(path.join(scratch, 'nope.bin')), (err: unknown) => err instanceof EngineError && err.code === 'model-not-found');
});

test('a pickle that is not a dict of tensors is refused, saying what it holds', () => {
  const list = new PickleWriter().proto(2).op(PICKLE.EMPTY_LIST).op(PICKLE.STOP).bytes();
  assertInvalid(() => openPytorchCheckpoint(writeFile(writeTorchCheckpoint([], [], { pickle: list }))), /data\.pkl holds a list, not a state dict/);
  const withNumber = stateDictPickle([], { extraItems: (w) => w.string('epoch').int(3) });
  assertInvalid(() => openPytorchCheckpoint(writeFile(writeTorchCheckpoint([], [], { pickle: withNumber }))), /maps epoch to the number 3, not a tensor/);
});

// The unpickler against hostile input.

const source = 'pytorch_model.bin: data.pkl';
const noStorage = () => {
  throw new Error('no storage expected');
};

test('a pickle calling os.system (a __reduce__ to it) is refused at the GLOBAL, and nothing runs', () => {
  const marker = path.join(scratch, 'pwned');
  const hostile = stateDictPickle(TENSORS.slice(0, 1).map((t) => ({ ...t, storageClass: 'HalfStorage' as const, storageNumel: 6 })), {
    extraItems: (w) => w.string('x').global('os', 'system').string(`touch ${marker}`).op(PICKLE.TUPLE1, PICKLE.REDUCE),
  });
  const file = writeFile(writeTorchCheckpoint(STORAGES, [], { pickle: hostile }));
  const err = assertInvalid(() => openPytorchCheckpoint(file), /asks for the Python global os\.system, which a CodeGen state dict never needs; refusing to load it \(the file is not a plain checkpoint, or it is hostile\): download the model from its official repository\.$/);
  assert.ok(err.message.startsWith(`${file}: data.pkl asks`), err.message);
  assert.equal(fs.existsSync(marker), false, 'the command did not run');
});

test('STACK_GLOBAL to posix.system (protocol 4, framed) is refused the same way', () => {
  const marker = path.join(scratch, 'pwned4');
  const w = new PickleWriter().proto(4).op(PICKLE.FRAME, 40, 0, 0, 0, 0, 0, 0, 0);
  w.stackGlobal('posix', 'system').shortUnicode(`touch ${marker}`).op(PICKLE.TUPLE1, PICKLE.REDUCE, PICKLE.STOP);
  assertInvalid(() => unpickle(w.bytes(), { source, loadStorage: noStorage }), /^pytorch_model\.bin: data\.pkl asks for the Python global posix\.system, which a CodeGen state dict never needs/);
  assert.equal(fs.existsSync(marker), false);
});

test('every global outside the allow-list is refused by name, allowed or not as a callable', () => {
  for (const [module, name] of [
    ['builtins', 'eval'],
    ['builtins', 'exec'],
    ['__builtin__', 'getattr'],
    ['subprocess', 'Popen'],
    ['nt', 'system'],
    ['torch', 'load'],
    ['torch._utils', '_rebuild_tensor'],
    ['torch.serialization', '_get_layout'],
    ['collections', 'OrderedDictX'],
    ['numpy.core.multiarray', '_reconstruct'],
  ]) {
    const bytes = new PickleWriter().proto(2).global(module, name).op(PICKLE.EMPTY_TUPLE, PICKLE.REDUCE, PICKLE.STOP).bytes();
    assertInvalid(() => unpickle(bytes, { source, loadStorage: noStorage }), new RegExp(`asks for the Python global ${module.replace(/\./g, '\\.')}\\.${name}, `));
  }
});

test('a global whose name hides a newline is still named on one line', () => {
  const bytes = new PickleWriter().proto(4).stackGlobal('os', 'system\nand more').op(PICKLE.STOP).bytes();
  assertInvalid(() => unpickle(bytes, { source, loadStorage: noStorage }), /asks for the Python global os\.system\\x0aand more, /);
});

test('an allowed storage class may only appear in a persistent id, never be called', () => {
  const bytes = new PickleWriter().proto(2).global('torch', 'HalfStorage').op(PICKLE.EMPTY_TUPLE, PICKLE.REDUCE, PICKLE.STOP).bytes();
  assertInvalid(() => unpickle(bytes, { source, loadStorage: noStorage }), /calls torch\.HalfStorage, which is only allowed as a storage type; refusing to load it/);
});

test('opcodes a state dict never uses (INST, OBJ, EXT1, PERSID) are refused naming the byte', () => {
  for (const op of [0x69 /* INST */, 0x6f /* OBJ */, 0x82 /* EXT1 */, 0x50 /* PERSID */, 0x92 /* NEWOBJ_EX */, 0x97 /* NEXT_BUFFER */]) {
    const bytes = Buffer.from([0x80, 0x02, op, 0x2e]);
    assertInvalid(() => unpickle(bytes, { source, loadStorage: noStorage }), new RegExp(`contains the pickle opcode 0x${op.toString(16)} at byte 2, which a PyTorch state dict never uses`));
  }
});

test('a malformed pickle (empty stack, missing mark, cut string, bad memo) is a damaged file, not a crash', () => {
  const cases = [
    [0x80, 0x02, PICKLE.REDUCE, 0x2e],
    [0x80, 0x02, PICKLE.TUPLE, 0x2e],
    [0x80, 0x02, PICKLE.BINUNICODE, 0xff, 0xff, 0x00, 0x00, 0x41],
    [0x80, 0x02, PICKLE.BINGET, 9, 0x2e],
    [0x80, 0x02, PICKLE.MARK, 0x2e],
    [0x80, 0x02, PICKLE.NEWFALSE, PICKLE.NEWFALSE, 0x2e],
    [0x80, 0x02, PICKLE.GLOBAL, 0x61],
    [0x80, 0x02],
  ];
  for (const bytes of cases) assertInvalid(() => unpickle(Buffer.from(bytes), { source, loadStorage: noStorage }), TRUNCATED);
});

test('persistent ids reach the callback as storage ids; _rebuild_parameter yields its tensor; LONG1 and BININT sizes', () => {
  const w = new PickleWriter().proto(2).op(PICKLE.EMPTY_DICT).string('p');
  w.global('torch._utils', '_rebuild_parameter').op(PICKLE.MARK);
  w.global('torch._utils', '_rebuild_tensor_v2').op(PICKLE.MARK);
  w.op(PICKLE.MARK).string('storage').global('torch', 'BFloat16Storage').string('12').string('cuda:0').int(2 ** 33).op(PICKLE.TUPLE, PICKLE.BINPERSID);
  w.int(70000).intTuple([65536, 2]).intTuple([2, 1]).op(PICKLE.NEWFALSE).op(PICKLE.EMPTY_DICT).op(PICKLE.TUPLE, PICKLE.REDUCE);
  w.op(PICKLE.NEWFALSE).op(PICKLE.EMPTY_DICT).op(PICKLE.TUPLE, PICKLE.REDUCE, PICKLE.SETITEM, PICKLE.STOP);
  const seen: unknown[] = [];
  const dict = unpickleStateDict(w.bytes(), { source, loadStorage: (id) => (seen.push(id), `storage ${id.key}`) });
  assert.deepEqual(seen, [{ key: '12', location: 'cuda:0', storageClass: 'BFloat16Storage', dtype: 'BF16', numel: 2 ** 33 }]);
  const p = dict.get('p')!;
  assert.equal(p.storage, 'storage 12');
  assert.equal(p.storageOffset, 70000);
  assert.deepEqual(p.shape, [65536, 2]);
  assert.deepEqual(p.stride, [2, 1]);
});

// Safetensors.

const SAFE_TENSORS: SafetensorsInput[] = [
  { name: 'transformer.wte.weight', dtype: 'F16', shape: [2, 3], values: [0, 1, -2, 0.5, 1.5, 65504] },
  { name: 'transformer.ln_f.bias', dtype: 'F32', shape: [3], values: [0.1, -3.25, 1e-8] },
  { name: 'lm_head.weight', dtype: 'BF16', shape: [2, 2], values: [1, -0.5, 256, 3.5] },
  { name: 'transformer.h.0.attn.masked_bias', dtype: 'F16', shape: [], values: [7] },
  { name: 'transformer.h.0.attn.causal_mask', dtype: 'BOOL', shape: [1, 1, 2, 2], values: [1, 0, 0, 1] },
];

test('a safetensors file of fp16, fp32, bf16 and bool tensors reads back with the same values as the archive', () => {
  const safe = openSafetensors(writeFile(writeSafetensors(SAFE_TENSORS), 'model.safetensors'));
  assertFixtureValues(safe);
  const torch = openPytorchCheckpoint(writeFile(checkpointBytes()));
  for (const name of torch.tensors.keys()) {
    assert.deepEqual(safe.tensors.get(name)!.shape, torch.tensors.get(name)!.shape);
    assert.deepEqual([...readTensorBytes(safe.tensors.get(name)!)], [...readTensorBytes(torch.tensors.get(name)!)], name);
  }
});

test('a safetensors header that lies about sizes, dtypes or ranges is refused naming the tensor', () => {
  const open = (edit: (h: Record<string, unknown>) => void) => () => openSafetensors(writeFile(writeSafetensors(SAFE_TENSORS, edit), 'model.safetensors'));
  const entry = (h: Record<string, unknown>, name: string) => h[name] as { dtype: string; shape: number[]; data_offsets: number[] };
  assertInvalid(open((h) => (entry(h, 'lm_head.weight').shape = [2, 3])), /the header gives the tensor lm_head\.weight \(BF16 \[2, 3\], 12 bytes\) a range of 8 bytes\): download it again/);
  assertInvalid(open((h) => (entry(h, 'transformer.ln_f.bias').dtype = 'F16')), /transformer\.ln_f\.bias \(F16 \[3\], 6 bytes\) a range of 12 bytes/);
  assertInvalid(open((h) => (entry(h, 'transformer.ln_f.bias').dtype = 'F8_E4M3')), /the tensor transformer\.ln_f\.bias has the dtype "F8_E4M3", which this reader does not read/);
  assertInvalid(open((h) => (entry(h, 'lm_head.weight').data_offsets = [0, 8])), /places the tensors transformer\.wte\.weight and lm_head\.weight on overlapping bytes/);
  assertInvalid(open((h) => (entry(h, 'lm_head.weight').data_offsets = [1000, 1008])), /the tensor lm_head\.weight ends at byte \d+, but the file has only \d+ bytes/);
  assertInvalid(open((h) => (entry(h, 'lm_head.weight').data_offsets = [8, 4])), /lm_head\.weight the data_offsets \[8,4\], not \[begin, end\]/);
  assertInvalid(open((h) => (entry(h, 'lm_head.weight').shape = [2, -2])), /lm_head\.weight the shape \[2,-2\], not a list of sizes/);
  assertInvalid(open((h) => (h['lm_head.weight'] = 'nothing')), /describes the tensor lm_head\.weight as "nothing", not \{dtype, shape, data_offsets\}/);
});

test('a safetensors header length beyond the file, absurd, or not JSON is a damaged file', () => {
  const data = Buffer.alloc(16);
  const header = JSON.stringify({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } });
  assertInvalid(() => openSafetensors(writeFile(safetensorsBytes(header, data, 4096n), 'model.safetensors')), /the header claims 4096 bytes, but the file has only \d+ after its length/);
  assertInvalid(() => openSafetensors(writeFile(safetensorsBytes(header, data, 2n ** 63n), 'model.safetensors')), /a header length of 9223372036854775808 bytes, more than any safetensors header/);
  assertInvalid(() => openSafetensors(writeFile(safetensorsBytes('{"w": {', data), 'model.safetensors')), /its header is not valid JSON/);
  assertInvalid(() => openSafetensors(writeFile(safetensorsBytes('[1, 2]', data), 'model.safetensors')), /its header is not a JSON object of tensors/);
  assert.equal(openSafetensors(writeFile(safetensorsBytes(header, data), 'model.safetensors')).tensors.get('w')!.byteLength, 16);
});

test('a safetensors file cut anywhere gives the one actionable error', () => {
  const bytes = writeSafetensors(SAFE_TENSORS);
  for (let length = 0; length < bytes.length; length++) {
    assertInvalid(() => openSafetensors(overwrite(bytes.subarray(0, length), 'variant.safetensors')), TRUNCATED);
  }
});
