import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { nativeAvailable } from '../../src/io/native.js';
import { SHORT_SLICE_NS } from '../../src/io/sched-slice.js';
import { kernelTakesSlices, sliceFromSched, threadSlice } from '../../src/lab/sched.js';

// The engine's threads ask for short scheduler slices (io/sched-slice.ts). The kernel
// takes them from Linux 6.12 on; /proc/thread-self/sched shows a thread's slice. Each
// case runs on a worker thread, so the test runner's own thread keeps its slice.


/** Runs preferShortSlices on a new thread, then starts a thread and a process from it; all report their slice. */
function onWorker(): Promise<{ taken: boolean; own: string; child: string; proc: string }> {
  const mod = fileURLToPath(new URL('../../src/io/sched-slice.js', import.meta.url));
  const code = `
    const { parentPort, Worker } = require('node:worker_threads');
    const { readFileSync } = require('node:fs');
    const { execFileSync } = require('node:child_process');
    import(${JSON.stringify(mod)}).then((m) => {
      const taken = m.preferShortSlices();
      const own = readFileSync('/proc/thread-self/sched', 'utf8');
      const child = new Worker("require('node:worker_threads').parentPort.postMessage(require('node:fs').readFileSync('/proc/thread-self/sched', 'utf8'))", { eval: true });
      const proc = execFileSync('cat', ['/proc/self/sched'], { encoding: 'utf8' });
      child.once('message', (s) => parentPort.postMessage({ taken, own, child: s, proc }));
    });`;
  const w = new Worker(code, { eval: true });
  return new Promise((resolve, reject) => {
    w.once('message', (m) => void w.terminate().then(() => resolve(m)));
    w.once('error', reject);
  });
}

test('a thread that asks gets the short slice; threads and processes it starts begin at the defaults', { skip: nativeAvailable() && kernelTakesSlices ? false : 'needs the addon on Linux >= 6.12' }, async () => {
  const before = threadSlice();
  const r = await onWorker();
  assert.equal(r.taken, true);
  assert.equal(sliceFromSched(r.own), SHORT_SLICE_NS);
  // Reset on fork: a worker asks for itself, and a child program (wireguard-go under
  // --backend) is not handed a slice it was not written for.
  assert.notEqual(sliceFromSched(r.child), SHORT_SLICE_NS);
  assert.equal(sliceFromSched(r.child), before);
  assert.equal(sliceFromSched(r.proc), before);
  // Per thread: the runner's own thread is as it was.
  assert.equal(threadSlice(), before);
  assert.notEqual(before, SHORT_SLICE_NS);
});

test('without the addon nothing changes and it says so', () => {
  const mod = fileURLToPath(new URL('../../src/io/sched-slice.js', import.meta.url));
  const w = new Worker(`import(${JSON.stringify(mod)}).then((m) => require('node:worker_threads').parentPort.postMessage(m.preferShortSlices()))`, { eval: true, env: { ...process.env, WEFT_NATIVE: '0' } });
  return new Promise<void>((resolve, reject) => {
    w.once('message', (taken) => {
      assert.equal(taken, false);
      void w.terminate().then(() => resolve());
    });
    w.once('error', reject);
  });
});
