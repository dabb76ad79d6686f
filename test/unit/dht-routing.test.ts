import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commonPrefixLength, nodeIdOf, randomIdInBucket, type NodeId } from '../../src/dht/id.js';
import { RoutingTable, subnetOf, type NewContact } from '../../src/dht/routing.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { seededRandom } from '../../src/serverless/sim.js';

// The routing table: bucket splits near our own id, the per-/24 and per-/48 limits, the
// replacement cache behind a full bucket (the oldest contact stays unless it fails).

const self = new Uint8Array(32);
const rnd = seededRandom(3);

/** A contact whose id shares exactly `cpl` bits with `self` (keys are stand-ins: the table never derives ids). */
function contactAt(cpl: number, ip: string, n = 0): NewContact {
  const id: NodeId = randomIdInBucket(self, cpl, rnd);
  const key = new Uint8Array(32).fill(n & 255);
  return { id, key, keyId: `${cpl}-${ip}-${n}`, endpoint: Endpoint.of(ip, 4000) };
}

test('ids are hashes of keys; the common prefix decides the bucket', () => {
  const a = nodeIdOf(new Uint8Array(32).fill(1));
  assert.equal(a.length, 32);
  assert.deepEqual(nodeIdOf(new Uint8Array(32).fill(1)), a);
  assert.notDeepEqual(nodeIdOf(new Uint8Array(32).fill(2)), a);
  for (const cpl of [0, 1, 7, 8, 9, 100, 255]) assert.equal(commonPrefixLength(self, randomIdInBucket(self, cpl, rnd)), cpl);
  assert.equal(commonPrefixLength(a, a), 256);
});

test('the last bucket splits when full; far buckets do not', () => {
  const t = new RoutingTable(self, { k: 4, subnetLimit: 100 });
  for (let i = 0; i < 4; i++) assert.equal(t.seen(contactAt(0, `1.0.${i}.1`, i), 0).status, 'added');
  assert.equal(t.bucketCount, 1);
  // A fifth contact, nearer us: the only bucket splits, and the near one takes it.
  assert.equal(t.seen(contactAt(3, '2.0.0.1'), 0).status, 'added');
  assert.ok(t.bucketCount >= 2);
  assert.equal(t.bucket(0).length, 4);
  // Bucket 0 (half the id space, not ours) is full and never splits: the fifth far contact waits.
  const r = t.seen(contactAt(0, '3.0.0.1', 9), 0);
  assert.equal(r.status, 'full');
  assert.equal(t.bucket(0).length, 4);
  assert.equal(t.replacementsOf(0).length, 1);
  assert.equal(t.size, 5);
});

test('at most two contacts per /24 (IPv4) and per /48 (IPv6) in one bucket', () => {
  const t = new RoutingTable(self, { k: 20 });
  assert.equal(t.seen(contactAt(0, '198.51.100.1', 1), 0).status, 'added');
  assert.equal(t.seen(contactAt(0, '198.51.100.2', 2), 0).status, 'added');
  assert.equal(t.seen(contactAt(0, '198.51.100.3', 3), 0).status, 'subnet');
  assert.equal(t.seen(contactAt(0, '198.51.101.3', 3), 0).status, 'added', 'the next /24 is another subnet');
  assert.equal(t.seen(contactAt(0, '2001:db8:1::1', 5), 0).status, 'added');
  assert.equal(t.seen(contactAt(0, '2001:db8:1:ffff::2', 6), 0).status, 'added');
  assert.equal(t.seen(contactAt(0, '2001:db8:1:1::3', 7), 0).status, 'subnet');
  assert.equal(t.seen(contactAt(0, '2001:db8:2::3', 7), 0).status, 'added');
  assert.equal(subnetOf(Endpoint.of('10.1.2.3', 1)), '4:10.1.2');
  // One host minting many keys fills two slots, not the bucket.
  const flood = new RoutingTable(self, { k: 20 });
  for (let i = 0; i < 50; i++) flood.seen(contactAt(0, `203.0.113.${i + 1}`, i), 0);
  assert.equal(flood.size, 2);
  // Once split, each bucket has its own limit.
  const split = new RoutingTable(self, { k: 2 });
  split.seen(contactAt(0, '198.51.100.1', 1), 0);
  split.seen(contactAt(0, '198.51.100.2', 2), 0);
  assert.equal(split.seen(contactAt(4, '198.51.100.3', 3), 0).status, 'added');
  assert.equal(split.seen(contactAt(4, '198.51.100.4', 4), 0).status, 'added');
  assert.equal(split.seen(contactAt(4, '198.51.100.5', 5), 0).status, 'subnet');
  assert.equal(split.size, 4);
});

test('a full bucket keeps a live oldest contact; a failed one is replaced by the newest replacement', () => {
  const t = new RoutingTable(self, { k: 3, subnetLimit: 100 });
  const cs = [0, 1, 2].map((i) => contactAt(0, `1.0.${i}.1`, i));
  for (const c of cs) t.seen(c, i0(c));
  const newer = [contactAt(0, '9.0.0.1', 10), contactAt(0, '9.0.1.1', 11)];
  for (const c of newer) {
    const r = t.seen(c, 5);
    assert.equal(r.status, 'full');
    assert.equal(r.status === 'full' && r.oldest.keyId, cs[0].keyId, 'the oldest is the one to ping');
  }
  // The oldest answered the ping: it moves to the tail and stays.
  assert.equal(t.seen(cs[0], 6).status, 'updated');
  assert.deepEqual(t.bucket(0).map((c) => c.keyId), [cs[1].keyId, cs[2].keyId, cs[0].keyId]);
  // Now cs[1] fails: it goes, and the newest replacement takes its place.
  assert.equal(t.failed(cs[1].id), true);
  assert.deepEqual(t.bucket(0).map((c) => c.keyId), [cs[2].keyId, cs[0].keyId, newer[1].keyId]);
  assert.equal(t.replacementsOf(0).length, 1);
});

test('with no replacement waiting, a contact stays until it has failed maxFailures times', () => {
  const t = new RoutingTable(self, { k: 3, maxFailures: 3 });
  const c = contactAt(0, '1.0.0.1');
  t.seen(c, 0);
  assert.equal(t.failed(c.id), false);
  assert.equal(t.failed(c.id), false);
  assert.equal(t.failed(c.id), true);
  assert.equal(t.size, 0);
  assert.equal(t.seen({ ...contactAt(0, '1.0.0.1'), id: self }, 0).status, 'self');
});

test('closest() orders by XOR distance to the target', () => {
  const t = new RoutingTable(self, { subnetLimit: 1000 });
  for (let i = 0; i < 200; i++) t.seen(contactAt(Math.floor(rnd() * 12), `10.0.${i}.1`, i), 0);
  const target = randomIdInBucket(self, 5, rnd);
  const got = t.closest(target, 20);
  const brute = t.all().sort((a, b) => Buffer.compare(xor(a.id, target), xor(b.id, target))).slice(0, 20);
  assert.deepEqual(got.map((c) => c.keyId), brute.map((c) => c.keyId));
});

function xor(a: Uint8Array, b: Uint8Array): Buffer {
  return Buffer.from(a.map((x, i) => x ^ b[i]));
}

function i0(c: NewContact): number {
  return Number(c.keyId.split('-')[2]);
}
