#!/usr/bin/env node
// Runs `npm run demo` (the compiled demo) several times in a row and counts failures:
// the check that the demo's first pings are not flaky. With --idle-mesh a second mesh
// (coordinator + 3 agents in their own namespaces) runs on the same host meanwhile.
//   node scripts/demo-soak.js [--runs 20] [--idle-mesh]
// Needs root (network namespaces); bounded: each run has a 5-minute limit.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' }, 'idle-mesh': { type: 'boolean', default: false } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1 || runs > 200) {
  console.error('demo-soak: --runs must be a whole number from 1 to 200');
  process.exit(2);
}

const { NetnsMesh } = await import('../dist/src/lab/mesh.js');
let idle = null;
if (values['idle-mesh']) {
  idle = new NetnsMesh();
  const names = ['idle1', 'idle2', 'idle3'];
  await idle.build(names);
  await idle.startServer();
  await idle.createAuthKey();
  for (const n of names) await idle.up(n);
  for (const n of names) await idle.waitPeers(n, names.filter((x) => x !== n));
  console.log('demo-soak: idle mesh of 3 agents up');
}

let failed = 0;
try {
  for (let i = 1; i <= runs; i++) {
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['dist/src/demo/main.js'], { encoding: 'utf8', timeout: 5 * 60_000 });
    const ok = r.status === 0;
    if (!ok) failed++;
    console.log(`run ${i}/${runs}: ${ok ? 'ok' : 'FAIL'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    if (!ok) console.log((r.stdout + r.stderr).replace(/^/gm, '    '));
  }
} finally {
  await idle?.destroy();
}
console.log(`demo-soak: ${runs - failed} passed, ${failed} failed${idle ? ' (with an idle mesh on the host)' : ''}`);
process.exit(failed ? 1 : 0);
