// native/lwip-wasm/lwip.wasm is committed (installs need no clang), so it must be what
// its sources build: rebuild with scripts/build-wasm.sh (reproducible) and compare bytes.
// Where clang, wasm-ld or wasi-libc is missing, or clang is not the major version the
// committed file was built with (other versions emit other bytes), the rebuild is skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/lab/wg-pair.js';
import { WasmLwip, wasmPath } from '../../src/netstack/lwip-wasm.js';

const SYSROOT = process.env.WASI_SYSROOT ?? '/usr';
/** The clang that built native/lwip-wasm/lwip.wasm (Debian bookworm's). */
const BUILT_WITH = /clang version 14\./;
const missing = ['clang', 'wasm-ld'].filter((t) => spawnSync(t, ['--version']).status !== 0);
if (!existsSync(join(SYSROOT, 'lib', 'wasm32-wasi', 'libc.a'))) missing.push('wasi-libc');
if (!missing.includes('clang') && !BUILT_WITH.test(spawnSync('clang', ['--version'], { encoding: 'utf8' }).stdout)) missing.push('clang 14');

test('the committed lwip.wasm is what `npm run build:wasm` builds from its sources', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-wasm-'));
  try {
    const out = join(dir, 'lwip.wasm');
    const r = spawnSync('sh', [join(PACKAGE_ROOT, 'scripts', 'build-wasm.sh')], { env: { ...process.env, OUT: out }, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(readFileSync(out).equals(readFileSync(wasmPath())), 'native/lwip-wasm/lwip.wasm is stale: run `npm run build:wasm` and commit it');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the wasm stack loads, and reports the same TCP build constants as Debian\'s lwIP', () => {
  const s = new WasmLwip().stats();
  assert.deepEqual([s.tcpMss, s.tcpWnd, s.tcpSndBuf, s.sockets], [1460, 0xffff, 0xffff, 0]);
});
