import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AEAD_TAG_LEN, chachaOpen, chachaSeal, writeNonce } from '../../src/crypto/aead.js';
import {
  generatePrivateKey,
  presharedKeyFromBytes,
  privateKeyFromBytes,
  publicKeyFromBytes,
  publicKeyFromPrivate,
  x25519,
  type PresharedKey,
  type PrivateKey,
  type PublicKey,
} from '../../src/crypto/keys.js';
import {
  consumeInitiation,
  consumeResponse,
  createInitiation,
  createResponse,
  deriveSessionKeys,
  Handshake,
  ikInitialTranscript,
  ikReadMessage1Payload,
  ikReadMessage1Static,
  ikReadMessage2,
  ikSplit,
  ikWriteMessage1,
  ikWriteMessage2,
  type NoiseIdentity,
} from '../../src/wireguard/noise-protocol.js';
import {
  INITIATION_EPHEMERAL_OFFSET,
  INITIATION_MAC1_OFFSET,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_RESPONSE_SIZE,
  RESPONSE_EPHEMERAL_OFFSET,
  RESPONSE_MAC1_OFFSET,
  readU32,
} from '../../src/wireguard/messages.js';
import { tai64n } from '../../src/wireguard/tai64n.js';
import { hex, LOW_ORDER_POINTS, toHex } from './helpers.js';

const dh = (priv: PrivateKey, pub: Uint8Array): Uint8Array => x25519(priv, pub)!;

// Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s from mcginty/snow tests/vectors/cacophony.txt
// @aabed31. (Older copies of that file, e.g. @62fbfae, carry the same messages but a
// different, wrong handshake_hash; the regenerated file agrees with this code.)
const CACOPHONY = {
  prologue: '4a6f686e2047616c74',
  psk: '54686973206973206d7920417573747269616e20706572737065637469766521',
  initStatic: 'e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1',
  initEphemeral: '893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a',
  initRemoteStatic: '31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62',
  respStatic: '4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893',
  respEphemeral: 'bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b',
  handshakeHash: 'f5191b875290abcd41347ac3622d9679688a7e980229cb937ef748336cfde0e5',
  messages: [
    ['4c756477696720766f6e204d69736573', 'ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944001e21de9f98ddd8e2ad57527207feb56253c9c94a9e496782ecfcb2a75fbcaf1b52948cc48daefe660c62119ab5000980c84831215f2441eba616548e832985464cf17e51ee93109008399a21f7e13f'],
    ['4d757272617920526f746862617264', '95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843cb765f2caef0751b8f007572dab0322217755c0632f365717edbf34d33e87a'],
    ['462e20412e20486179656b', '8153ca9833bc3c1b91a7e66e5f4d4f5b59bf9e64c2f20d15f0bba7'],
    ['4361726c204d656e676572', '07af0c9c86e1b4e80f36b04ff7688d51141af3debd0332f0a705ef'],
    ['4a65616e2d426170746973746520536179', '6ab1467c0448cc78394494abaaf23afce0e234315d6e2624dcbfa8a21c1c4d073d'],
    ['457567656e2042f6686d20766f6e2042617765726b', 'dfc346c0d2296ae6cf1acf6f12b8456a1dba228cf8d8b774aacf1c47fc53aa80ebc7a4c292'],
  ],
};

test('cacophony Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s vector through the generic IKpsk2 steps', () => {
  const v = CACOPHONY;
  const prologue = hex(v.prologue);
  const psk = hex(v.psk);
  const iS = privateKeyFromBytes(hex(v.initStatic));
  const iE = privateKeyFromBytes(hex(v.initEphemeral));
  const rS = privateKeyFromBytes(hex(v.respStatic));
  const rE = privateKeyFromBytes(hex(v.respEphemeral));
  const rsPub = publicKeyFromBytes(hex(v.initRemoteStatic));
  assert.deepEqual(publicKeyFromPrivate(rS), rsPub);
  const [p1, c1] = v.messages[0].map(hex);
  const [p2, c2] = v.messages[1].map(hex);

  // message 1: initiator writes, responder reads
  const iT0 = ikInitialTranscript(prologue, rsPub);
  const out1 = new Uint8Array(32 + 48 + p1.length + AEAD_TAG_LEN);
  const iT1 = ikWriteMessage1(iT0, iE, publicKeyFromPrivate(iS), rsPub, dh(iS, rsPub), p1, out1);
  assert.ok(iT1);
  assert.equal(toHex(out1), toHex(c1));

  const rSt = ikReadMessage1Static(ikInitialTranscript(prologue, rsPub), rS, c1);
  assert.ok(rSt);
  assert.deepEqual(rSt.rs, publicKeyFromPrivate(iS));
  const got1 = new Uint8Array(p1.length);
  const rT1 = ikReadMessage1Payload(rSt, dh(rS, rSt.rs), c1, got1);
  assert.ok(rT1);
  assert.deepEqual(got1, p1);

  // message 2: responder writes, initiator reads
  const out2 = new Uint8Array(32 + p2.length + AEAD_TAG_LEN);
  const rT2 = ikWriteMessage2(rT1, rE, rSt.re, rSt.rs, psk, p2, out2);
  assert.ok(rT2);
  assert.equal(toHex(out2), toHex(c2));
  const got2 = new Uint8Array(p2.length);
  const iT2 = ikReadMessage2(iT1, iE, iS, psk, c2, got2);
  assert.ok(iT2);
  assert.deepEqual(got2, p2);
  assert.equal(toHex(iT2.h), v.handshakeHash);
  assert.equal(toHex(rT2.h), v.handshakeHash);

  // transport: Split() keys, nonces counting from 0 per direction, empty AD
  const [i2r, r2i] = ikSplit(iT2.ck);
  assert.deepEqual(ikSplit(rT2.ck), [i2r, r2i]);
  const nonce = new Uint8Array(12);
  const counters = [0n, 0n];
  v.messages.slice(2).forEach(([p, c], i) => {
    const dir = i % 2; // 0: initiator -> responder
    writeNonce(nonce, counters[dir]++);
    const pt = hex(p);
    const ct = new Uint8Array(pt.length + AEAD_TAG_LEN);
    chachaSeal(ct, dir === 0 ? i2r : r2i, nonce, pt);
    assert.equal(toHex(ct), c, `transport message ${i + 2}`);
    const back = new Uint8Array(pt.length);
    assert.ok(chachaOpen(back, dir === 0 ? i2r : r2i, nonce, ct));
  });
});


// ---------------------------------------------------------------------------------
// WireGuard handshake

interface Pair {
  a: NoiseIdentity; // initiator
  b: NoiseIdentity; // responder
  hsA: Handshake; // A's handshake with B
  hsB: Handshake; // B's handshake with A
  lookupB: (pk: PublicKey) => Handshake | undefined;
  lookupA: (index: number) => Handshake | undefined;
}

function identity(): NoiseIdentity {
  const privateKey = generatePrivateKey();
  return { privateKey, publicKey: publicKeyFromPrivate(privateKey) };
}

function pair(pskA?: PresharedKey, pskB: PresharedKey | undefined = pskA): Pair {
  const a = identity();
  const b = identity();
  const hsA = new Handshake(b.publicKey, pskA);
  hsA.setIdentity(a);
  const hsB = new Handshake(a.publicKey, pskB);
  hsB.setIdentity(b);
  return {
    a,
    b,
    hsA,
    hsB,
    lookupB: (pk) => (toHex(pk) === toHex(a.publicKey) ? hsB : undefined),
    lookupA: (i) => (i === hsA.localIndex ? hsA : undefined),
  };
}

const WALL = Date.UTC(2026, 0, 1);
const NOW = 5_000_000;

test('full handshake: initiator and responder derive matching keys', () => {
  const psk = presharedKeyFromBytes(new Uint8Array(32).fill(7));
  const p = pair(psk);
  const init = createInitiation(p.a, p.hsA, 0x11223344, tai64n(WALL))!;
  assert.equal(init.length, MESSAGE_INITIATION_SIZE);
  assert.equal(p.hsA.state, 'initiation-created');
  assert.equal(toHex(init.subarray(INITIATION_MAC1_OFFSET)), '00'.repeat(32), 'macs left zero');

  assert.equal(consumeInitiation(p.b, init, p.lookupB, NOW), p.hsB);
  assert.equal(p.hsB.state, 'initiation-consumed');
  assert.equal(p.hsB.remoteIndex, 0x11223344);
  assert.equal(p.hsB.lastInitiationConsumedAt, NOW);

  const resp = createResponse(p.b, p.hsB, 0xaabbccdd)!;
  assert.equal(resp.length, MESSAGE_RESPONSE_SIZE);
  assert.equal(p.hsB.state, 'response-created');
  assert.equal(readU32(resp, 8), 0x11223344);

  assert.equal(consumeResponse(p.a, resp, p.lookupA), p.hsA);
  assert.equal(p.hsA.state, 'response-consumed');
  assert.equal(p.hsA.remoteIndex, 0xaabbccdd);

  const ka = deriveSessionKeys(p.hsA)!;
  const kb = deriveSessionKeys(p.hsB)!;
  assert.deepEqual(ka.sendKey, kb.recvKey);
  assert.deepEqual(ka.recvKey, kb.sendKey);
  assert.notDeepEqual(ka.sendKey, ka.recvKey);
  assert.deepEqual([ka.isInitiator, ka.localIndex, ka.remoteIndex], [true, 0x11223344, 0xaabbccdd]);
  assert.deepEqual([kb.isInitiator, kb.localIndex, kb.remoteIndex], [false, 0xaabbccdd, 0x11223344]);
  assert.equal(p.hsA.state, 'zeroed');
  assert.equal(p.hsB.state, 'zeroed');
  assert.equal(deriveSessionKeys(p.hsA), null, 'secrets are gone');
});

test('injected ephemerals make the messages deterministic and are not wiped', () => {
  const p = pair();
  const eA = generatePrivateKey();
  const eB = generatePrivateKey();
  const copyA = eA.slice();
  const m1 = createInitiation(p.a, p.hsA, 1, tai64n(WALL), eA)!;
  const m1b = createInitiation(p.a, p.hsA, 1, tai64n(WALL), eA)!;
  assert.deepEqual(m1, m1b);
  assert.deepEqual(m1.subarray(INITIATION_EPHEMERAL_OFFSET, INITIATION_EPHEMERAL_OFFSET + 32), publicKeyFromPrivate(eA));
  consumeInitiation(p.b, m1, p.lookupB, NOW);
  const m2 = createResponse(p.b, p.hsB, 2, eB)!;
  assert.deepEqual(m2.subarray(RESPONSE_EPHEMERAL_OFFSET, RESPONSE_EPHEMERAL_OFFSET + 32), publicKeyFromPrivate(eB));
  consumeResponse(p.a, m2, p.lookupA);
  deriveSessionKeys(p.hsA);
  assert.deepEqual(eA, copyA);
});

test('tampering any authenticated byte breaks the handshake', () => {
  const p = pair();
  const init = createInitiation(p.a, p.hsA, 1, tai64n(WALL))!;
  // The sender index (bytes 4..7) is covered by mac1, not by Noise; checked in cookie tests.
  for (let i = 0; i < INITIATION_MAC1_OFFSET; i++) {
    if (i >= 4 && i < 8) continue;
    const bad = init.slice();
    bad[i] ^= 0x01;
    assert.equal(consumeInitiation(p.b, bad, p.lookupB, NOW), null, `initiation byte ${i}`);
  }
  assert.equal(p.hsB.state, 'zeroed', 'failures change nothing');
  assert.equal(p.hsB.lastInitiationConsumedAt, -Infinity);
  assert.ok(consumeInitiation(p.b, init, p.lookupB, NOW));

  const resp = createResponse(p.b, p.hsB, 2)!;
  for (let i = 0; i < RESPONSE_MAC1_OFFSET; i++) {
    if (i >= 4 && i < 8) continue; // sender index: mac1 only
    const bad = resp.slice();
    bad[i] ^= 0x80;
    assert.equal(consumeResponse(p.a, bad, p.lookupA), null, `response byte ${i}`);
    assert.equal(p.hsA.state, 'initiation-created');
  }
  assert.ok(consumeResponse(p.a, resp, p.lookupA));
});

test('replayed initiation and older timestamps are rejected', () => {
  const p = pair();
  const init = createInitiation(p.a, p.hsA, 1, tai64n(WALL))!;
  assert.ok(consumeInitiation(p.b, init, p.lookupB, NOW));
  createResponse(p.b, p.hsB, 2);
  assert.equal(consumeInitiation(p.b, init, p.lookupB, NOW + 60_000), null, 'exact replay');
  assert.equal(p.hsB.state, 'response-created', 'replay changed nothing');
  const same = createInitiation(p.a, p.hsA, 3, tai64n(WALL + 5))!; // same whitened timestamp
  assert.equal(consumeInitiation(p.b, same, p.lookupB, NOW + 60_000), null, 'equal timestamp');
  const older = createInitiation(p.a, p.hsA, 3, tai64n(WALL - 1000))!;
  assert.equal(consumeInitiation(p.b, older, p.lookupB, NOW + 60_000), null, 'older timestamp');
  const newer = createInitiation(p.a, p.hsA, 4, tai64n(WALL + 1000))!;
  assert.ok(consumeInitiation(p.b, newer, p.lookupB, NOW + 60_000));
  assert.equal(p.hsB.remoteIndex, 4);
});

test('an initiation less than 20 ms after the last accepted one is dropped (flood)', () => {
  const p = pair();
  assert.ok(consumeInitiation(p.b, createInitiation(p.a, p.hsA, 1, tai64n(WALL))!, p.lookupB, NOW));
  const second = createInitiation(p.a, p.hsA, 2, tai64n(WALL + 1000))!;
  assert.equal(consumeInitiation(p.b, second, p.lookupB, NOW + 19), null);
  assert.equal(p.hsB.lastInitiationConsumedAt, NOW);
  assert.equal(p.hsB.remoteIndex, 1);
  assert.ok(consumeInitiation(p.b, second, p.lookupB, NOW + 20));
  assert.equal(p.hsB.lastInitiationConsumedAt, NOW + 20);
});

test('preshared key mismatch fails at the response', () => {
  const p = pair(presharedKeyFromBytes(new Uint8Array(32).fill(1)), presharedKeyFromBytes(new Uint8Array(32).fill(2)));
  const init = createInitiation(p.a, p.hsA, 1, tai64n(WALL))!;
  assert.ok(consumeInitiation(p.b, init, p.lookupB, NOW), 'psk is only mixed in at message 2');
  const resp = createResponse(p.b, p.hsB, 2)!;
  assert.equal(consumeResponse(p.a, resp, p.lookupA), null);
  assert.equal(p.hsA.state, 'initiation-created');
  // one side with a psk, the other without
  const q = pair(presharedKeyFromBytes(new Uint8Array(32).fill(1)), presharedKeyFromBytes(new Uint8Array(32)));
  consumeInitiation(q.b, createInitiation(q.a, q.hsA, 1, tai64n(WALL))!, q.lookupB, NOW);
  assert.equal(consumeResponse(q.a, createResponse(q.b, q.hsB, 2)!, q.lookupA), null);
});

test('low-order points are rejected everywhere', () => {
  const p = pair();
  const init = createInitiation(p.a, p.hsA, 1, tai64n(WALL))!;
  for (const point of LOW_ORDER_POINTS) {
    const bad = init.slice();
    bad.set(point, INITIATION_EPHEMERAL_OFFSET);
    assert.equal(consumeInitiation(p.b, bad, p.lookupB, NOW), null);
  }
  assert.ok(consumeInitiation(p.b, init, p.lookupB, NOW));
  const resp = createResponse(p.b, p.hsB, 2)!;
  for (const point of LOW_ORDER_POINTS) {
    const bad = resp.slice();
    bad.set(point, RESPONSE_EPHEMERAL_OFFSET);
    assert.equal(consumeResponse(p.a, bad, p.lookupA), null);
  }
  // a peer whose static key is low order: the static-static DH is zero, no handshake
  const me = identity();
  for (const point of LOW_ORDER_POINTS) {
    const hs = new Handshake(publicKeyFromBytes(point));
    hs.setIdentity(me);
    assert.equal(createInitiation(me, hs, 1, tai64n(WALL)), null);
    assert.equal(hs.state, 'zeroed');
  }
});

test('unknown peers, wrong states and wrong indices are rejected', () => {
  const p = pair();
  const init = createInitiation(p.a, p.hsA, 1, tai64n(WALL))!;
  assert.equal(consumeInitiation(p.b, init, () => undefined, NOW), null, 'unknown peer');
  assert.equal(consumeInitiation(p.b, init, () => new Handshake(identity().publicKey), NOW), null, 'lookup returned another peer');
  assert.equal(consumeInitiation(identity(), init, p.lookupB, NOW), null, 'not addressed to us');
  assert.equal(createResponse(p.b, p.hsB, 2), null, 'no initiation consumed yet');
  assert.equal(deriveSessionKeys(p.hsB), null);
  assert.ok(consumeInitiation(p.b, init, p.lookupB, NOW));
  const resp = createResponse(p.b, p.hsB, 2)!;
  assert.equal(consumeResponse(p.a, resp, () => undefined), null, 'unknown receiver index');
  assert.equal(deriveSessionKeys(p.hsA), null, 'initiator before the response');
  p.hsA.clear();
  assert.equal(consumeResponse(p.a, resp, () => p.hsA), null, 'initiator not waiting for a response');
  assert.equal(consumeInitiation(p.b, resp, p.lookupB, NOW), null, 'response is not an initiation');
  assert.equal(consumeResponse(p.a, init, p.lookupA), null, 'initiation is not a response');
});

test('setIdentity(null) or no identity makes handshakes impossible', () => {
  const p = pair();
  p.hsA.setIdentity(null);
  assert.equal(createInitiation(p.a, p.hsA, 1, tai64n(WALL)), null);
  assert.equal(createInitiation(p.a, new Handshake(p.b.publicKey), 1, tai64n(WALL)), null, 'never set');
  const init = createInitiation(p.b, new Handshake(p.a.publicKey), 1, tai64n(WALL));
  assert.equal(init, null);
  p.hsB.setIdentity(null);
  p.hsA.setIdentity(p.a);
  assert.equal(consumeInitiation(p.b, createInitiation(p.a, p.hsA, 1, tai64n(WALL))!, p.lookupB, NOW), null, 'responder without identity');
});

test('a changed identity is picked up even without setIdentity', () => {
  const p = pair();
  const other = identity();
  const m = createInitiation(other, p.hsA, 1, tai64n(WALL))!;
  const hsB2 = new Handshake(other.publicKey);
  hsB2.setIdentity(p.b);
  assert.ok(consumeInitiation(p.b, m, () => hsB2, NOW), 'the static-static DH matches the identity used');
  assert.equal(consumeInitiation(p.b, m, p.lookupB, NOW), null, 'and B does not take it for A');
});

test('simultaneous initiations: the later consumed one wins on each side', () => {
  const p = pair();
  const fromA = createInitiation(p.a, p.hsA, 10, tai64n(WALL))!;
  const fromB = createInitiation(p.b, p.hsB, 20, tai64n(WALL))!;
  const lookupA = (pk: PublicKey) => (toHex(pk) === toHex(p.b.publicKey) ? p.hsA : undefined);
  assert.ok(consumeInitiation(p.b, fromA, p.lookupB, NOW));
  assert.ok(consumeInitiation(p.a, fromB, lookupA, NOW));
  const rB = createResponse(p.b, p.hsB, 21)!;
  assert.equal(consumeResponse(p.a, rB, p.lookupA), null, 'A no longer waits for a response');
});
