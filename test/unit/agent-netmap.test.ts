import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chooseEndpoint, diffPeers, selectEndpoint } from '../../src/agent/netmap.js';
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

test('chooseEndpoint keeps a roamed endpoint while it is advertised or its session is fresh, else picks an advertised one', () => {
  const local = [{ cidr: '192.0.2.100/24' }];
  const b =  nodeView(2);
  const live = (endpoint: string | null, sessionCreatedMs: number | null) => ({ endpoint, sessionCreatedMs, lastHandshakeWallMs: 0, handshakeAttempts: 0, handshakes: 0, rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 });
  assert.equal(chooseEndpoint(b, undefined, undefined, 0, local), '192.0.2.2:41641', 'a new peer gets its advertised endpoint');
  // The engine learned 192.0.2.50 by roaming; unchanged advertisements keep it.
  assert.equal(chooseEndpoint(b, b, live('192.0.2.50:41641', null), 0, local), undefined);
  const b2 = { ...b, endpoints: ['192.0.2.77:41641', '192.0.2.50:41641'] };
  assert.equal(chooseEndpoint(b2, b, live('192.0.2.50:41641', null), 0, local), undefined, 'still advertised: kept');
  const b3 = { ...b2, endpoints: ['192.0.2.77:41641'] };
  assert.equal(chooseEndpoint(b3, b2, live('192.0.2.50:41641', 1_000), 60_000, local), undefined, 'a working session keeps it');
  assert.equal(chooseEndpoint(b3, b2, live('192.0.2.50:41641', null), 60_000, local), '192.0.2.77:41641', 'neither: replaced');
  assert.equal(chooseEndpoint(b3, b2, live('192.0.2.50:41641', 0), 200_000, local), '192.0.2.77:41641', 'a session older than REJECT_AFTER_TIME does not count');
});
