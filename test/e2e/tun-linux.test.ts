import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { nativeAvailable } from '../../src/io/native.js';
import { e2eFile } from './helpers.js';

// Runs test/helpers/tun-child.ts inside a throwaway network namespace, so all traffic
// stays in that namespace. Needs root (CAP_NET_ADMIN) and /dev/net/tun.

e2eFile();

function why(): string | false {
  if (process.platform !== 'linux') return 'Linux only';
  if (process.getuid?.() !== 0) return 'needs root (CAP_NET_ADMIN) for TUN and netns';
  if (!existsSync('/dev/net/tun')) return '/dev/net/tun missing';
  if (!nativeAvailable()) return 'native addon not built (npm run build:native)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'iproute2 `ip` not found';
  }
  return false;
}

const reason = why();
const required = process.env.WEFT_E2E_REQUIRED === '1';
if (reason) console.log(`# tun-linux: skipped: ${reason}`);

test('LinuxTun in a fresh netns: read v4/v6, write, MTU, interface deletion', { skip: reason && !required ? reason : false }, async () => {
  if (reason) assert.fail(`WEFT_E2E_REQUIRED=1 but cannot run: ${reason}`);
  const ns = `weft-t-${randomBytes(4).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    const child = fileURLToPath(new URL('../helpers/tun-child.js', import.meta.url));
    const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, child], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => proc.on('close', (c, s) => r([c, s])));
    clearTimeout(timer);
    assert.equal(signal, null, `child killed (hung: a handle kept it alive?)\n${stdout}\n${stderr}`);
    assert.equal(code, 0, `child failed:\n${stdout}\n${stderr}`);
    const res = JSON.parse(stdout.trim().split('\n').pop()!);
    assert.deepEqual(res.read, { v4: '10.9.0.2', v6: 'fd00:0:0:0:0:0:0:2', packetsSeen: res.read.packetsSeen });
    assert.deepEqual(res.write, { v4: 'pong4', v6: 'pong6' });
    assert.equal(res.burst, 300);
    // USO needs Linux >= 6.2; on older kernels the child reports it was not granted
    if (res.uso !== 'not granted') assert.deepEqual(res.uso, { written: 40, read: 20, badChecksums: 0 });
    assert.equal(res.mtu, 1420);
    assert.deepEqual(res.jumbo, { truncatedDrops: 1, len: 8000 });
    assert.equal(typeof res.onClose, 'string');
    assert.equal(res.fdsLeaked, 0);
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
});
