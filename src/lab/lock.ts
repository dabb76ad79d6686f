// The e2e lock: a cross-process file lock (src/file-lock.ts) in os.tmpdir(). Every e2e
// test file holds it for its duration, so e2e files run one at a time even though
// `node --test` runs two files in parallel. A lock whose pid is dead is stale and is
// taken over.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireFileLock, type FileLockOptions, type LockHandle } from '../file-lock.js';

export type { LockHandle };

export type LockOptions = Pick<FileLockOptions, 'timeoutMs' | 'pollMs' | 'onWait'>;

export function lockPath(name = 'weft-e2e'): string {
  return join(tmpdir(), `${name}.lock`);
}

/** Waits up to 45 min by default; re-entrant within one process. */
export function acquireLock(name = 'weft-e2e', opts: LockOptions = {}): Promise<LockHandle> {
  return acquireFileLock(lockPath(name), { timeoutMs: 45 * 60_000, pollMs: 250, reentrant: true, ...opts });
}
