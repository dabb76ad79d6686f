import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { generatePrivateKey } from '../../src/crypto/keys.js';
import { FakeNetwork } from '../../src/io/bind-fake.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { FakeTun } from '../../src/io/tun-fake.js';
import { Device } from '../../src/wireguard/device.js';
import { applyChange, diffPeers, selectEndpoint } from '../../src/agent/netmap.js';
import { nodeView } from './helpers.js';

test('selectEndpoint prefers an endpoint in a subnet we share, else the first valid one', () => {
  const eps = ['203.0.113.7:41641', '10.1.2.3:41641', '[2001:db8::5]:41641'];
  assert.equal(selectEndpoint(eps, [{ cidr: '10.1.0.0/16' }]), '10.1.2.3:41641');
  assert.equal(selectEndpoint(eps, [{ cidr: '2001:db8::1/64' }]), '[2001:db8::5]:41641');
  assert.equal(selectEndpoint(eps, [{ cidr: '172.16.0.1/12' }]), '203.0.113.7:41641');
  assert.equal(selectEndpoint(['garbage', '10.1.2.3:41641'], []), '10.1.2.3:41641');
  assert.equal(selectEndpoint([], [{ cidr: '10.0.0.1/8' }]), null);
});

test('diffPeers names only new, changed and removed peers (and never self)', () => {
  const a = nodeView(1), b = nodeView(2), c = nodeView(3), self = nodeView(9);
  const current = new Map([[a.publicKey, a], [b.publicKey, b]]);
  const b2 = { ...b, endpoints: ['192.0.2.99:1'] };
  const d = diffPeers(current, [a, b2, c, self], self.publicKey);
  assert.deepEqual(d.upserts.map((u) => u.name), ['n2', 'n3']);
  assert.deepEqual(d.removals, []);
  const d2 = diffPeers(current, [b], self.publicKey);
  assert.deepEqual(d2.upserts, []);
  assert.deepEqual(d2.removals, [a.publicKey]);
});

test('diffPeers property: applying the diff to the current map yields the target', () => {
  const pool = Array.from({ length: 8 }, (_, i) => nodeView(i + 1));
  fc.assert(
    fc.property(fc.subarray(pool), fc.subarray(pool), fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }), (cur, next, mutate) => {
      const current = new Map(cur.map((v) => [v.publicKey, v]));
      const target = next.map((v, i) => (mutate[i] ? { ...v, online: !v.online } : v));
      const d = diffPeers(current, target);
      const result = new Map(current);
      for (const k of d.removals) result.delete(k);
      for (const u of d.upserts) result.set(u.publicKey, u);
      assert.deepEqual(new Map(target.map((v) => [v.publicKey, v])), result);
    }),
  );
});

test('applyChange touches only named peers and keeps a roamed endpoint that still works', async () => {
  const net = new FakeNetwork();
  const dev = new Device({ tun: new FakeTun(), bind: net.bind('192.0.2.100') });
  dev.setPrivateKey(generatePrivateKey());
  const a = nodeView(1), b = nodeView(2);
  const ctx = { device: dev, local: () => [{ cidr: '192.0.2.100/24' }], now: () => 0 };
  applyChange(ctx, { upserts: [a, b], removals: [] }, new Map());
  const pa = dev.lookupPeer(Buffer.from(a.publicKey, 'base64'))!;
  const pb = dev.lookupPeer(Buffer.from(b.publicKey, 'base64'))!;
  assert.equal(pa.endpoint?.key, '192.0.2.1:41641');
  assert.deepEqual(dev.allowedIps.entriesFor(pa).length, 2);
  // The engine learned a new endpoint for b by roaming; b's advertised list still has it.
  pb.endpoint = Endpoint.parse('192.0.2.50:41641');
  const prev = new Map([[a.publicKey, a], [b.publicKey, b]]);
  const b2 = { ...b, endpoints: ['192.0.2.77:41641', '192.0.2.50:41641'] };
  applyChange(ctx, { upserts: [b2], removals: [a.publicKey] }, prev);
  assert.equal(dev.lookupPeer(Buffer.from(a.publicKey, 'base64')), undefined, 'a removed');
  assert.equal(dev.lookupPeer(Buffer.from(b.publicKey, 'base64')), pb, 'b is the same engine peer');
  assert.equal(pb.endpoint?.key, '192.0.2.50:41641', 'plausible roamed endpoint kept');
  // An endpoint that is neither advertised nor backed by a session is replaced.
  applyChange(ctx, { upserts: [{ ...b2, endpoints: ['192.0.2.77:41641'] }], removals: [] }, new Map([[b.publicKey, b2]]));
  assert.equal(pb.endpoint?.key, '192.0.2.77:41641');
  await dev.close();
});
