import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { FakeClock } from '../../src/clock.js';
import { DISCO_MAGIC } from '../../src/nat/disco.js';
import { generatePrivateKey, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { planAddresses } from '../../src/serverless/addresses.js';
import { Awareness } from '../../src/serverless/awareness.js';
import { BroadcastQueue } from '../../src/serverless/broadcast-queue.js';
import { pushPullScale, remainingSuspicionTime, retransmitLimit, suspicionTimeout } from '../../src/serverless/config.js';
import { adminKeyFromSeed, signRevocation, verifyRevocation } from '../../src/serverless/revocation.js';
import { decodeRevocation, encodeRevocation } from '../../src/serverless/revocation-file.js';
import { Suspicion } from '../../src/serverless/suspicion.js';
import { authorizeKey, deauthorizeKey, loadTrustStore, saveRevocation } from '../../src/serverless/trust-store.js';
import { keyId, TrustSet } from '../../src/serverless/trust.js';
import { GOSSIP_DEMUX_BYTE, decodePlaintext, encodeMessage, encodePlaintext, MAX_ENDPOINTS, type GossipMessage } from '../../src/serverless/wire.js';

const key = (n: number): Uint8Array => new Uint8Array(32).fill(n);

test('memberlist formulas: retransmit limit, suspicion min/max, Lifeguard confirmations, push/pull scale', () => {
  assert.equal(retransmitLimit(4, 100), 12);
  assert.equal(retransmitLimit(4, 200), 12);
  assert.equal(retransmitLimit(4, 1000), 16);
  assert.equal(suspicionTimeout(4, 100, 1000), 8000);
  assert.equal(suspicionTimeout(4, 1, 1000), 4000, 'never below one log10 unit');
  // No confirmations: the max; k confirmations: the min; in between, log-shaped.
  assert.equal(remainingSuspicionTime(0, 2, 0, 8000, 48000), 48000);
  assert.equal(remainingSuspicionTime(2, 2, 0, 8000, 48000), 8000);
  assert.equal(remainingSuspicionTime(1, 2, 1000, 8000, 48000), Math.floor(48000 - (Math.log(2) / Math.log(3)) * 40000) - 1000);
  assert.equal(pushPullScale(30_000, 32), 30_000);
  assert.equal(pushPullScale(30_000, 200), 120_000);
});

test('suspicion timer shrinks from max toward min with independent confirmations only', () => {
  const clock = new FakeClock();
  let fired = 0;
  const s = new Suspicion(clock, 'a', 2, 8000, 48000, () => fired++);
  assert.equal(s.confirm('a'), false, 'the first suspecter does not confirm');
  assert.equal(s.confirm('b'), true);
  assert.equal(s.confirm('b'), false, 'once per member');
  assert.equal(s.confirm('c'), true);
  assert.equal(s.confirm('d'), false, 'enough confirmations');
  clock.advance(7999);
  assert.equal(fired, 0);
  clock.advance(1);
  assert.equal(fired, 1);
});

test('awareness scales timeouts by score+1 and stays within 0…max−1', () => {
  const a = new Awareness(8);
  a.applyDelta(-3);
  assert.equal(a.scale(500), 500);
  a.applyDelta(20);
  assert.equal(a.health, 7);
  assert.equal(a.scale(1000), 8000);
});

test('broadcast queue: least-sent first, newer update replaces older, dropped after the retransmit limit', () => {
  const q = new BroadcastQueue(1);
  q.queue('x', Uint8Array.of(1));
  q.queue('y', Uint8Array.of(2, 2));
  q.queue('x', Uint8Array.of(3));
  assert.equal(q.size, 2);
  assert.deepEqual(q.take(10, 9).map((m) => m[0]), [3, 2]);
  assert.equal(q.size, 0, 'limit 1·ceil(log10(10)) = 1');
  q.queue('z', new Uint8Array(100));
  assert.deepEqual(q.take(50, 9), [], 'does not fit');
});

const endpointArb = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 65535 })).map(([ip, port]) => Endpoint.of(ip, port));
const keyArb = fc.uint8Array({ minLength: 32, maxLength: 32 });
const u32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const messageArb: fc.Arbitrary<GossipMessage> = fc.oneof(
  fc.record({ type: fc.constant('ping' as const), seq: u32, target: keyArb }),
  fc.record({ type: fc.constant('indirectPing' as const), seq: u32, target: keyArb, addr: endpointArb, wantNack: fc.boolean() }),
  fc.record({ type: fc.constantFrom('ack' as const, 'nack' as const), seq: u32 }),
  fc.record({ type: fc.constant('alive' as const), incarnation: u32, node: keyArb, relay: fc.boolean(), endpoints: fc.array(endpointArb, { maxLength: MAX_ENDPOINTS }) }),
  fc.record({ type: fc.constantFrom('suspect' as const, 'dead' as const), incarnation: u32, node: keyArb, from: keyArb }),
  fc.record({ type: fc.constant('sync' as const), wantReply: fc.boolean() }),
  fc.record({ type: fc.constant('revoke' as const), node: keyArb, admin: keyArb, issuedAt: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), signature: fc.uint8Array({ minLength: 64, maxLength: 64 }) }),
  fc.record({ type: fc.constantFrom('forward' as const, 'forwarded' as const), peer: keyArb, payload: fc.uint8Array({ minLength: 1, maxLength: 120 }) }),
  fc.record({ type: fc.constant('observed' as const), addr: endpointArb }),
);
const norm = (m: GossipMessage): unknown => JSON.parse(JSON.stringify(m, (_k, v) => (v instanceof Endpoint ? v.key : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v)));

test('gossip codec: every message round-trips (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.array(messageArb, { maxLength: 6 }), (stamp, msgs) => {
      const d = decodePlaintext(encodePlaintext(stamp, msgs.map(encodeMessage)));
      assert.ok(d);
      assert.equal(d.stamp, stamp);
      assert.deepEqual(d.messages.map(norm), msgs.map(norm));
    }),
  );
});

test('gossip codec: truncation and bad lengths are rejected, unknown types skipped, never throws (property)', () => {
  const valid = encodePlaintext(1, [encodeMessage({ type: 'ack', seq: 7 }), encodeMessage({ type: 'sync', wantReply: true })]);
  for (let n = 0; n < valid.length; n++) if (n !== 8 && n !== 15) assert.equal(decodePlaintext(valid.subarray(0, n)), null, `truncated at ${n}`);
  assert.deepEqual(decodePlaintext(encodePlaintext(1, [Uint8Array.of(200, 0, 2, 9, 9), encodeMessage({ type: 'ack', seq: 1 })]))?.messages, [{ type: 'ack', seq: 1 }]);
  assert.equal(decodePlaintext(encodePlaintext(1, [Uint8Array.of(3, 0, 5, 0, 0, 0, 1, 0)])), null, 'ack with a wrong length');
  fc.assert(fc.property(fc.uint8Array({ maxLength: 1300 }), (b) => void decodePlaintext(b)));
  assert.equal(GOSSIP_DEMUX_BYTE >> 6, 1, 'never STUN (top bits 00)');
  assert.ok(GOSSIP_DEMUX_BYTE > 4, 'not a WireGuard type 1..4');
  assert.notEqual(GOSSIP_DEMUX_BYTE, DISCO_MAGIC[0], 'not disco');
});

test('revocation: signed by the admin key, verified, tamper rejected, round-trips through its file form', () => {
  const admin = adminKeyFromSeed(key(5));
  const r = signRevocation(admin, key(1), 1234);
  assert.equal(verifyRevocation(r), true);
  assert.equal(verifyRevocation({ ...r, node: key(2) }), false);
  assert.equal(verifyRevocation({ ...r, issuedAt: 1235 }), false);
  const back = decodeRevocation(encodeRevocation(r));
  assert.ok(back && verifyRevocation(back));
  assert.equal(decodeRevocation('garbage'), null);
});

test('trust set: only authorized, unrevoked node keys are members; admin keys sign but are not members', () => {
  const admin = adminKeyFromSeed(key(5));
  const t = new TrustSet([
    { key: key(1), name: 'a', role: 'node' },
    { key: admin.publicKey, name: 'boss', role: 'admin' },
  ]);
  assert.equal(t.isMember(keyId(key(1))), true);
  assert.equal(t.isMember(keyId(admin.publicKey)), false);
  assert.equal(t.revoke(signRevocation(adminKeyFromSeed(key(6)), key(1), 1)), false, 'unknown admin');
  assert.equal(t.revoke(signRevocation(admin, key(9), 1)), false, 'not in the trust set');
  assert.equal(t.revoke(signRevocation(admin, key(1), 1)), true);
  assert.equal(t.revoke(signRevocation(admin, key(1), 2)), false, 'already revoked');
  assert.equal(t.isMember(keyId(key(1))), false);
});

test('authorized_keys folder: one file per key, atomic, names unique, malformed files skipped; revocations stored', async () => {
  const dir = join(await mkdtemp(join(tmpdir(), 'weft-trust-')), 'authorized_keys');
  const k1 = publicKeyFromPrivate(generatePrivateKey());
  const admin = adminKeyFromSeed(key(3));
  await authorizeKey(dir, k1, 'alpha', 'node');
  await authorizeKey(dir, k1, 'alpha', 'node');
  await authorizeKey(dir, admin.publicKey, 'boss', 'admin');
  await assert.rejects(authorizeKey(dir, key(7), 'alpha', 'node'), { code: 'ERR_NAME_TAKEN' });
  await assert.rejects(authorizeKey(dir, k1, 'other', 'node'), { code: 'ERR_ALREADY_AUTHORIZED' });
  await assert.rejects(authorizeKey(dir, key(7), 'Bad_Name', 'node'), { code: 'ERR_INVALID_NAME' });
  await writeFile(join(dir, 'junk'), 'not a key\n');
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  await saveRevocation(dir, signRevocation(admin, k1, 99));
  const t = await loadTrustStore(dir);
  assert.deepEqual(t.entries.map((e) => `${e.role}:${e.name}`).sort(), ['admin:boss', 'node:alpha']);
  assert.equal(t.skipped.length, 1);
  assert.equal(t.revocations.length, 1);
  assert.equal(new TrustSet(t.entries, t.revocations).isMember(keyId(k1)), false, 'a stored revocation applies at load');
  assert.equal((await readFile(join(dir, 'boss'), 'utf8')).startsWith('admin '), true);
  assert.equal(await deauthorizeKey(dir, k1), 'alpha');
  await assert.rejects(deauthorizeKey(dir, k1), { code: 'ERR_NOT_AUTHORIZED' });
  assert.ok(!(await readdir(dir)).some((f) => f.includes('.tmp-')));
});

test('addresses: derived from the key, inside the ranges, the same whatever the order; collisions resolved deterministically', () => {
  const keys = Array.from({ length: 40 }, () => publicKeyFromPrivate(generatePrivateKey()));
  const a = planAddresses(keys);
  const b = planAddresses([...keys].reverse());
  assert.deepEqual([...a.byKey].sort(), [...b.byKey].sort());
  for (const m of a.byKey.values()) {
    assert.match(m.ipv4, /^100\.(8[0-9]|9[0-5])\./);
    assert.match(m.ipv6, /^fd77:6566:7400:/);
  }
  // A /28 has 14 host addresses for 12 keys: collisions are certain and all resolved.
  const small = planAddresses(keys.slice(0, 12), '10.1.2.0/28');
  assert.equal(small.byKey.size, 12);
  assert.equal(new Set([...small.byKey.values()].map((m) => m.ipv4)).size, 12, 'unique');
  assert.ok(small.collisions.length > 0);
  for (const c of small.collisions) {
    assert.ok(Buffer.compare(Buffer.from(c.heldBy, 'base64'), Buffer.from(c.key, 'base64')) < 0, 'the lower key keeps the address');
    assert.ok((small.byKey.get(c.key)?.counter ?? 0) > c.counter, 'the higher key moved on');
  }
  assert.deepEqual(planAddresses([...keys.slice(0, 12)].reverse(), '10.1.2.0/28').collisions, small.collisions);
});
