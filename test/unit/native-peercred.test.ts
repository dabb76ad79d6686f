import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadNative, nativeAvailable } from '../../src/io/native.js';

// The addon's SO_PEERCRED read, which names the admin-socket user in the audit log.

test('peerCred names the process at the other end of a unix socket', { skip: nativeAvailable() ? false : 'native addon not built' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-peercred-'));
  const server = net.createServer();
  try {
    await new Promise<void>((r) => server.listen(join(dir, 's.sock'), r));
    const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
    const client = net.connect(join(dir, 's.sock'));
    const s = await accepted;
    const fd = (s as unknown as { _handle: { fd: number } })._handle.fd;
    assert.deepEqual(loadNative().peerCred(fd), { pid: process.pid, uid: process.getuid!(), gid: process.getgid!(), user: userInfo().username });
    assert.throws(() => loadNative().peerCred(0x7fff_fff0), (e: { code: string; syscall: string }) => e.code === 'EBADF' && e.syscall === 'getsockopt');
    client.destroy();
    s.destroy();
  } finally {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  }
});
