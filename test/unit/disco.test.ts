import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { generatePrivateKey, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { isStunPacket } from '../../src/nat/stun.js';
import { DISCO_MAGIC, DiscoKeys, isDiscoPacket, openDisco, parseDiscoPlaintext, sealDisco, type DiscoMessage } from '../../src/nat/disco.js';

const a = generatePrivateKey();
const b = generatePrivateKey();
const ka = new DiscoKeys(a, publicKeyFromPrivate(a));
const kb = new DiscoKeys(b, publicKeyFromPrivate(b));
const pubA = publicKeyFromPrivate(a);
const pubB = publicKeyFromPrivate(b);

test('disco: ping, pong and CallMeMaybe round-trip between the two keys', () => {
  const msgs: DiscoMessage[] = [
    { type: 'ping', txid: new Uint8Array(12).fill(7) },
    { type: 'pong', txid: new Uint8Array(12).fill(9), src: Endpoint.parse('198.51.100.7:41641') },
    { type: 'callMeMaybe', endpoints: [Endpoint.parse('10.0.0.2:51820'), Endpoint.parse('[2001:db8::1]:51820')] },
  ];
  for (const m of msgs) {
    const pkt = sealDisco(ka, pubB, m)!;
    assert.ok(isDiscoPacket(pkt));
    assert.ok(!isStunPacket(pkt));
    assert.ok(pkt[0] < 1 || pkt[0] > 4, 'never a WireGuard type');
    const o = openDisco(kb, pkt)!;
    assert.deepEqual(o.sender, pubA);
    assert.equal(o.msg.type, m.type);
    if (m.type === 'pong' && o.msg.type === 'pong') assert.equal(o.msg.src.key, m.src.key);
    if (m.type === 'callMeMaybe' && o.msg.type === 'callMeMaybe') assert.deepEqual(o.msg.endpoints.map((e) => e.key), m.endpoints.map((e) => e.key));
  }
});

test('disco: forged, tampered and wrong-recipient probes are rejected', () => {
  const pkt = sealDisco(ka, pubB, { type: 'ping', txid: new Uint8Array(12) })!;
  const c = generatePrivateKey();
  assert.equal(openDisco(new DiscoKeys(c, publicKeyFromPrivate(c)), pkt), null, 'not for us');
  for (const i of [8, 40, 70, pkt.length - 1]) {
    const t = Uint8Array.from(pkt);
    t[i] ^= 1;
    assert.equal(openDisco(kb, t), null, `bit flip at ${i}`);
  }
});

test('fuzz disco parser (100k random + mutations): never throws, nothing forged opens', () => {
  const valid = sealDisco(ka, pubB, { type: 'callMeMaybe', endpoints: [Endpoint.parse('10.0.0.2:51820')] })!;
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
