// The benchmark data the repository ships in data/ (MTPB and HumanEval, with their licences: data/README.md). The
// package root holds data/ both in a checkout (this file runs from out/src/eval/) and in the installed extension
// (from dist/), so the folder is found by walking up from here.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EvalSetupError } from './sandbox';

export const MTPB_DATA = 'mtpb.jsonl';
export const HUMANEVAL_DATA = 'HumanEval.jsonl.gz';

/** data/<name> of this package. Throws when it is missing (a broken install: nothing the user can fix but reinstall). */
export function benchmarkDataFile(name: string): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'data', name);
    if (fs.existsSync(candidate) && fs.existsSync(path.join(dir, 'package.json'))) return candidate;
    if (path.dirname(dir) === dir) throw new EvalSetupError(`data/${name} is missing from this installation (looked in every folder above ${__dirname}): reinstall codegen-mt, or give the file with --data FILE`);
  }
}
