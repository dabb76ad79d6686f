import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FakeClock } from '../../src/clock.js';
import { generatePrivateKey, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { DhtNode } from '../../src/dht/node.js';
import { checkRecord, decodeRecord, encodeRecord, MAX_RECORD_TTL_MS, signRecord, type PeerRecord } from '../../src/dht/records.js';
import { edwardsFromX25519, sign, signingKeyFromX25519, verify } from '../../src/dht/sign.js';
import { RecordStore } from '../../src/dht/store.js';
import { decodeDhtMessage, decodeDhtPlaintext, DHT_MAGIC, encodeDhtMessage, type DhtMessage } from '../../src/dht/wire.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { FakeGossipNetwork } from '../../src/serverless/transport.js';
import { keyId } from '../../src/serverless/trust.js';

// Signed peer records (signature by the X25519 node key, trust set, expiry, sequence),
// the DHT codec (round trips; random bytes never throw and count as malformed).

const NOW = Date.UTC(2026, 0, 1);
const priv = generatePrivateKey();
const pub = publicKeyFromPrivate(priv);
const signer = signingKeyFromX25519(priv);
const trustedOnly = (id: string): boolean => id === keyId(pub);
const fields = (seq: number, expiresAt = NOW + 10 * 60_000) => ({ seq, expiresAt, endpoints: [Endpoint.of('198.51.100.7', 41641), Endpoint.of('2001:db8::7', 41641)], relays: [Endpoint.of('203.0.113.1', 41641)] });

test('XEdDSA: the X25519 key signs; its Edwards form verifies; anything else does not', () => {
  for (let i = 0; i < 20; i++) {
    const k = generatePrivateKey();
    const msg = new Uint8Array(i * 7).fill(i);
    const sig = sign(signingKeyFromX25519(k), msg);
    assert.ok(verify(publicKeyFromPrivate(k), msg, sig));
    assert.equal(verify(pub, msg, sig), false, 'another key');
    sig[i] ^= 1;
    assert.equal(verify(publicKeyFromPrivate(k), msg, sig), false, 'a flipped bit');
  }
  assert.deepEqual(edwardsFromX25519(pub), signer.edPublic);
  const minusOne = new Uint8Array(32).fill(0xff);
  minusOne[0] = 0xec;
  minusOne[31] = 0x7f;
  assert.equal(edwardsFromX25519(minusOne), null);
  assert.equal(verify(new Uint8Array(31), new Uint8Array(1), new Uint8Array(64)), false);
});

test('a record signed by a trusted key, live and within the TTL, passes; it round-trips', () => {
  const r = signRecord(signer, pub, fields(1));
  assert.equal(checkRecord(r, trustedOnly, NOW), 'ok');
  const back = decodeRecord(encodeRecord(r))!;
  assert.deepEqual(back.endpoints.map(String), ['198.51.100.7:41641', '[2001:db8::7]:41641']);
  assert.deepEqual(back.relays.map(String), ['203.0.113.1:41641']);
  assert.equal(checkRecord(back, trustedOnly, NOW), 'ok');
});

test('records are refused: bad signature, untrusted key, expired, too long-lived', () => {
  const r = signRecord(signer, pub, fields(1));
  const tampered: PeerRecord = { ...r, endpoints: [Endpoint.of('192.0.2.66', 41641)] };
  assert.equal(checkRecord(tampered, trustedOnly, NOW), 'bad-signature', 'an endpoint swapped in by a DHT node');
  assert.equal(checkRecord({ ...r, seq: 2 }, trustedOnly, NOW), 'bad-signature', 'a sequence bumped by a DHT node');
  const sig = r.signature.slice();
  sig[5] ^= 0x10;
  assert.equal(checkRecord({ ...r, signature: sig }, trustedOnly, NOW), 'bad-signature');
  const otherPriv = generatePrivateKey();
  const stranger = signRecord(signingKeyFromX25519(otherPriv), publicKeyFromPrivate(otherPriv), fields(1));
  assert.equal(checkRecord(stranger, trustedOnly, NOW), 'untrusted');
  // A record that names our key but is signed by the stranger.
  assert.equal(checkRecord({ ...stranger, key: pub }, trustedOnly, NOW), 'bad-signature');
  assert.equal(checkRecord(signRecord(signer, pub, fields(1, NOW - 1)), trustedOnly, NOW), 'expired');
  assert.equal(checkRecord(signRecord(signer, pub, fields(1, NOW + MAX_RECORD_TTL_MS + 3_600_000)), trustedOnly, NOW), 'too-long');
});

test('the store keeps the higher sequence; a lower or equal one is stale; bounded', () => {
  const s = new RecordStore(1);
  assert.equal(s.put(signRecord(signer, pub, fields(5)), NOW), 'stored');
  assert.equal(s.put(signRecord(signer, pub, fields(4)), NOW), 'stale');
  assert.equal(s.put(signRecord(signer, pub, fields(5)), NOW), 'stale');
  assert.equal(s.put(signRecord(signer, pub, fields(6)), NOW), 'stored');
  const other = generatePrivateKey();
  assert.equal(s.put(signRecord(signingKeyFromX25519(other), publicKeyFromPrivate(other), fields(1)), NOW), 'full');
  // Once ours has expired, room is made.
  assert.equal(s.put(signRecord(signingKeyFromX25519(other), publicKeyFromPrivate(other), fields(1)), NOW + 10 * 60_000 - 1), 'full', 'ours still live');
  assert.equal(s.put(signRecord(signingKeyFromX25519(other), publicKeyFromPrivate(other), fields(1, NOW + 20 * 60_000)), NOW + 10 * 60_000), 'stored');
  assert.equal(s.size, 1);
});

const arbEndpoint = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 65535 })).map(([a, p]) => Endpoint.of(`198.51.${a}.1`, p));
const arbId = fc.uint8Array({ minLength: 32, maxLength: 32 });
const record = signRecord(signer, pub, fields(9));
const arbMessage: fc.Arbitrary<DhtMessage> = fc.oneof(
  fc.record({ type: fc.constantFrom('ping' as const, 'pong' as const), reqId: fc.nat({ max: 0xffffffff }) }),
  fc.record({ type: fc.constantFrom('findNode' as const, 'findValue' as const), reqId: fc.nat({ max: 0xffffffff }), target: arbId }),
  fc.record({ type: fc.constant('nodes' as const), reqId: fc.nat({ max: 0xffffffff }), contacts: fc.array(fc.record({ key: arbId, endpoint: arbEndpoint }), { maxLength: 20 }) }),
  fc.record({ type: fc.constantFrom('store' as const, 'value' as const), reqId: fc.nat({ max: 0xffffffff }), record: fc.constant(record) }),
  fc.record({ type: fc.constant('stored' as const), reqId: fc.nat({ max: 0xffffffff }), accepted: fc.boolean() }),
);

test('codec: every message round-trips; truncations are malformed', () => {
  fc.assert(
    fc.property(arbMessage, (m) => {
      const b = encodeDhtMessage(m);
      assert.deepEqual(encodeDhtMessage(decodeDhtMessage(b)!), b);
      if (m.type !== 'ping' && m.type !== 'pong') assert.equal(decodeDhtMessage(b.subarray(0, b.length - 1)), null);
    }),
  );
});

test('fuzz: random bytes never throw; a node counts random datagrams as malformed and answers none', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 1300 }), (b) => void (decodeDhtPlaintext(b), decodeDhtMessage(b), decodeRecord(b))));
  const clock = new FakeClock();
  const net = new FakeGossipNetwork(clock);
  const addr = Endpoint.of('10.0.0.1', 4000);
  const node = new DhtNode({ privateKey: priv, publicKey: pub, transport: net.attach(addr), trusted: () => true, clock });
  const peer = net.attach(Endpoint.of('10.0.0.2', 4000));
  let answers = 0;
  peer.onReceive(() => answers++);
  let sent = 0;
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 6, maxLength: 1300 }), fc.integer({ min: 1, max: 3 }), (tail, kind) => {
      // Behind the magic, so the node's sealed/WHOIS/IAM paths see them (the demux drops the rest earlier).
      const pkt = new Uint8Array(DHT_MAGIC.length + 1 + tail.length);
      pkt.set(DHT_MAGIC);
      pkt[DHT_MAGIC.length] = kind === 2 ? 1 : kind;
      pkt.set(tail, DHT_MAGIC.length + 1);
      peer.send(addr, pkt);
      sent++;
      clock.advance(5);
    }),
  );
  const c = node.counters;
  assert.equal(c.rx, sent);
  assert.equal(c.errors, 0);
  assert.equal(c.malformed + c.unauthenticated + c.untrusted, sent);
  assert.equal(answers, 0);
  node.stop();
});

/** Us (`priv`) and another node on a fake network, each with its own trust predicate. */
function pairOfNodes(ours: (id: string) => boolean, theirs: (id: string) => boolean) {
  const clock = new FakeClock();
  const net = new FakeGossipNetwork(clock);
  const otherPriv = generatePrivateKey();
  const other = publicKeyFromPrivate(otherPriv);
  const addrs = [Endpoint.of('10.0.0.1', 4000), Endpoint.of('10.0.1.1', 4000)];
  const us = new DhtNode({ privateKey: priv, publicKey: pub, transport: net.attach(addrs[0]), trusted: ours, clock });
  const them = new DhtNode({ privateKey: otherPriv, publicKey: other, transport: net.attach(addrs[1]), trusted: theirs, clock });
  const record = (): PeerRecord => signRecord(signingKeyFromX25519(otherPriv), other, { ...fields(1), expiresAt: clock.wallNow() + 600_000 });
  return { clock, other, addrs, us, them, record, stop: () => (us.stop(), them.stop()) };
}

test('a DHT datagram from a key outside the trust set is dropped unanswered and counted', () => {
  // We trust only ourselves; the stranger trusts us (it could be any member's old key).
  const { clock, addrs, us, them, record, stop } = pairOfNodes(trustedOnly, () => true);
  them.addContact(pub, addrs[0]);
  let took = -1;
  them.publish(record(), (n) => (took = n));
  clock.advance(5000);
  assert.ok(us.counters.untrusted >= 1);
  assert.equal(us.counters.rx, us.counters.untrusted, 'nothing else arrived');
  assert.equal(us.counters.tx, 0, 'never answered');
  assert.equal(us.store.size, 0);
  assert.equal(them.table.size, 0, 'we never entered its table: we never answered');
  assert.equal(took, 0);
  stop();
});

test('a member dropped from the trust set leaves the table and its held record is no longer used', () => {
  const trusted = new Set([keyId(pub)]);
  const p = pairOfNodes((id) => trusted.has(id), (id) => trusted.has(id));
  trusted.add(keyId(p.other));
  p.us.addContact(p.other, p.addrs[1]);
  p.them.addContact(pub, p.addrs[0]);
  p.clock.advance(1000);
  assert.equal(p.us.table.size, 1);
  p.them.publish(p.record());
  p.clock.advance(1000);
  assert.equal(p.us.store.size, 1, 'we hold its record');
  trusted.delete(keyId(p.other));
  let found: PeerRecord | null | undefined;
  p.us.findRecord(p.other, (r) => (found = r));
  p.clock.advance(1000);
  assert.equal(found, null);
  assert.equal(p.us.table.size, 0, 'it left the table at the lookup');
  p.stop();
});
