import { setFlagsFromString } from 'node:v8';
import { loadNative } from '../io/native.js';

// `weft up` runs for days, mostly idle: two things keep an idle agent's memory from
// coming back (docs/BENCHMARKS.md "Agent start-up and idle memory").
// - V8's young generation: every scavenge that finds enough survivors doubles it (up to
//   16 MiB a semi-space, both committed), and loading the agent and starting it does that
//   twice over; V8 keeps it for an agent that then idles. `weft up` starts with growth
//   off (this module is main.ts's first import, so it runs before the rest loads) and
//   turns it back on once up: traffic grows it as before.
// - glibc's per-thread arenas keep what V8's helper threads freed: the native addon's
//   malloc_trim gives the free pages back, every TRIM_EVERY_MS.

/** V8's --semi-space-growth-factor default. */
const DEFAULT_GROWTH = 2;
export const TRIM_EVERY_MS = 30_000;

const held = process.argv.slice(2).find((a) => !a.startsWith('-')) === 'up' && !process.execArgv.some((a) => a.includes('semi-space'));
if (held) setFlagsFromString('--semi-space-growth-factor=1');

/** Lets the young generation grow again (once the agent is up). */
export function releaseYoungGeneration(): void {
  if (held) setFlagsFromString(`--semi-space-growth-factor=${DEFAULT_GROWTH}`);
}

/** Trims the heap's free pages every TRIM_EVERY_MS until the returned function is called; nothing without the addon. */
export function trimMemoryPeriodically(): () => void {
  let trim: (() => boolean) | undefined;
  try {
    trim = loadNative().trimMemory;
  } catch {
    return () => {};
  }
  if (!trim) return () => {};
  const timer = setInterval(() => trim(), TRIM_EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
