// Shared glue for e2e test files: the lock, the stale-namespace sweep, preconditions.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { NetnsMesh } from '../../src/lab/mesh.js';
import { NatLab } from '../../src/lab/nat-lab.js';
import { acquireLock, type LockHandle } from '../../src/lab/lock.js';
import { sweepStale } from '../../src/lab/netns.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import { implUnavailable, WEFT, WIREGUARD_GO, type WgImpl } from '../../src/lab/wg-pair.js';

export const BASE_TOOLS = ['ip', 'wg', 'ping', 'sysctl'];

/** Takes the e2e lock for the whole file and sweeps namespaces left by dead runs. */
export function e2eFile(): void {
  let lock: LockHandle | null = null;
  before(async () => {
    lock = await acquireLock('weft-e2e', {
      onWait: (pid) => process.stderr.write(`# waiting for e2e lock held by pid ${pid}\n`),
    });
    if (rootReason() === null && missingTools(['ip']).length === 0) {
      const removed = await sweepStale();
      if (removed.length) process.stderr.write(`# removed stale namespaces: ${removed.join(' ')}\n`);
    }
  });
  after(() => lock?.release());
}

/**
 * One lab (a NetnsMesh, a NatLab) for a describe(): `create()` it in before(), `ready()`
 * once built, `get()` it in tests (fails while not set up); it is destroyed after the suite.
 */
export function suiteLab<T extends { destroy(): Promise<void> }>(make: () => T): { create(): T; ready(): void; get(): T } {
  let lab: T | null = null;
  let built = false;
  after(async () => {
    await lab?.destroy();
  });
  return {
    create: () => (lab = make()),
    ready: () => {
      built = true;
    },
    get: () => {
      assert.ok(lab && built, 'lab set up');
      return lab;
    },
  };
}

export const suiteMesh = () => suiteLab(() => new NetnsMesh());
export const suiteNatLab = () => suiteLab(() => new NatLab());

/** Root, tools, and each implementation built/installed. Skips or (when required) throws. */
export function pre(t: SkipContext, impls: WgImpl[], tools: string[] = []): boolean {
  const reasons = [rootReason(), ...missingTools([...BASE_TOOLS, ...tools]), ...[...new Set(impls)].map(implUnavailable)];
  return requireOrSkip(t, reasons);
}

export const PAIRS: Array<{ a: WgImpl; b: WgImpl; control?: boolean }> = [
  { a: WEFT, b: WIREGUARD_GO },
  { a: WIREGUARD_GO, b: WEFT },
  { a: WEFT, b: WEFT },
  { a: WIREGUARD_GO, b: WIREGUARD_GO, control: true },
];

export function pairLabel(p: { a: WgImpl; b: WgImpl; control?: boolean }): string {
  return `${p.a.name} <-> ${p.b.name}${p.control ? ' (harness control)' : ''}`;
}

export function nowS(): number {
  return Math.floor(Date.now() / 1000);
}
