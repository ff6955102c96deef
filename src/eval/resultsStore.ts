// The results of a benchmark run: an append-only JSONL file, one complete sample a line, each line written with
// one write() and fsync'd, keyed so that an interrupted run resumes without losing or redoing a sample.
// A line cut short by a crash is removed when the file is opened again; a `run.json` beside it holds the
// settings the samples were made with, and a run with other settings refuses to mix into it.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface StoredRecord {
  readonly key: string;
  readonly [field: string]: unknown;
}

export class SettingsMismatchError extends Error {}

export class ResultsStore<R extends StoredRecord = StoredRecord> {
  /** Every record in the file, by key (the first one of a key wins). */
  readonly records = new Map<string, R>();
  /** Bytes of a cut-short last line that were dropped on open, and lines that were not JSON. */
  readonly repaired: { droppedBytes: number; badLines: number } = { droppedBytes: 0, badLines: 0 };
  private fd: number | undefined;

  private constructor(readonly file: string) {}

  /**
   * Opens (creating it if needed) `dir/fileName`. `settings` must equal the `run.json` of an earlier run in
   * `dir`, if there is one; it is written for a new run.
   */
  static open<R extends StoredRecord>(dir: string, fileName: string, settings: Record<string, unknown>): ResultsStore<R> {
    fs.mkdirSync(dir, { recursive: true });
    const settingsFile = path.join(dir, 'run.json');
    const file = path.join(dir, fileName);
    if (fs.existsSync(settingsFile)) {
      const before = JSON.parse(fs.readFileSync(settingsFile, 'utf8')) as Record<string, unknown>;
      const differences = Object.keys({ ...before, ...settings })
        .filter((k) => JSON.stringify(before[k]) !== JSON.stringify(settings[k]))
        .map((k) => `${k}: ${JSON.stringify(before[k])} then, ${JSON.stringify(settings[k])} now`);
      if (differences.length > 0) {
        throw new SettingsMismatchError(
          `${dir} holds a run made with other settings (${differences.join('; ')}): resume it with the same settings, or use another output folder`,
        );
      }
    } else {
      writeFileDurably(settingsFile, JSON.stringify(settings, null, 2) + '\n');
    }
    const store = new ResultsStore<R>(file);
    store.load();
    store.fd = fs.openSync(file, 'a');
    return store;
  }

  private load(): void {
    if (!fs.existsSync(this.file)) return;
    let text = fs.readFileSync(this.file, 'utf8');
    if (text.length > 0 && !text.endsWith('\n')) {
      // A write cut short by a crash (each line is written whole, so only the last can be partial).
      const keep = text.lastIndexOf('\n') + 1;
      const keepBytes = Buffer.byteLength(text.slice(0, keep));
      this.repaired.droppedBytes = Buffer.byteLength(text) - keepBytes;
      fs.truncateSync(this.file, keepBytes);
      text = text.slice(0, keep);
    }
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        const record = JSON.parse(line) as R;
        if (typeof record.key === 'string' && !this.records.has(record.key)) this.records.set(record.key, record);
      } catch {
        this.repaired.badLines++;
      }
    }
  }

  has(key: string): boolean {
    return this.records.has(key);
  }

  /**
   * Appends one record. `line` is its JSON text (the caller may splice raw JSON into it); it must parse to
   * `record`. Durable when this returns.
   */
  append(record: R, line = JSON.stringify(record)): void {
    if (this.fd === undefined) throw new Error(`${this.file} is closed`);
    if (line.includes('\n')) throw new Error('a record line must not contain a newline');
    fs.writeSync(this.fd, line + '\n');
    fs.fsyncSync(this.fd);
    this.records.set(record.key, record);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Writes a whole file through a temporary file and a rename: readers see the old or the new one, never half. */
export function writeFileDurably(file: string, text: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(temp, 'w');
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(temp, file);
}

/** JSON of `fields` with the given raw JSON texts spliced in as further fields (exact Python values). */
export function jsonWithRaw(fields: Record<string, unknown>, raw: Record<string, string>): string {
  const head = JSON.stringify(fields).slice(0, -1);
  const tail = Object.entries(raw)
    .map(([name, text]) => `${JSON.stringify(name)}:${text}`)
    .join(',');
  return tail ? `${head}${head.length > 1 ? ',' : ''}${tail}}` : `${head}}`;
}
