import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  UapiError, formatGet, parseSet,
  type UapiPeerSnapshot,
} from '../../src/wireguard/uapi.js';
import { UAPI_MAX_REQUEST_BYTES, UapiServer } from '../../src/wireguard/uapi-server.js';
import { FakeDevice } from '../helpers/uapi-fake.js';
import { WeftError } from '../../src/errors.js';

const K1 = 'a'.repeat(64);
const K2 = '0123456789abcdef'.repeat(4);
const K3 = 'e'.repeat(64);
const ZERO = '0'.repeat(64);
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

function rejects(lines: string[], code: string, errno: number): void {
  assert.throws(
    () => parseSet(lines),
    (e: unknown) => e instanceof UapiError && e.code === code && e.errno === errno,
    JSON.stringify(lines),
  );
}

test('parseSet: every device and peer key', () => {
  const c = parseSet([
    `private_key=${K1}`, 'listen_port=51820', 'fwmark=4294967295', 'replace_peers=true',
    `public_key=${K2}`, 'update_only=true', `preshared_key=${K3}`, 'endpoint=[fe80::1]:51820',
    'persistent_keepalive_interval=65535', 'replace_allowed_ips=true', 'allowed_ip=10.1.2.3/24', 'allowed_ip=fd00::/64',
    'allowed_ip=-192.168.0.0/16', 'protocol_version=1',
    `public_key=${K3.toUpperCase()}`, 'remove=true', '',
    'ignored after blank line',
  ]);
  assert.deepEqual(c, {
    privateKey: bytes(K1), listenPort: 51820, fwmark: 4294967295, replacePeers: true,
    peers: [
      {
        publicKey: bytes(K2), remove: false, updateOnly: true, presharedKey: bytes(K3), endpoint: '[fe80::1]:51820',
        persistentKeepalive: 65535, replaceAllowedIps: true, addAllowedIps: ['10.1.2.0/24', 'fd00::/64'], removeAllowedIps: ['192.168.0.0/16'],
      },
      { publicKey: bytes(K3), remove: true, updateOnly: false, replaceAllowedIps: false, addAllowedIps: [], removeAllowedIps: [] },
    ],
  });
  assert.deepEqual(parseSet([]), { replacePeers: false, peers: [] });
  assert.deepEqual(parseSet([`private_key=${ZERO}`, 'listen_port=0', 'fwmark=0']).privateKey, new Uint8Array(32));
  assert.equal(parseSet(['listen_port=00080']).listenPort, 80);
  assert.equal(parseSet([`public_key=${K1}`, 'endpoint=1.2.3.4:5']).peers[0].endpoint, '1.2.3.4:5');
  assert.equal(parseSet([`public_key=${K1}`, `preshared_key=${ZERO}`]).peers[0].presharedKey?.length, 32);
});

test('parseSet: in-order semantics folded into one change', () => {
  const [p] = parseSet([
    `public_key=${K1}`, 'allowed_ip=10.0.0.0/8', 'replace_allowed_ips=true', 'allowed_ip=10.1.0.0/16',
    'allowed_ip=-10.2.0.0/16', 'allowed_ip=10.2.0.0/16', 'allowed_ip=10.3.0.0/16', 'allowed_ip=-10.3.0.0/16', 'allowed_ip=10.1.0.0/16',
  ]).peers;
  assert.equal(p.replaceAllowedIps, true);
  assert.deepEqual(p.addAllowedIps, ['10.2.0.0/16', '10.1.0.0/16']);
  assert.deepEqual(p.removeAllowedIps, ['10.3.0.0/16']);
  const [r] = parseSet([`public_key=${K1}`, 'endpoint=1.1.1.1:1', 'allowed_ip=10.0.0.0/8', 'remove=true', 'persistent_keepalive_interval=5', 'allowed_ip=10.0.0.0/8']).peers;
  assert.deepEqual(r, { publicKey: bytes(K1), remove: true, updateOnly: false, replaceAllowedIps: false, addAllowedIps: [], removeAllowedIps: [] });
  // The same key twice yields two sections applied in order.
  assert.equal(parseSet([`public_key=${K1}`, `public_key=${K1}`, 'remove=true']).peers.length, 2);
});

test('parseSet: every error', () => {
  const E = (l: string[]): void => rejects(l, 'ERR_UAPI_INVALID', -22);
  rejects(['private_key'], 'ERR_UAPI_PROTO', -71);
  rejects([`public_key=${K1}`, 'garbage'], 'ERR_UAPI_PROTO', -71);
  E(['private_key=' + 'a'.repeat(63)]);
  E(['private_key=' + 'a'.repeat(65)]);
  E(['private_key=' + 'g'.repeat(64)]);
  E(['private_key=']);
  for (const v of ['', '-1', '65536', '0x10', '+1', '1.0', ' 1', '99999999999999999999999']) E([`listen_port=${v}`]);
  for (const v of ['', '4294967296', '-1', 'off']) E([`fwmark=${v}`]);
  E(['replace_peers=false']);
  E(['replace_peers=']);
  E(['bogus=1']);
  E(['public_key=xyz']);
  E(['public_key=' + K1.slice(2)]);
  E([`public_key=${K1}`, 'listen_port=1']); // device key after a peer section
  E([`public_key=${K1}`, 'update_only=false']);
  E([`public_key=${K1}`, 'remove=1']);
  E([`public_key=${K1}`, 'preshared_key=00']);
  for (const v of ['1.2.3.4', '[::1]', 'example.com:1', '1.2.3.4:65536', '::1:5', '[fe80::1%eth0]:1', '']) E([`public_key=${K1}`, `endpoint=${v}`]);
  for (const v of ['-1', '65536', 'x']) E([`public_key=${K1}`, `persistent_keepalive_interval=${v}`]);
  E([`public_key=${K1}`, 'replace_allowed_ips=yes']);
  for (const v of ['10.0.0.0/33', 'fd00::/129', 'nope', '', '-', '--10.0.0.0/8']) E([`public_key=${K1}`, `allowed_ip=${v}`]);
  E([`public_key=${K1}`, 'protocol_version=2']);
  E([`public_key=${K1}`, 'protocol_version=']);
  E([`public_key=${K1}`, 'last_handshake_time_sec=0']);
  E([`public_key=${K1}`, 'remove=true', 'endpoint=bad']); // still validated after removal
  const e = new UapiError('ERR_UAPI_ADDRINUSE', 'x');
  assert.ok(e instanceof WeftError);
  assert.equal(e.errno, -98);
  assert.equal(new UapiError('ERR_UAPI_IO', 'x').errno, -5);
});

const PEER: UapiPeerSnapshot = {
  publicKey: bytes(K2), presharedKey: null, endpoint: '[2001:db8::1]:51820', lastHandshakeMs: 1_700_000_000_123.5,
  rxBytes: 2n ** 63n, txBytes: 7n, persistentKeepalive: 25, allowedIps: ['10.0.0.0/24', 'fd00::/64'],
};

test('formatGet: wireguard-go order, omissions and terminator', () => {
  assert.equal(
    formatGet({ privateKey: bytes(K1), listenPort: 51820, fwmark: 0, peers: [PEER, { ...PEER, publicKey: bytes(K3), presharedKey: bytes(K1), endpoint: null, lastHandshakeMs: 0, allowedIps: [] }] }),
    [
      `private_key=${K1}`, 'listen_port=51820',
      `public_key=${K2}`, `preshared_key=${ZERO}`, 'protocol_version=1', 'endpoint=[2001:db8::1]:51820',
      'last_handshake_time_sec=1700000000', 'last_handshake_time_nsec=123500000', 'tx_bytes=7', 'rx_bytes=9223372036854775808',
      'persistent_keepalive_interval=25', 'allowed_ip=10.0.0.0/24', 'allowed_ip=fd00::/64',
      `public_key=${K3}`, `preshared_key=${K1}`, 'protocol_version=1',
      'last_handshake_time_sec=0', 'last_handshake_time_nsec=0', 'tx_bytes=7', 'rx_bytes=9223372036854775808', 'persistent_keepalive_interval=25',
      'errno=0', '', '',
    ].join('\n'),
  );
  assert.equal(formatGet({ privateKey: null, listenPort: 0, fwmark: 0, peers: [] }), 'errno=0\n\n');
  assert.equal(formatGet({ privateKey: new Uint8Array(32), listenPort: 0, fwmark: 51820, peers: [] }), 'fwmark=51820\nerrno=0\n\n');
});

test('fuzz: parseSet only ever throws UapiError (100k inputs)', () => {
  const keys = ['private_key', 'listen_port', 'fwmark', 'replace_peers', 'public_key', 'update_only', 'remove', 'preshared_key',
    'endpoint', 'persistent_keepalive_interval', 'replace_allowed_ips', 'allowed_ip', 'protocol_version', 'errno', ''];
  const values = fc.oneof(
    fc.string(), fc.constantFrom('true', '1', '0', '65535', '65536', K1, ZERO, '1.2.3.4:5', '[::1]:9', '10.0.0.0/8', '-fd00::/64', '::/0'),
    fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'.split('')), minLength: 60, maxLength: 66 }),
    fc.stringMatching(/^\[?[0-9a-f:.%]{0,40}\]?(:\d{0,6})?$/),
  );
  const line = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...keys), values).map(([k, v]) => `${k}=${v}`) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary' }) },
  );
  fc.assert(
    fc.property(fc.array(line, { maxLength: 12 }), (lines) => {
      try {
        parseSet(lines);
      } catch (e) {
        if (!(e instanceof UapiError)) throw e;
      }
    }),
    { numRuns: 100_000 },
  );
});

// A raw client: sends text, collects everything until the server closes or `until` matches.
function talk(sockPath: string, send: string | Buffer, until?: (got: string) => boolean, halfClose = false): Promise<{ got: string; closed: boolean }> {
  return new Promise((resolve) => {
    const c = net.connect(sockPath);
    let got = '';
    const timer = setTimeout(() => {
      c.destroy();
      resolve({ got, closed: false });
    }, 3000);
    c.on('connect', () => (halfClose ? c.end(send) : c.write(send)));
    c.setEncoding('latin1');
    c.on('data', (d: string) => {
      got += d;
      if (until?.(got)) {
        clearTimeout(timer);
        c.destroy();
        resolve({ got, closed: false });
      }
    });
    c.on('close', () => {
      clearTimeout(timer);
      resolve({ got, closed: true });
    });
    // The server may drop us mid-write (oversized requests): EPIPE/ECONNRESET, then close.
    c.on('error', () => {});
  });
}
const count = (s: string, sub: string): number => s.split(sub).length - 1;

async function withServer(fn: (srv: UapiServer, dev: FakeDevice, dir: string) => Promise<void>, opts: { maxRequestBytes?: number } = {}): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-uapi-'));
  const dev = new FakeDevice();
  const srv = new UapiServer('wgtest0', dev, { dir: path.join(dir, 'run'), ...opts });
  await srv.start();
  try {
    await fn(srv, dev, dir);
  } finally {
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('uapi-server: get, set, several operations per connection, errors', async () => {
  await withServer(async (srv, dev) => {
    assert.equal(srv.path.endsWith('/run/wgtest0.sock'), true);
    assert.equal(fs.statSync(srv.path).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(srv.path)).mode & 0o777, 0o755);
    assert.equal((await talk(srv.path, 'get=1\n\n', (g) => g.endsWith('\n\n'))).got, 'errno=0\n\n');

    const req = `set=1\nprivate_key=${K1}\nlisten_port=0\npublic_key=${K2}\nallowed_ip=10.0.0.0/8\n\n` +
      `get=1\n\nset=1\nbogus=1\n\nset=1\n\nset=1\nlisten_port\n\nget=1\n\n`;
    const r = await talk(srv.path, req, (g) => count(g, 'errno=') === 6);
    const replies = r.got.split('\n\n').slice(0, 6);
    assert.equal(replies[0], 'errno=0');
    assert.match(replies[1], new RegExp(`^private_key=${K1}\nlisten_port=40000\npublic_key=${K2}\n[^]*allowed_ip=10.0.0.0/8\nerrno=0$`));
    assert.equal(replies[2], 'errno=-22');
    assert.equal(replies[3], 'errno=0');
    assert.equal(replies[4], 'errno=-71');
    assert.match(replies[5], /errno=0$/);
    assert.equal(dev.changes.length, 2); // rejected requests never reached the device

    // Requests split into single bytes still parse.
    const c = net.connect(srv.path);
    await new Promise((r2) => c.once('connect', r2));
    let got = '';
    c.on('data', (d) => (got += d));
    for (const ch of 'set=1\nfwmark=7\n\n') {
      c.write(ch);
      await new Promise((r2) => setImmediate(r2));
    }
    while (!got.endsWith('\n\n')) await new Promise((r2) => setTimeout(r2, 5));
    c.destroy();
    assert.equal(got, 'errno=0\n\n');
    assert.equal(dev.fwmark, 7);

    // Device errors map to errno; unexpected ones to wireguard-go's IpcErrorUnknown.
    dev.failWith = new UapiError('ERR_UAPI_ADDRINUSE', 'port taken');
    assert.equal((await talk(srv.path, 'set=1\nlisten_port=1\n\n', (g) => g.endsWith('\n\n'))).got, 'errno=-98\n\n');
    dev.failWith = new Error('boom');
    assert.equal((await talk(srv.path, 'set=1\nlisten_port=1\n\n', (g) => g.endsWith('\n\n'))).got, 'errno=-55\n\n');
    dev.failWith = null;

    // A set ended by EOF instead of a blank line still applies (wireguard-go does too).
    assert.deepEqual(await talk(srv.path, 'set=1\nfwmark=9\n', undefined, true), { got: 'errno=0\n\n', closed: true });
    assert.equal(dev.fwmark, 9);
    assert.equal((await talk(srv.path, 'get=1\nX', (g) => g.endsWith('\n\n'))).got, 'errno=-22\n\n');
  });
});

test('uapi-server: garbage and oversized requests close the connection, server survives', async () => {
  await withServer(async (srv) => {
    assert.deepEqual(await talk(srv.path, 'hello\n'), { got: '', closed: true });
    assert.deepEqual(await talk(srv.path, '\n'), { got: '', closed: true });
    assert.deepEqual(await talk(srv.path, randomBytes(4096)), { got: '', closed: true });
    const huge = await talk(srv.path, 'set=1\n' + `public_key=${K1}\n`.repeat(1000));
    assert.deepEqual(huge, { got: 'errno=-22\n\n', closed: true });
    const noNewline = await talk(srv.path, 'x'.repeat(5000));
    assert.deepEqual(noNewline, { got: 'errno=-22\n\n', closed: true });
    assert.equal((await talk(srv.path, 'get=1\n\n', (g) => g.endsWith('\n\n'))).got, 'errno=0\n\n');
  }, { maxRequestBytes: 4096 });
});

test('uapi-server: the default bound (4 MiB: `wg setconf` of ~38k peers)', async () => {
  await withServer(async (srv) => {
    const big = Buffer.alloc(UAPI_MAX_REQUEST_BYTES + 4096, 'allowed_ip=10.0.0.0/8\n');
    const r = await talk(srv.path, Buffer.concat([Buffer.from('set=1\n'), big]));
    assert.deepEqual(r, { got: 'errno=-22\n\n', closed: true });
  });
});

test('uapi-server: stale socket replaced, live socket refused, removal noticed, stop cleans up', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-uapi-'));
  try {
    // A stale socket: bound once, listener gone, file left behind.
    const sockPath = path.join(dir, 'wgx.sock');
    const stale = net.createServer();
    await new Promise<void>((r) => stale.listen(sockPath, r));
    // Closing a node server unlinks its socket; a hard link keeps the file around.
    fs.linkSync(sockPath, sockPath + '.keep');
    await new Promise<void>((r) => stale.close(() => r()));
    fs.renameSync(sockPath + '.keep', sockPath);
    assert.ok(fs.statSync(sockPath).isSocket());

    const dev = new FakeDevice();
    const a = new UapiServer('wgx', dev, { dir });
    await a.start();
    assert.equal((await talk(a.path, 'get=1\n\n', (g) => g.endsWith('\n\n'))).got, 'errno=0\n\n');

    const b = new UapiServer('wgx', dev, { dir });
    await assert.rejects(b.start(), (e: unknown) => e instanceof WeftError && e.code === 'ERR_UAPI_IN_USE');
    assert.ok(fs.existsSync(a.path)); // the live socket was not touched

    const removed = new Promise<void>((r) => (a.onSocketRemoved = r));
    fs.unlinkSync(a.path);
    await removed;
    await a.stop();

    const c = new UapiServer('wgx', dev, { dir });
    await c.start();
    await c.stop();
    assert.equal(fs.existsSync(c.path), false);
    await c.stop(); // idempotent
    assert.throws(() => new UapiServer('../etc', dev, { dir }), (e: unknown) => e instanceof WeftError);
    assert.throws(() => new UapiServer('a-very-long-interface-name', dev, { dir }), (e: unknown) => e instanceof WeftError);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
