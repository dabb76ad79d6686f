// Cross-process lock (Node has no flock): a file created exclusively (`open(path, 'wx')`)
// holding "<pid> <token>". A lock whose pid is dead — or, with `staleMs`, that is older
// than that — is stale and is taken over: it is renamed aside and removed only if it is
// still the one judged stale, so two waiters never both break a fresh lock. Used by the
// e2e lab (one e2e file at a time), around resolv.conf updates (several agents) and,
// without waiting (tryFileLock), for the state dirs of servers and agents.
import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WeftError } from './errors.js';

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

/**
 * The lock texts this process holds. A state-dir lock naming our own pid that is not
 * among them was left by an earlier process whose pid we reuse (pid 1 in a container).
 */
const heldHere = new Set<string>();
/** Released when the process exits: one listener for all of them (many agents in one test process). */
const releaseOnExit = new Set<() => void>();
let exitHooked = false;

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

/** `ownPid`: a lock naming our pid that we do not hold is stale (state dirs; see heldHere). */
function isStale(held: Held, opts: FileLockOptions, ownPid: boolean): boolean {
  if (held.pid === null) return held.ageMs > HALF_WRITTEN_MS;
  if (ownPid && held.pid === process.pid) return !heldHere.has(held.text);
  return !pidAlive(held.pid) || (opts.staleMs !== undefined && held.ageMs > opts.staleMs);
}

/** One attempt: our lock text once taken, else the live holder (pid null while half-written). */
function attempt(path: string, text: string, opts: FileLockOptions, ownPid = false): { text: string } | { holder: number | null } {
  for (;;) {
    if (tryCreate(path, text)) return { text };
    const held = readHeld(path);
    if (held === null) continue; // released meanwhile
    if (opts.reentrant && held.pid === process.pid) return { text: held.text };
    if (!isStale(held, opts, ownPid)) return { holder: held.pid };
    breakStale(path, held.text);
  }
}

function handle(path: string, text: string): LockHandle {
  heldHere.add(text);
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    heldHere.delete(text);
    releaseOnExit.delete(release);
    try {
      if (readFileSync(path, 'utf8') === text) unlinkSync(path);
    } catch {
      /* gone */
    }
  };
  releaseOnExit.add(release);
  if (!exitHooked) {
    exitHooked = true;
    process.once('exit', () => {
      for (const r of [...releaseOnExit]) r();
    });
  }
  return { path, release };
}

const newText = (): string => `${process.pid} ${randomBytes(8).toString('hex')}\n`;

export async function acquireFileLock(path: string, opts: FileLockOptions = {}): Promise<LockHandle> {
  const deadline = Date.now() + (opts.timeoutMs ?? Infinity);
  const poll = opts.pollMs ?? 250;
  const text = newText();
  let warned = false;
  for (;;) {
    const r = attempt(path, text, opts);
    if ('text' in r) return handle(path, r.text);
    if (!warned && r.holder !== null) {
      warned = true;
      opts.onWait?.(r.holder);
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for lock ${path} held by pid ${r.holder ?? '?'}`);
    await sleep(poll * (0.5 + Math.random()));
  }
}

/** Takes the lock at once or returns the pid holding it (null: being written right now). */
export function tryFileLock(path: string): LockHandle | { holder: number | null } {
  const r = attempt(path, newText(), {}, true);
  return 'text' in r ? handle(path, r.text) : r;
}

export const STATE_LOCK_FILE = 'weft.lock';

/**
 * Locks a server's or agent's state dir for this process, refusing a second instance
 * (which would take over its socket and share its files) with ERR_STATE_DIR_IN_USE.
 */
export function lockStateDir(dir: string, what: string): LockHandle {
  const r = tryFileLock(join(dir, STATE_LOCK_FILE));
  if ('release' in r) return r;
  throw new WeftError('ERR_STATE_DIR_IN_USE', `state dir ${dir} is in use by ${r.holder === null ? 'another process' : `pid ${r.holder}`} (another ${what})`);
}
