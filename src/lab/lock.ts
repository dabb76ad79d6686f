// Cross-process lock: an exclusively created file in os.tmpdir() holding the owner's
// pid. Every e2e test file holds it for its duration, so e2e files run one at a time
// even though `node --test` runs two files in parallel. A lock whose pid is dead is
// stale and is taken over.
import { openSync, writeSync, closeSync, readFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidAlive, sleep } from './netns.js';

export interface LockHandle {
  path: string;
  release(): void;
}

export interface LockOptions {
  /** Give up after this long (default 45 min). */
  timeoutMs?: number;
  pollMs?: number;
  onWait?: (holderPid: number) => void;
}

export function lockPath(name = 'weft-e2e'): string {
  return join(tmpdir(), `${name}.lock`);
}

function tryCreate(path: string): boolean {
  try {
    const fd = openSync(path, 'wx', 0o644);
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

function holder(path: string): number | null {
  try {
    const n = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

export async function acquireLock(name = 'weft-e2e', opts: LockOptions = {}): Promise<LockHandle> {
  const path = lockPath(name);
  const deadline = Date.now() + (opts.timeoutMs ?? 45 * 60_000);
  let warned = false;
  for (;;) {
    if (tryCreate(path)) break;
    const pid = holder(path);
    if (pid === process.pid) break; // re-entrant within one process
    if (pid === null || !pidAlive(pid)) {
      // Stale (or half-written: give a writer a moment before stealing).
      if (pid === null) await sleep(100);
      const again = holder(path);
      if (again === pid) {
        try {
          unlinkSync(path);
        } catch {
          /* someone else removed it */
        }
      }
      continue;
    }
    if (!warned) {
      warned = true;
      opts.onWait?.(pid);
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${path} held by pid ${pid}`);
    await sleep(opts.pollMs ?? 250);
  }
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.removeListener('exit', release);
    if (holder(path) === process.pid) {
      try {
        unlinkSync(path);
      } catch {
        /* gone */
      }
    }
  };
  process.once('exit', release);
  return { path, release };
}
