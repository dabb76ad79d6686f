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

