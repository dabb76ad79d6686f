#!/usr/bin/env node
// Runs the compiled test files with node's test runner in one invocation, so the run
// ends with one summary. e2e files serialise among themselves through a lock
// (src/lab/lock.ts) so netns timing is not skewed on a 2-core machine. A test without
// its own timeout fails after 15 min instead of hanging the run.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const levels = process.argv.slice(2).length ? process.argv.slice(2) : ['unit', 'integration', 'e2e'];

function find(dir) {
  let out = [];
  let entries;
  try { entries = readdirSync(dir); } catch { return out; }
  for (const e of entries.sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out = out.concat(find(p));
    else if (e.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const files = levels.flatMap((l) => find(join('dist', 'test', l)));
if (files.length === 0) {
  console.error('no test files found under dist/test');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=900000', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
