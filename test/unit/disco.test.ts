import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { generatePrivateKey, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { isStunPacket } from '../../src/nat/stun.js';
import { DISCO_MAGIC, DISCO_MAX_SKEW_MS, PUNCH_MAX_ATTEMPTS, PUNCH_MAX_WAIT_S, DiscoFreshness, DiscoKeys, DiscoStamper, encodeDiscoPlaintext, isDiscoPacket, openDisco, parseDiscoPlaintext, sealDisco, type DiscoMessage } from '../../src/nat/disco.js';

const a = generatePrivateKey();
const b = generatePrivateKey();
const ka = new DiscoKeys(a, publicKeyFromPrivate(a));
const kb = new DiscoKeys(b, publicKeyFromPrivate(b));
const pubA = publicKeyFromPrivate(a);
const pubB = publicKeyFromPrivate(b);

test('disco: ping, pong and CallMeMaybe round-trip between the two keys', () => {
  const msgs: DiscoMessage[] = [
    { type: 'ping', stamp: 1, txid: new Uint8Array(12).fill(7) },
    { type: 'pong', stamp: Date.UTC(2026, 0, 1), txid: new Uint8Array(12).fill(9), src: Endpoint.parse('198.51.100.7:41641') },
    { type: 'callMeMaybe', stamp: Number.MAX_SAFE_INTEGER, endpoints: [Endpoint.parse('10.0.0.2:51820'), Endpoint.parse('[2001:db8::1]:51820')] },
    { type: 'punch', stamp: 3, attempt: 5, ack: true, waitS: 185, port: 65535, hard: false },
    { type: 'punch', stamp: 4, attempt: 2, ack: false, waitS: 35, port: 0, hard: true },
  ];
  for (const m of msgs) {
    const pkt = sealDisco(ka, pubB, m)!;
    assert.ok(isDiscoPacket(pkt));
    assert.ok(!isStunPacket(pkt));
    assert.ok(pkt[0] < 1 || pkt[0] > 4, 'never a WireGuard type');
    const o = openDisco(kb, pkt)!;
    assert.deepEqual(o.sender, pubA);
    assert.equal(o.msg.type, m.type);
    assert.equal(o.msg.stamp, m.stamp);
    if (m.type === 'pong' && o.msg.type === 'pong') assert.equal(o.msg.src.key, m.src.key);
    if (m.type === 'punch') assert.deepEqual(o.msg, m);
    if (m.type === 'callMeMaybe' && o.msg.type === 'callMeMaybe') assert.deepEqual(o.msg.endpoints.map((e) => e.key), m.endpoints.map((e) => e.key));
  }
});

test('disco: forged, tampered and wrong-recipient probes are rejected', () => {
  const pkt = sealDisco(ka, pubB, { type: 'ping', stamp: 5, txid: new Uint8Array(12) })!;
  const c = generatePrivateKey();
  assert.equal(openDisco(new DiscoKeys(c, publicKeyFromPrivate(c)), pkt), null, 'not for us');
  for (const i of [8, 40, 70, pkt.length - 1]) {
    const t = Uint8Array.from(pkt);
    t[i] ^= 1;
    assert.equal(openDisco(kb, t), null, `bit flip at ${i}`);
  }
});

test('fuzz disco parser (100k random + mutations): never throws, nothing forged opens', () => {
  const valid = sealDisco(ka, pubB, { type: 'callMeMaybe', stamp: 5, endpoints: [Endpoint.parse('10.0.0.2:51820')] })!;
  let opened = 0;
  for (let i = 0; i < 100_000; i++) {
    let pkt: Uint8Array;
    const mode = i % 4;
    if (mode === 0) pkt = randomBytes(i % 200);
    else if (mode === 1) {
      pkt = randomBytes(8 + (i % 180));
      pkt.set(DISCO_MAGIC.subarray(0, Math.min(8, pkt.length)));
    } else if (mode === 2) {
      pkt = Uint8Array.from(valid);
      pkt[i % pkt.length] ^= 1 + (i % 255);
    } else {
      pkt = Uint8Array.from(valid.subarray(0, i % valid.length));
    }
    if (mode < 3 && i % 1000 === 0 && pkt.length >= 40) pkt.set(pubA, 8);
    if (openDisco(kb, pkt) !== null) opened++;
    parseDiscoPlaintext(pkt);
  }
  assert.equal(opened, 0);
});

test('disco: a stamp beyond 2^53 or a short plaintext is malformed', () => {
  const p = encodeDiscoPlaintext({ type: 'ping', stamp: 7, txid: new Uint8Array(12) });
  assert.equal(parseDiscoPlaintext(p)?.stamp, 7);
  const big = Uint8Array.from(p);
  big[1] = 0x01; // 2^56 + 7
  assert.equal(parseDiscoPlaintext(big), null);
  assert.equal(parseDiscoPlaintext(p.subarray(0, 9)), null);
  assert.equal(parseDiscoPlaintext(p.subarray(0, 8)), null);
});

test('disco stamper: Unix ms, strictly increasing within a ms and when the clock steps back', () => {
  const st = new DiscoStamper();
  assert.equal(st.next(1000.7), 1000);
  assert.equal(st.next(1000.2), 1001);
  assert.equal(st.next(500), 1002);
  assert.equal(st.next(5000), 5000);
});

test('disco freshness: inside the clock window, once per peer, reordering tolerated, state per current peer', () => {
  const f = new DiscoFreshness();
  const now = Date.UTC(2026, 0, 1);
  assert.ok(f.accept('A', now, now));
  assert.ok(!f.accept('A', now, now), 'replay');
  assert.ok(f.accept('B', now, now), 'another peer has its own window');
  assert.ok(f.accept('A', now - 2000, now), 'late but unseen (reordered)');
  assert.ok(f.accept('A', now + DISCO_MAX_SKEW_MS, now), 'at the skew bound');
  assert.ok(!f.accept('A', now + DISCO_MAX_SKEW_MS + 1, now), 'from the future');
  assert.ok(!f.accept('C', now - DISCO_MAX_SKEW_MS - 1, now), 'too old');
  assert.ok(!f.accept('C', 1.5, now), 'not an integer');
  f.retain(new Set(['B']));
  assert.ok(f.accept('A', now, now), 'a removed peer starts afresh');
  assert.ok(!f.accept('B', now, now), 'a kept peer keeps its window');
});

test('disco keys: the cache evicts the least recently used key, one at a time', () => {
  const keys = new DiscoKeys(a, pubA, 3);
  const peers = [0, 1, 2, 3].map(() => publicKeyFromPrivate(generatePrivateKey()));
  const k0 = keys.key(peers[0]);
  const k1 = keys.key(peers[1]);
  keys.key(peers[2]);
  assert.equal(keys.key(peers[0]), k0, 'hit: same key object, moved to the end');
  keys.key(peers[3]); // evicts peers[1], the least recently used
  assert.equal(keys.size, 3);
  assert.equal(keys.key(peers[0]), k0, 'a used key survives');
  const again = keys.key(peers[1]);
  assert.notEqual(again, k1, 'the evicted key was computed again');
  assert.deepEqual(again, k1);
  assert.equal(keys.size, 3);
});

test('disco punch: attempt, flags, wait and port out of bounds, or a wrong length, are malformed', () => {
  const ok = encodeDiscoPlaintext({ type: 'punch', stamp: 9, attempt: 0, ack: false, waitS: 35, port: 40001, hard: false });
  assert.deepEqual(parseDiscoPlaintext(ok), { type: 'punch', stamp: 9, attempt: 0, ack: false, waitS: 35, port: 40001, hard: false });
  const bad = (i: number, v: number): Uint8Array => {
    const p = Uint8Array.from(ok);
    p[i] = v;
    return p;
  };
  assert.equal(parseDiscoPlaintext(bad(9, PUNCH_MAX_ATTEMPTS)), null, 'attempt');
  assert.equal(parseDiscoPlaintext(bad(9, PUNCH_MAX_ATTEMPTS - 1))?.type, 'punch');
  assert.equal(parseDiscoPlaintext(bad(10, 4)), null, 'unknown flag');
  assert.deepEqual(parseDiscoPlaintext(bad(10, 3)), { type: 'punch', stamp: 9, attempt: 0, ack: true, waitS: 35, port: 40001, hard: true });
  assert.equal(parseDiscoPlaintext(bad(12, 0)), null, 'wait 0');
  const long = bad(11, PUNCH_MAX_WAIT_S >> 8);
  long[12] = (PUNCH_MAX_WAIT_S & 0xff) + 1;
  assert.equal(parseDiscoPlaintext(long), null, 'wait past the bound');
  long[12] = PUNCH_MAX_WAIT_S & 0xff;
  assert.equal(parseDiscoPlaintext(long)?.type, 'punch');
  const port0 = bad(13, 0);
  port0[14] = 0;
  assert.equal(parseDiscoPlaintext(port0), null, 'port 0');
  port0[10] = 2;
  assert.equal(parseDiscoPlaintext(port0)?.type, 'punch', 'port 0 from a sender with many sockets');
  assert.equal(parseDiscoPlaintext(bad(14, 0))?.type, 'punch', 'port 40001 & 0xff00');
  assert.equal(parseDiscoPlaintext(ok.subarray(0, ok.length - 1)), null, 'short');
  assert.equal(parseDiscoPlaintext(Uint8Array.from([...ok, 0])), null, 'long');
});
