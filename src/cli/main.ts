#!/usr/bin/env node
// First, before any other module is even parsed: `weft up`'s V8 settings (agent-memory.ts).
// Static imports are all parsed (CommonJS ones scanned by Node's lexer, whose hot loops
// TurboFan would optimize) before the first module body runs, so everything else loads
// from here dynamically.
import { statSync } from 'node:fs';
import { isUp } from './agent-memory.js';

// `weft up` loads from the bundle `npm run build` makes (scripts/bundle.js): a few files
// instead of ~180 modules, ~0.1 s of its start. Only when it is newer than the compiled
// modules (a `tsc` alone after it leaves it stale: tsc's build info, in a checkout, is
// then newer) and not turned off with WEFT_BUNDLE=0; every other command runs the
// compiled modules.
const BUNDLE = new URL('../bundle/cli/program.js', import.meta.url);
const PROGRAM = new URL('./program.js', import.meta.url);
const BUILD_INFO = new URL('../../.tsbuildinfo', import.meta.url);

const mtime = (f: URL): number => statSync(f, { throwIfNoEntry: false })?.mtimeMs ?? 0;

function bundleUsable(): boolean {
  if (!isUp || process.env.WEFT_BUNDLE === '0') return false;
  const bundled = mtime(BUNDLE);
  return bundled > 0 && bundled >= Math.max(mtime(PROGRAM), mtime(BUILD_INFO));
}

await import(bundleUsable() ? BUNDLE.href : PROGRAM.href);
