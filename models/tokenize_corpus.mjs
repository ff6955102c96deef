#!/usr/bin/env node
// Tokenizes text with the project's own CodeGen tokenizer (GPT-2 BPE + CodeGen's whitespace tokens), for
// models/train_small_codegen.py: Python has no tiktoken here, so the training script hands the work to Node.
//
// The tokenizer is the compiled one (out-*/src/engine/tokenizer.js, class CodeGenTokenizer), so the ids are
// exactly those the engine produces. Build it first:
//     npx tsc -p . --outDir out-train
//
// Two modes, both reading and writing files (no stdout protocol, so progress lines can go to stderr freely):
//
//   Corpus: every file of a list, concatenated, each file followed by <|endoftext|> (50256):
//     node models/tokenize_corpus.mjs --tokenizer out-train/src/engine/tokenizer.js \
//          --corpus FILES.json --out PREFIX
//     FILES.json: a JSON array of absolute paths (read as UTF-8). Writes PREFIX.bin (the ids, little-endian
//     uint16: every id is < 50295) and PREFIX.index.json: [{path, start, count}] where start is the index of
//     the file's first id in PREFIX.bin and count its number of ids (the <|endoftext|> after it not counted).
//
//   JSON: encode texts and/or decode id lists:
//     node models/tokenize_corpus.mjs --tokenizer ... --json IN.json --out OUT.json
//     IN.json: {"encode": [text, ...], "decode": [[id, ...], ...]} (either key optional);
//     OUT.json: {"encoded": [[id, ...], ...], "decoded": [text, ...]}.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const EOS = 50256;

const { values } = parseArgs({
  options: {
    tokenizer: { type: 'string' },
    corpus: { type: 'string' },
    json: { type: 'string' },
    out: { type: 'string' },
  },
});
if (!values.tokenizer || !values.out || !!values.corpus === !!values.json) {
  console.error('usage: tokenize_corpus.mjs --tokenizer out-X/src/engine/tokenizer.js (--corpus FILES.json | --json IN.json) --out OUT');
  process.exit(2);
}

// The compiled tokenizer is CommonJS; it requires tiktoken from the repository's node_modules.
const require = createRequire(import.meta.url);
const { CodeGenTokenizer } = require(path.resolve(values.tokenizer));
const tokenizer = new CodeGenTokenizer();

if (values.corpus) {
  const files = JSON.parse(fs.readFileSync(values.corpus, 'utf8'));
  const chunks = [];
  const index = [];
  let total = 0;
  const started = Date.now();
  for (const [n, file] of files.entries()) {
    const ids = tokenizer.encode(fs.readFileSync(file, 'utf8'));
    ids.push(EOS);
    const chunk = Uint16Array.from(ids);
    // Uint16Array.from would wrap silently; the tokenizer's ids are all < 50295, so this only guards a bug.
    if (ids.some((id) => id < 0 || id > 0xffff)) throw new Error(`${file}: id out of uint16 range`);
    chunks.push(chunk);
    index.push({ path: file, start: total, count: ids.length - 1 });
    total += chunk.length;
    if ((n + 1) % 100 === 0) console.error(`[tokenize] ${n + 1}/${files.length} files, ${total} tokens`);
  }
  const all = new Uint16Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  // Uint16Array is in the platform's byte order; write little-endian explicitly so the file means one thing.
  const buf = Buffer.alloc(total * 2);
  for (let i = 0; i < total; i++) buf.writeUInt16LE(all[i], 2 * i);
  fs.writeFileSync(`${values.out}.bin`, buf);
  fs.writeFileSync(`${values.out}.index.json`, JSON.stringify(index) + '\n');
  console.error(`[tokenize] ${files.length} files, ${total} tokens in ${((Date.now() - started) / 1000).toFixed(1)} s -> ${values.out}.bin`);
} else {
  const input = JSON.parse(fs.readFileSync(values.json, 'utf8'));
  const out = {
    encoded: (input.encode ?? []).map((text) => tokenizer.encode(text)),
    decoded: (input.decode ?? []).map((ids) => tokenizer.decode(ids)),
  };
  fs.writeFileSync(values.out, JSON.stringify(out) + '\n');
}
