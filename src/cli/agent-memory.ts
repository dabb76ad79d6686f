import { setFlagsFromString } from 'node:v8';
import { nativeOptional } from '../io/native.js';
import type { Device } from '../wireguard/device.js';

// `weft up` runs for days, mostly idle: three things kept an idle agent's memory from
// coming back (docs/BENCHMARKS.md "Agent start-up and idle memory"). This module is
// main.ts's only static import, so what it holds is held before the rest is parsed.
// - TurboFan: module bodies run once, yet hot loops in them got optimized on V8's helper
//   threads, whose compiler memory stayed in their malloc arenas (~13 MB), and the
//   compiler's own code pages were touched (~3 MB); start-up, status reports and
//   handshake retries to peers that never answer did the same later (docs/BENCHMARKS.md,
//   `rss` branch). `weft up` runs with it off until its data path is busy: the first completed handshake, or
//   initiations fast enough to start the handshake worker (Device.onActive). Hashing is
//   native (blake2s.ts), so registration and handshakes do not need it; bulk traffic,
//   which does, needs a session first.
// - V8's young generation: every scavenge that finds enough survivors doubles it (up to
//   16 MiB a semi-space, both committed); loading and starting did that twice over and
//   an idle agent never gave it back. Growth is off until up, then V8's default again,
//   so traffic grows it as before.
// - glibc's per-thread arenas keep what V8's helper threads freed later: the native
//   addon's malloc_trim gives the free pages back, every TRIM_EVERY_MS.
// A flag the user set (node options) is left alone.

/** V8's --semi-space-growth-factor default. */
const DEFAULT_GROWTH = 2;
export const TRIM_EVERY_MS = 30_000;

/** This process runs `weft up`. */
export const isUp = process.argv.slice(2).find((a) => !a.startsWith('-')) === 'up';
const userFlags = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ');
const holdGrowth = isUp && !userFlags.includes('semi-space');
const holdOpt = isUp && !/--(no-)?(opt|turbofan)\b/.test(userFlags);
if (holdGrowth) setFlagsFromString('--semi-space-growth-factor=1');
if (holdOpt) setFlagsFromString('--no-opt');

let optimizing = !holdOpt;

/** The optimizing compiler on (once). */
function optimize(): void {
  if (optimizing) return;
  optimizing = true;
  setFlagsFromString('--opt');
}

/**
 * Once the agent is up: the optimizing compiler on at the data path's first busy moment,
 * at once when the data path is not ours (an external engine) or was busy already.
 */
export function optimizeWhenBusy(device: Device | null): void {
  if (optimizing) return;
  if (!device || [...device.peers.values()].some((p) => p.handshakes > 0)) return optimize();
  device.onActive = () => {
    device.onActive = undefined;
    optimize();
  };
}

/** Once the agent is up: the young generation free to grow. */
export function agentStarted(): void {
  if (holdGrowth) setFlagsFromString(`--semi-space-growth-factor=${DEFAULT_GROWTH}`);
}

/** Trims the heap's free pages every TRIM_EVERY_MS until the returned function is called; nothing without the addon. */
export function trimMemoryPeriodically(): () => void {
  const trim = nativeOptional('trimMemory');
  if (!trim) return () => {};
  const timer = setInterval(() => trim(), TRIM_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
