import { setFlagsFromString } from 'node:v8';

// `weft up` starts with V8's young generation held at its initial size. Every scavenge
// that finds enough survivors doubles it (up to 16 MiB a semi-space, both committed),
// and loading the agent's modules and starting it does that twice over; V8 does not give
// it back to an agent that then idles (~10 MB of RSS, docs/BENCHMARKS.md "Agent
// start-up and idle memory"). Once the agent is up, growth is back to V8's default, so
// traffic grows it as before. Imported first by main.ts: it must run before the rest loads.

/** V8's --semi-space-growth-factor default. */
const DEFAULT_GROWTH = 2;

const held = process.argv.slice(2).find((a) => !a.startsWith('-')) === 'up' && !process.execArgv.some((a) => a.includes('semi-space'));
if (held) setFlagsFromString('--semi-space-growth-factor=1');

/** Lets the young generation grow again (once the agent is up). */
export function releaseYoungGeneration(): void {
  if (held) setFlagsFromString(`--semi-space-growth-factor=${DEFAULT_GROWTH}`);
}
