// Cross-process lock (Node has no flock): a file created exclusively (`open(path, 'wx')`)
// holding "<pid> <token>". A lock whose pid is dead — or, with `staleMs`, that is older
// than that — is stale and is taken over: it is renamed aside and removed only if it is
// still the one judged stale, so two waiters never both break a fresh lock. Used by the
// e2e lab (one e2e file at a time) and around resolv.conf updates (several agents).
import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LockHandle {
  path: string;
  release(): void;
}

export interface FileLockOptions {
  /** Give up (throw) after waiting this long. Default: forever. */
  timeoutMs?: number;
  /** Between attempts (jittered ±50%). Default 250 ms. */
  pollMs?: number;
  /** A lock older than this is stale even if its pid runs (hung or reused). Default: never. */
  staleMs?: number;
  /** A lock held by this same process counts as ours (default: wait like anyone else). */
  reentrant?: boolean;
  onWait?: (holderPid: number) => void;
}

/** How long an unreadable (half-written) lock file is given before it counts as stale. */
const HALF_WRITTEN_MS = 1000;

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryCreate(path: string, text: string): boolean {
  try {
    const fd = openSync(path, 'wx', 0o644);
    try {
      writeSync(fd, text);
    } finally {
      closeSync(fd);
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

interface Held {
  text: string;
  pid: number | null;
  ageMs: number;
}

function readHeld(path: string): Held | null {
  try {
    const ageMs = Date.now() - statSync(path).mtimeMs;
    const text = readFileSync(path, 'utf8');
    const pid = Number.parseInt(text, 10);
    return { text, pid: Number.isFinite(pid) && pid > 0 ? pid : null, ageMs };
  } catch {
    return null;
  }
}

/** Removes the lock at `path` if it still is the one read as `seen`. */
function breakStale(path: string, seen: string): void {
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // already gone
  }
  let got: string | null = null;
  try {
    got = readFileSync(aside, 'utf8');
  } catch {
    /* unreadable: treat as changed */
  }
  if (got !== seen) {
    // Someone took the lock between our read and the rename: put theirs back (link fails
    // only if a third process created one meanwhile).
    try {
      linkSync(aside, path);
    } catch {
      /* lost */
    }
  }
  try {
    unlinkSync(aside);
  } catch {
    /* gone */
  }
}

export async function acquireFileLock(path: string, opts: FileLockOptions = {}): Promise<LockHandle> {
  const deadline = Date.now() + (opts.timeoutMs ?? Infinity);
  const poll = opts.pollMs ?? 250;
  let text = `${process.pid} ${randomBytes(8).toString('hex')}\n`;
  let warned = false;
  for (;;) {
    if (tryCreate(path, text)) break;
    const held = readHeld(path);
    if (held === null) continue; // released meanwhile
    if (opts.reentrant && held.pid === process.pid) {
      text = held.text;
      break;
    }
    const dead = held.pid === null ? held.ageMs > HALF_WRITTEN_MS : !pidAlive(held.pid);
    if (dead || (opts.staleMs !== undefined && held.ageMs > opts.staleMs)) {
      breakStale(path, held.text);
      continue;
    }
    if (!warned && held.pid !== null) {
      warned = true;
      opts.onWait?.(held.pid);
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${path} held by pid ${held.pid ?? '?'}`);
    await sleep(poll * (0.5 + Math.random()));
  }
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.removeListener('exit', release);
    try {
      if (readFileSync(path, 'utf8') === text) unlinkSync(path);
    } catch {
      /* gone */
    }
  };
  process.once('exit', release);
  return { path, release };
}
