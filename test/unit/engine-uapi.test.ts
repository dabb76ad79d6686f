import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { configFromUapi, uapiChangeFor, type DeviceConfig } from '../../src/wireguard/config.js';
import { formatGet, parseSet, type UapiDeviceSnapshot } from '../../src/wireguard/uapi.js';
import { formatSet, parseGet } from '../../src/wireguard/uapi-client.js';
import { privateKeyFromBytes, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { peerStatusFromUapi } from '../../src/wireguard/engine.js';
import { withKeepaliveNudge } from '../../src/wireguard/engine-driven.js';

// The UAPI client (what drives wireguard-go) against our own UAPI server's parser and
// formatter, and the diff the external engine sets.

const key = (b: number) => new Uint8Array(32).fill(b);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const snapArb: fc.Arbitrary<UapiDeviceSnapshot> = fc.record({
  privateKey: fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }).filter((k) => k.some((x) => x !== 0)), { nil: null }),
  listenPort: fc.integer({ min: 0, max: 65535 }),
  fwmark: fc.integer({ min: 0, max: 0xffffffff }),
  peers: fc.uniqueArray(
    fc.record({
      publicKey: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      presharedKey: fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }).filter((k) => k.some((x) => x !== 0)), { nil: null }),
      endpoint: fc.option(fc.constantFrom('192.0.2.1:51820', '[2001:db8::1]:4000'), { nil: null }),
      lastHandshakeMs: fc.integer({ min: 0, max: 2 ** 40 }),
      rxBytes: fc.bigInt({ min: 0n, max: 2n ** 52n }),
      txBytes: fc.bigInt({ min: 0n, max: 2n ** 52n }),
      persistentKeepalive: fc.integer({ min: 0, max: 65535 }),
      allowedIps: fc.subarray(['100.64.0.2/32', 'fd7a:115c:a1e0::2/128', '10.0.0.0/8']),
    }),
    { selector: (p) => hex(p.publicKey), maxLength: 4 },
  ),
});

test('parseGet reads back what formatGet (our UAPI server) writes', () => {
  fc.assert(
    fc.property(snapArb, (s) => {
      assert.deepEqual(parseGet(formatGet(s)), { ...s, peers: s.peers.map((p) => ({ ...p })) });
    }),
  );
});

test('parseGet: an errno reply and a truncated one are errors', () => {
  assert.throws(() => parseGet('errno=-22\n\n'), { code: 'ERR_UAPI_IO' });
  assert.throws(() => parseGet('listen_port=1\n'), { code: 'ERR_UAPI_PROTO' });
  assert.throws(() => parseGet('public_key=zz\nerrno=0\n\n'), { code: 'ERR_UAPI_PROTO' });
});

/** A prefix belongs to one peer: each peer's come from its own key byte. */
const ipsOf = (k: number, pick: number[]) => pick.map((i) => [`100.64.0.${k}/32`, `10.${k}.0.0/16`, `fd00:${k}::/64`][i]);

test('uapiChangeFor: applied to what runs (through the UAPI server parser) it yields the config', () => {
  const cfgArb = fc.record({
    priv: fc.constantFrom(1, 2),
    peers: fc.uniqueArray(fc.record({ k: fc.integer({ min: 10, max: 14 }), ips: fc.subarray([0, 1, 2]), ka: fc.constantFrom(0, 25), ep: fc.constantFrom(undefined, '192.0.2.7:41641') }), { selector: (p) => p.k }),
  });
  fc.assert(
    fc.property(snapArb, cfgArb, (snap, c) => {
      const config: DeviceConfig = { privateKey: key(c.priv), listenPort: 41641, peers: c.peers.map((p) => ({ publicKey: key(p.k), allowedIps: ipsOf(p.k, p.ips), persistentKeepalive: p.ka, endpoint: p.ep })) };
      const text = formatSet(uapiChangeFor(snap, config));
      const lines = text.split('\n');
      assert.equal(lines[0], 'set=1');
      const after = configFromUapi(snap, parseSet(lines.slice(1)));
      assert.equal(hex(publicKeyFromPrivate(privateKeyFromBytes(after.privateKey!))), hex(publicKeyFromPrivate(privateKeyFromBytes(key(c.priv)))));
      assert.equal(after.listenPort, 41641);
      const got = new Map(after.peers.map((p) => [hex(p.publicKey), p]));
      assert.equal(got.size, c.peers.length, 'peers not in the config are removed');
      for (const p of c.peers) {
        const g = got.get(hex(key(p.k)))!;
        assert.deepEqual([...g.allowedIps].sort(), ipsOf(p.k, p.ips).sort());
        assert.equal(g.persistentKeepalive ?? 0, p.ka);
        if (p.ep) assert.equal(g.endpoint, p.ep);
      }
    }),
  );
});

test('uapiChangeFor: a peer that is already as configured gets no section (its session stays)', () => {
  const snap: UapiDeviceSnapshot = {
    privateKey: key(1),
    listenPort: 41641,
    fwmark: 0,
    peers: [{ publicKey: key(9), presharedKey: null, endpoint: '192.0.2.1:41641', lastHandshakeMs: 5, rxBytes: 1n, txBytes: 2n, persistentKeepalive: 0, allowedIps: ['100.64.0.9/32'] }],
  };
  const same = uapiChangeFor(snap, { privateKey: key(1), peers: [{ publicKey: key(9), allowedIps: ['100.64.0.9/32'] }] });
  assert.deepEqual(same, { replacePeers: false, peers: [] });
  // A null endpoint cannot be cleared over UAPI: the engine's (roamed) one stays.
  assert.deepEqual(uapiChangeFor(snap, { privateKey: key(1), peers: [{ publicKey: key(9), allowedIps: ['100.64.0.9/32'], endpoint: null }] }).peers, []);
  const moved = uapiChangeFor(snap, { privateKey: key(1), peers: [{ publicKey: key(9), allowedIps: ['100.64.0.9/32', '10.0.0.0/24'] }] });
  assert.equal(formatSet(moved), `set=1\npublic_key=${hex(key(9))}\nreplace_allowed_ips=true\nallowed_ip=100.64.0.9/32\nallowed_ip=10.0.0.0/24\n\n`);
});

test('peerStatusFromUapi: the session is dated by the last handshake', () => {
  const p = { publicKey: key(9), presharedKey: null, endpoint: '192.0.2.1:41641', lastHandshakeMs: 1_000_000, rxBytes: 10n, txBytes: 20n, persistentKeepalive: 0, allowedIps: [] };
  const v = peerStatusFromUapi(p, 500, 1_000_300);
  assert.equal(v.sessionCreatedMs, 200);
  assert.deepEqual([v.rxBytes, v.txBytes, v.endpoint], [10, 20, '192.0.2.1:41641']);
  assert.equal(peerStatusFromUapi({ ...p, lastHandshakeMs: 0 }, 500, 1_000_300).sessionCreatedMs, null);
});

test('withKeepaliveNudge: a peer moving to a direct endpoint gets its keepalive set away and back (wireguard-go sends at once)', () => {
  const [a, b, c] = [key(1), key(2), key(3)];
  const base = { remove: false, updateOnly: true, replaceAllowedIps: false, addAllowedIps: [], removeAllowedIps: [] };
  const change = {
    replacePeers: false,
    peers: [
      { ...base, publicKey: a, endpoint: '203.0.113.12:41641' },
      { ...base, publicKey: b, endpoint: '127.0.0.1:40000' },
      { ...base, publicKey: c, endpoint: '198.51.100.1:1' },
    ],
  };
  const config: DeviceConfig = { privateKey: key(9), peers: [{ publicKey: a, allowedIps: [] }, { publicKey: b, allowedIps: [] }, { publicKey: c, allowedIps: [], persistentKeepalive: 25 }] };
  const out = withKeepaliveNudge(change, config);
  const text = formatSet(out);
  // a: 0 -> 1 -> 0; c: 25 -> 0 -> 25; b (loopback proxy): nothing more.
  const sections = text.trim().split('public_key=').slice(1).map((s) => s.trim().split('\n'));
  assert.equal(sections.length, 7);
  assert.deepEqual(sections.slice(3).map((s) => [s[0], s.find((l) => l.startsWith('persistent_keepalive_interval='))]), [
    [hex(a), 'persistent_keepalive_interval=1'],
    [hex(a), 'persistent_keepalive_interval=0'],
    [hex(c), 'persistent_keepalive_interval=0'],
    [hex(c), 'persistent_keepalive_interval=25'],
  ]);
  assert.ok(sections.slice(3).every((s) => s.includes('update_only=true')), 'never re-creates a peer');
  const quiet = { replacePeers: false, peers: [{ ...base, publicKey: b, endpoint: '127.0.0.1:40000' }] };
  assert.equal(withKeepaliveNudge(quiet, config), quiet);
});
