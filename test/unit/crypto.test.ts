import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AEAD_TAG_LEN, chachaOpen, chachaSeal, writeNonce, xchachaOpen, xchachaSeal } from '../../src/crypto/aead.js';
import { equalBytes } from '../../src/crypto/constant-time.js';
import {
  generatePrivateKey,
  isZeroKey,
  keyFromBase64,
  keyFromHex,
  keyToBase64,
  keyToHex,
  presharedKeyFromBytes,
  privateKeyFromBytes,
  publicKeyFromBytes,
  publicKeyFromPrivate,
  x25519,
} from '../../src/crypto/keys.js';
import { WeftError } from '../../src/errors.js';
import { hex, LOW_ORDER_POINTS, seq, toHex } from './helpers.js';

const SUNSCREEN = new TextEncoder().encode(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);

test('RFC 8439 §2.8.2 ChaCha20-Poly1305 AEAD vector', () => {
  const key = seq(0x80, 32);
  const nonce = hex('07000000 4041424344454647');
  const ad = hex('50515253c0c1c2c3c4c5c6c7');
  const expected = hex(`
    d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
    3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
    92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
    3ff4def08e4b7a9de576d26586cec64b6116
    1ae10b594f09e26a7e902ecbd0600691`);
  const out = new Uint8Array(SUNSCREEN.length + AEAD_TAG_LEN);
  chachaSeal(out, key, nonce, SUNSCREEN, ad);
  assert.equal(toHex(out), toHex(expected));
  const back = new Uint8Array(SUNSCREEN.length);
  assert.equal(chachaOpen(back, key, nonce, out, ad), true);
  assert.deepEqual(back, SUNSCREEN);
  out[5] ^= 1;
  assert.equal(chachaOpen(back, key, nonce, out, ad), false);
});

test('draft-irtf-cfrg-xchacha-03 §A.3.1 XChaCha20-Poly1305 vector', () => {
  const key = seq(0x80, 32);
  const nonce = seq(0x40, 24);
  const ad = hex('50515253c0c1c2c3c4c5c6c7');
  const expected = hex(`
    bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb
    731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452
    2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9
    21f9664c97637da9768812f615c68b13b52e
    c0875924c1c7987947deafd8780acf49`);
  const sealed = xchachaSeal(key, nonce, SUNSCREEN, ad);
  assert.equal(toHex(sealed), toHex(expected));
  assert.deepEqual(xchachaOpen(key, nonce, sealed, ad), SUNSCREEN);
  assert.equal(xchachaOpen(key, nonce, sealed, seq(0, 12)), null);
  assert.equal(xchachaOpen(key, nonce, sealed.subarray(0, 10), ad), null);
});

test('chacha AEAD works in place on subarrays of one buffer at the same offset', () => {
  const key = seq(0x80, 32);
  const nonce = new Uint8Array(12);
  writeNonce(nonce, 7n);
  const plain = seq(3, 61);
  const ref = new Uint8Array(plain.length + AEAD_TAG_LEN);
  chachaSeal(ref, key, nonce, plain);

  const buf = Buffer.alloc(16 + plain.length + AEAD_TAG_LEN + 5);
  buf.set(plain, 16);
  const region = buf.subarray(16, 16 + plain.length + AEAD_TAG_LEN);
  chachaSeal(region, key, nonce, buf.subarray(16, 16 + plain.length));
  assert.equal(toHex(region), toHex(ref));

  assert.equal(chachaOpen(buf.subarray(16, 16 + plain.length), key, nonce, region), true);
  assert.deepEqual(new Uint8Array(buf.subarray(16, 16 + plain.length)), plain);
});

test('chachaOpen never throws on malformed arguments', () => {
  const key = seq(0, 32);
  const nonce = new Uint8Array(12);
  assert.equal(chachaOpen(new Uint8Array(0), key, nonce, new Uint8Array(3)), false);
  assert.equal(chachaOpen(new Uint8Array(4), key, nonce, new Uint8Array(16)), false);
  assert.equal(chachaOpen(new Uint8Array(0), key.subarray(1), nonce, new Uint8Array(16)), false);
  assert.equal(chachaOpen(new Uint8Array(0), key, nonce, new Uint8Array(16)), false);
  assert.throws(() => chachaSeal(new Uint8Array(3), key, nonce, new Uint8Array(4)), (e: WeftError) => e.code === 'ERR_INVALID_ARGUMENT');
});

test('writeNonce: 4 zero bytes then little-endian counter', () => {
  const n = new Uint8Array(12).fill(0xaa);
  writeNonce(n, 0x0102030405060708n);
  assert.equal(toHex(n), '000000000807060504030201');
  writeNonce(n, (1n << 64n) - 1n);
  assert.equal(toHex(n), '00000000ffffffffffffffff');
});

test('RFC 7748 §6.1 X25519 Alice/Bob vector', () => {
  const alicePriv = privateKeyFromBytes(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
  const bobPriv = privateKeyFromBytes(hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'));
  const alicePub = publicKeyFromPrivate(alicePriv);
  const bobPub = publicKeyFromPrivate(bobPriv);
  assert.equal(toHex(alicePub), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  assert.equal(toHex(bobPub), 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
  assert.equal(toHex(x25519(alicePriv, bobPub)!), shared);
  assert.equal(toHex(x25519(bobPriv, alicePub)!), shared);
});

test('x25519 returns null for low-order points and wrong lengths', () => {
  const k = generatePrivateKey();
  for (const p of LOW_ORDER_POINTS) assert.equal(x25519(k, p), null, toHex(p));
  assert.equal(x25519(k, new Uint8Array(31)), null);
});

test('private keys are clamped; generated keys differ', () => {
  const k = privateKeyFromBytes(new Uint8Array(32).fill(0xff));
  assert.equal(k[0], 0xf8);
  assert.equal(k[31], 0x7f);
  const raw = new Uint8Array(32);
  privateKeyFromBytes(raw);
  assert.equal(raw[31], 0, 'input not modified');
  const a = generatePrivateKey();
  const b = generatePrivateKey();
  assert.notDeepEqual(a, b);
  assert.equal(a[0] & 7, 0);
  assert.equal(a[31] & 0xc0, 0x40);
});

test('key constructors reject wrong lengths with ERR_INVALID_KEY', () => {
  const isKeyErr = (e: unknown): boolean => e instanceof WeftError && e.code === 'ERR_INVALID_KEY';
  for (const f of [privateKeyFromBytes, publicKeyFromBytes, presharedKeyFromBytes]) {
    assert.throws(() => f(new Uint8Array(31)), isKeyErr);
    assert.throws(() => f(new Uint8Array(33)), isKeyErr);
    assert.equal(f(new Uint8Array(32)).length, 32);
  }
});

test('base64 and hex key encodings are strict', () => {
  const isKeyErr = (e: unknown): boolean => e instanceof WeftError && e.code === 'ERR_INVALID_KEY';
  const k = seq(0, 32);
  const b64 = keyToBase64(k);
  assert.equal(b64, 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=');
  assert.deepEqual(keyFromBase64(b64), k);
  assert.deepEqual(keyFromBase64('YDCttCs9e1J52/g9vEnwJJa+2x6RqaayAYMpSVQfGEY='), hex('6030adb42b3d7b5279dbf83dbc49f02496bedb1e91a9a6b201832949541f1846'));
  for (const bad of ['', b64.slice(0, 43), b64 + '=', 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=', 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdH!8=', 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=']) {
    assert.throws(() => keyFromBase64(bad), isKeyErr, bad);
  }
  const h = keyToHex(k);
  assert.equal(h, '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
  assert.deepEqual(keyFromHex(h.toUpperCase()), k);
  for (const bad of ['', h.slice(2), h + '00', h.slice(0, 63) + 'g', ' ' + h.slice(1)]) assert.throws(() => keyFromHex(bad), isKeyErr, bad);
});

test('isZeroKey and equalBytes', () => {
  assert.equal(isZeroKey(new Uint8Array(32)), true);
  const k = new Uint8Array(32);
  k[31] = 1;
  assert.equal(isZeroKey(k), false);
  assert.equal(equalBytes(seq(0, 16), seq(0, 16)), true);
  assert.equal(equalBytes(seq(0, 16), seq(1, 16)), false);
  assert.equal(equalBytes(seq(0, 16), seq(0, 15)), false);
  assert.equal(equalBytes(new Uint8Array(0), new Uint8Array(0)), true);
});

test('Wireshark TestDecryptWireguard static keys: private -> public, clamping ignores the "alt" bits', () => {
  const pub = (b64: string) => keyToBase64(publicKeyFromPrivate(privateKeyFromBytes(keyFromBase64(b64))));
  assert.equal(pub('AKeZaHwBxjiKLFnkY2unvEdOTtg4AL+M9dQXfopFVFk='), 'Igge9KzRytKNwrgkzDE/8hrLu6Ly0OqVdvOPWhA5KR4=');
  assert.equal(pub('B6eZaHwBxjiKLFnkY2unvEdOTtg4AL+M9dQXfopFVJk='), 'Igge9KzRytKNwrgkzDE/8hrLu6Ly0OqVdvOPWhA5KR4=');
  assert.equal(pub('cFIxTUyBs1Qil414hBwEgvasEax8CKJ5IS5ZougplWs='), 'YDCttCs9e1J52/g9vEnwJJa+2x6RqaayAYMpSVQfGEY=');
});
