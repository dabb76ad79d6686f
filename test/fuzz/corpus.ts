// The checked-in fuzz corpus: test/fuzz/corpus/<target>/<first 16 hex of SHA-256>.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CORPUS_DIR = fileURLToPath(new URL('../../../test/fuzz/corpus/', import.meta.url));

export function readCorpus(target: string, dir = CORPUS_DIR): Uint8Array[] {
  const folder = join(dir, target);
  return readdirSync(folder)
    .filter((f) => !f.startsWith('.'))
    .sort()
    .map((f) => new Uint8Array(readFileSync(join(folder, f))));
}

/** Writes one input under its content name (idempotent); returns the file name. */
export function addToCorpus(target: string, input: Uint8Array, dir = CORPUS_DIR): string {
  mkdirSync(join(dir, target), { recursive: true });
  const name = createHash('sha256').update(input).digest('hex').slice(0, 16);
  writeFileSync(join(dir, target, name), input);
  return name;
}
