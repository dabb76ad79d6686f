import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uapiChangeFor, type DeviceConfig } from '../../src/wireguard/config.js';
import { withKeepaliveNudge } from '../../src/wireguard/engine-driven.js';
import { KernelEngine, kernelLinkCommands } from '../../src/wireguard/engine-kernel.js';
import { parseWgDump, wgSetCommand } from '../../src/wireguard/wg-tool.js';
import type { UapiDeviceChange, UapiDeviceSnapshot } from '../../src/wireguard/uapi.js';
import { FakeClock } from '../../src/clock.js';

// The kernel engine's command generation: `wg set` arguments from the same diff that
// drives wireguard-go, `wg show dump` parsing, and the engine's lifecycle with the `ip`
// runner and the channel replaced (the machine running the tests has no module).

const key = (b: number) => new Uint8Array(32).fill(b);
const b64 = (k: Uint8Array) => Buffer.from(k).toString('base64');

test('wgSetCommand: the diff as wg set arguments, keys only in files', () => {
  const snap: UapiDeviceSnapshot = { privateKey: null, listenPort: 51820, fwmark: 0, peers: [{ publicKey: key(2), presharedKey: null, endpoint: '192.0.2.2:1', lastHandshakeMs: 0, rxBytes: 0n, txBytes: 0n, persistentKeepalive: 0, allowedIps: ['100.64.0.2/32'] }] };
  const config: DeviceConfig = { privateKey: key(9), listenPort: 41641, fwmark: 0x5746, peers: [{ publicKey: key(3), presharedKey: key(4), allowedIps: ['100.64.0.3/32', '10.0.0.0/8'], endpoint: '203.0.113.5:51820', persistentKeepalive: 25 }] };
  const change = withKeepaliveNudge(uapiChangeFor(snap, config), config);
  const { args, secrets } = wgSetCommand('wk0', change, (i) => `/k/${i}`);
  assert.deepEqual(args, [
    'set', 'wk0', 'listen-port', '41641', 'fwmark', String(0x5746), 'private-key', '/k/0',
    'peer', b64(key(2)), 'remove',
    'peer', b64(key(3)), 'preshared-key', '/k/1', 'endpoint', '203.0.113.5:51820', 'persistent-keepalive', '25', 'allowed-ips', '100.64.0.3/32,10.0.0.0/8',
    // the nudge: 25 -> off -> 25 sends a keepalive on the new endpoint at once
    'peer', b64(key(3)), 'persistent-keepalive', 'off',
    'peer', b64(key(3)), 'persistent-keepalive', '25',
  ]);
  assert.deepEqual(secrets, [`${b64(change.privateKey!)}\n`, `${b64(key(4))}\n`], 'the (clamped) private key and the PSK');
  assert.ok(!args.some((a) => a.includes(b64(change.privateKey!))), 'no private key on the command line');
  // Removing the key: an empty file; an empty allowed-ips list clears it.
  const clear: UapiDeviceChange = { privateKey: new Uint8Array(32), replacePeers: false, peers: [{ publicKey: key(3), remove: false, updateOnly: false, replaceAllowedIps: true, addAllowedIps: [], removeAllowedIps: [] }] };
  const c = wgSetCommand('wk0', clear, (i) => `/k/${i}`);
  assert.deepEqual(c.secrets, ['']);
  assert.deepEqual(c.args.slice(-2), ['allowed-ips', '']);
  assert.throws(() => wgSetCommand('wk0', { replacePeers: true, peers: [] }, String), /replace all peers/);
});

test('parseWgDump: the interface line and peer lines; malformed dumps are errors', () => {
  const text = [
    [b64(key(9)), b64(key(8)), '41641', '0x5746'].join('\t'),
    [b64(key(2)), '(none)', '192.0.2.2:51820', '100.64.0.2/32,10.0.0.0/8', '1700000000', '123', '456', '25'].join('\t'),
    [b64(key(3)), b64(key(4)), '(none)', '(none)', '0', '0', '0', 'off'].join('\t'),
  ].join('\n') + '\n';
  const s = parseWgDump(text);
  assert.deepEqual([s.listenPort, s.fwmark, b64(s.privateKey!)], [41641, 0x5746, b64(key(9))], 'wg prints the fwmark in hex');
  assert.equal(parseWgDump(`${[b64(key(9)), b64(key(8)), '1', 'off'].join('\t')}\n`).fwmark, 0);
  assert.deepEqual(s.peers.map((p) => [b64(p.publicKey), p.endpoint, p.allowedIps, p.lastHandshakeMs, p.rxBytes, p.txBytes, p.persistentKeepalive, p.presharedKey && b64(p.presharedKey)]), [
    [b64(key(2)), '192.0.2.2:51820', ['100.64.0.2/32', '10.0.0.0/8'], 1_700_000_000_000, 123n, 456n, 25, null],
    [b64(key(3)), null, [], 0, 0n, 0n, 0, b64(key(4))],
  ]);
  for (const bad of ['', 'a\tb\n', `${[b64(key(9)), b64(key(8)), '1', 'off'].join('\t')}\nshort\tline\n`, `${['nokey', b64(key(8)), '1', 'off'].join('\t')}\n`]) assert.throws(() => parseWgDump(bad), /wg show dump/, JSON.stringify(bad));
});

test('KernelEngine: refuses without the module; creates the link, drives the channel, deletes the link on close', async () => {
  const root = mkdtempSync(join(tmpdir(), 'weft-kmod-'));
  try {
    await assert.rejects(KernelEngine.start({ ifname: 'wk0', root: `${root}/` }), (e: Error & { code?: string }) => e.code === 'ERR_BACKEND_UNAVAILABLE' && /no WireGuard module/.test(e.message));
    mkdirSync(join(root, 'sys', 'module', 'wireguard'), { recursive: true });
    const ipRuns: string[][] = [];
    const sets: UapiDeviceChange[] = [];
    let snap: UapiDeviceSnapshot = { privateKey: null, listenPort: 0, fwmark: 0, peers: [] };
    const channel = {
      get: async () => snap,
      set: async (c: UapiDeviceChange) => {
        sets.push(c);
        snap = { ...snap, listenPort: c.listenPort ?? snap.listenPort, privateKey: c.privateKey ?? snap.privateKey };
      },
    };
    const engine = await KernelEngine.start({ ifname: 'wk0', root: `${root}/`, channel, ip: async (a) => void ipRuns.push(a), clock: new FakeClock() });
    assert.deepEqual(ipRuns, [kernelLinkCommands('wk0').add]);
    assert.deepEqual(ipRuns[0], ['link', 'add', 'dev', 'wk0', 'type', 'wireguard']);
    await engine.reconfigure({ privateKey: key(9), listenPort: 41641, peers: [] });
    assert.equal(engine.listenPort, 41641);
    await engine.reconfigure({ privateKey: key(9), listenPort: 41641, peers: [] });
    assert.equal(sets.length, 1, 'nothing differs: nothing set');
    await engine.close();
    assert.deepEqual(ipRuns.at(-1), ['link', 'del', 'dev', 'wk0']);
    // The link cannot be created (e.g. the name is taken): a typed failure.
    await assert.rejects(KernelEngine.start({ ifname: 'wk0', root: `${root}/`, channel, ip: async () => Promise.reject(new Error('RTNETLINK answers: File exists')) }), (e: Error & { code?: string }) => e.code === 'ERR_BACKEND_FAILED' && /File exists/.test(e.message));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
