import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { nativeAvailable, nativeOptional } from '../../src/io/native.js';

// Optional addon functions (sched_yield for the handshake worker, malloc_trim for the
// agent): present with the addon, undefined without it, so callers fall back to nothing.

test('yieldCpu is there with the addon and returns at once', { skip: nativeAvailable() ? false : 'native addon not built' }, () => {
  const yieldCpu = nativeOptional('yieldCpu');
  assert.equal(typeof yieldCpu, 'function');
  for (let i = 0; i < 100; i++) assert.equal(yieldCpu!(), undefined);
});

test('without the addon (WEFT_NATIVE=0) the optional functions are undefined, not a throw', () => {
  const native = fileURLToPath(new URL('../../src/io/native.js', import.meta.url));
  const script = `import(${JSON.stringify(native)}).then((m) => console.log(JSON.stringify([typeof m.nativeOptional('yieldCpu'), typeof m.nativeOptional('trimMemory')])))`;
  const out = execFileSync(process.execPath, ['-e', script], { env: { ...process.env, WEFT_NATIVE: '0' }, encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out), ['undefined', 'undefined']);
});
