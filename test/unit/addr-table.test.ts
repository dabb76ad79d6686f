import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Endpoint } from '../../src/io/endpoint.js';
import { AddrTable } from '../../src/nat/addr-table.js';

const never = () => false;

test('AddrTable: interleaved lookups return the same entry (and Endpoint) without building one', () => {
  const t = new AddrTable<string>(8);
  const a = Endpoint.of('198.51.100.7', 41641);
  const b = Endpoint.of('2001:db8::9', 41641);
  t.learn('A', 0, a, never);
  t.learn('B', 0, b, never);
  const src = new Uint8Array(36);
  src.set(a.bytes, 0);
  src.set(b.bytes, 18);
  const ea = t.lookup(src, 0, 0)!;
  const eb = t.lookup(src, 18, 0)!;
  assert.equal(ea.peer, 'A');
  assert.equal(eb.peer, 'B');
  assert.equal(ea.ep, a, 'the learnt Endpoint itself');
  for (let i = 0; i < 100; i++) {
    assert.equal(t.lookup(src, 0, 0), ea);
    assert.equal(t.lookup(src, 18, 0), eb);
  }
  assert.equal(t.lookup(src, 0, 3), undefined, 'another socket is another address');
});

test('AddrTable: a learnt address moves between peers; the per-peer bound spares what keep protects', () => {
  const t = new AddrTable<string>(3);
  const eps = Array.from({ length: 5 }, (_, i) => Endpoint.of(`10.0.0.${i + 1}`, 5000));
  t.learn('A', 0, eps[0], never);
  t.learn('B', 0, eps[0], never);
  assert.equal(t.lookup(eps[0].bytes, 0, 0)?.peer, 'B');
  assert.equal(t.size, 1);
  const best = eps[0];
  for (const ep of eps.slice(1)) t.learn('B', 0, ep, (e) => e.ep === best);
  assert.equal(t.size, 3);
  assert.ok(t.lookup(best.bytes, 0, 0), 'the protected (best) address stays');
  assert.equal(t.lookup(eps[1].bytes, 0, 0), undefined, 'the oldest other one went');
  assert.equal(t.lookup(eps[2].bytes, 0, 0), undefined);
  assert.ok(t.lookup(eps[4].bytes, 0, 0));
});

test('AddrTable: many entries stay findable through removals; dropSockets and forgetPeer', () => {
  const t = new AddrTable<number>(10_000);
  const eps = Array.from({ length: 4000 }, (_, i) => Endpoint.of(`10.${i >> 8}.${i & 0xff}.1`, 1000 + (i % 7)));
  eps.forEach((ep, i) => t.learn(i % 4, i % 3, ep, never));
  assert.equal(t.size, 4000);
  t.dropSockets((sock) => sock !== 1);
  eps.forEach((ep, i) => assert.equal(t.lookup(ep.bytes, 0, i % 3)?.peer, i % 3 === 1 ? undefined : i % 4, `entry ${i}`));
  t.forgetPeer(2);
  eps.forEach((ep, i) => assert.equal(t.lookup(ep.bytes, 0, i % 3)?.peer, i % 3 === 1 || i % 4 === 2 ? undefined : i % 4, `entry ${i}`));
  const left = eps.filter((_, i) => i % 3 !== 1 && i % 4 !== 2).length;
  assert.equal(t.size, left);
  t.clear();
  assert.equal(t.size, 0);
  assert.equal(t.lookup(eps[0].bytes, 0, 0), undefined);
});
