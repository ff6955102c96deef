// Where the bundled test model lives, from a checkout (out/...) or a bundle (dist/).
import * as fs from 'node:fs';
import * as path from 'node:path';

export const BUNDLED_MODEL_NAME = 'codegen-tiny-random';

export function bundledModelDir(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'models', BUNDLED_MODEL_NAME);
    if (fs.existsSync(path.join(candidate, 'config.json'))) return candidate;
    if (path.dirname(dir) === dir) return path.join(__dirname, '..', 'models', BUNDLED_MODEL_NAME);
  }
}
