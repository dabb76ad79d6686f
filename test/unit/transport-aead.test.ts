import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import sodium from 'sodium-native';
import { nativeTransportAead, paddedLength, paddingSize, sodiumTransportAead, type TransportAead } from '../../src/crypto/transport-aead.js';
import { loadNative, nativeAvailable } from '../../src/io/native.js';
import { hex, seq, toHex } from './helpers.js';

const native = nativeAvailable() && loadNative().aeadAvailable ? loadNative() : null;
// Under WEFT_E2E_REQUIRED=1 (CI) a missing native AEAD is a failure, not a skip.
const skip = native || process.env.WEFT_E2E_REQUIRED === '1' ? false : 'native AEAD unavailable (addon not built or primitives missing)';

const SUNSCREEN = new TextEncoder().encode(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);

test('native AEAD: RFC 8439 §2.8.2 vector, tamper detection', { skip }, () => {
  const key = seq(0x80, 32);
  const nonce = hex('07000000 4041424344454647');
  const ad = hex('50515253c0c1c2c3c4c5c6c7');
  const out = new Uint8Array(SUNSCREEN.length + 16);
  native!.aeadSeal(key, nonce, ad, SUNSCREEN, out);
  assert.equal(toHex(out.subarray(0, 16)), 'd31a8d34648e60db7b86afbc53ef7ec2');
  assert.equal(toHex(out.subarray(-16)), '1ae10b594f09e26a7e902ecbd0600691');
  const back = new Uint8Array(SUNSCREEN.length);
  assert.equal(native!.aeadOpen(key, nonce, ad, out, back), true);
  assert.deepEqual(back, SUNSCREEN);
  out[3] ^= 0x40;
  assert.equal(native!.aeadOpen(key, nonce, ad, out, back), false);
});

test('native AEAD: RFC 8439 §A.5 decryption vector', { skip }, () => {
  const key = hex('1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0');
  const nonce = hex('000000000102030405060708');
  const ad = hex('f33388860000000000004e91');
  const ct = hex(`
    64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb2
    4c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf
    332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855
    9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4
    b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523e
    af4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a
    0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10
    49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29
    a6ad5cb4022b02709b
    eead9d67890cbb22392336fea1851f38`);
  const pt = new Uint8Array(ct.length - 16);
  assert.equal(native!.aeadOpen(key, nonce, ad, ct, pt), true);
  assert.match(new TextDecoder().decode(pt), /^Internet-Drafts are draft documents/);
});

test('native AEAD agrees with libsodium on random keys, nonces and lengths 0..1500', { skip }, () => {
  for (let t = 0; t < 400; t++) {
    const len = t < 100 ? t : Math.floor(Math.random() * 1501);
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const ad = t % 3 === 0 ? randomBytes(t % 40) : null;
    const pt = randomBytes(len);
    const a = Buffer.alloc(len + 16);
    const b = Buffer.alloc(len + 16);
    native!.aeadSeal(key, nonce, ad, pt, a);
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt(b, pt, ad, null, nonce, key);
    assert.equal(a.toString('hex'), b.toString('hex'), `len ${len}`);
  }
});

function sealOpenRoundTrip(seal: TransportAead, open: TransportAead): void {
  const key = randomBytes(32);
  const lens = [0, 1, 15, 16, 17, 63, 64, 65, 100, 1279, 1280, 1400, 1419, 1420];
  const src = Buffer.alloc(lens.length * 2048);
  const off = new Uint32Array(lens.length);
  const len = new Uint32Array(lens.length);
  lens.forEach((l, i) => {
    off[i] = i * 2048 + 16;
    len[i] = l;
    src.set(randomBytes(l), off[i]);
  });
  const slot = 1536;
  const dst = Buffer.alloc((lens.length + 2) * slot);
  const dlen = new Uint32Array(lens.length + 2);
  seal.sealBatch(src, off, len, lens.length, dst, slot, 2, dlen, key, 0xdeadbeef, 2 ** 40 + 5, 1420);
  const moff = new Uint32Array(lens.length);
  const mlen = new Uint32Array(lens.length);
  lens.forEach((l, i) => {
    const base = (i + 2) * slot;
    const padded = l === 0 ? 0 : Math.min(1420, (l + 15) & ~15);
    assert.equal(dlen[i + 2], 32 + padded);
    assert.equal(dst.readUInt32LE(base), 4);
    assert.equal(dst.readUInt32LE(base + 4), 0xdeadbeef);
    assert.equal(dst.readBigUInt64LE(base + 8), BigInt(2 ** 40 + 5 + i));
    moff[i] = base;
    mlen[i] = dlen[i + 2];
  });
  dst[moff[5] + 20] ^= 1; // tamper with one
  const ok = new Uint8Array(lens.length);
  assert.equal(open.openBatch(dst, moff, mlen, lens.length, key, ok), lens.length - 1);
  lens.forEach((l, i) => {
    assert.equal(ok[i], i === 5 ? 0 : 1);
    if (i === 5) return;
    assert.deepEqual(dst.subarray(moff[i] + 16, moff[i] + 16 + l), src.subarray(off[i], off[i] + l));
    const padded = mlen[i] - 32;
    assert.ok(dst.subarray(moff[i] + 16 + l, moff[i] + 16 + padded).every((b) => b === 0));
  });
}

test('transport batches: sodium seal, sodium open', () => sealOpenRoundTrip(sodiumTransportAead, sodiumTransportAead));
test('transport batches: native seal, sodium open', { skip }, () => sealOpenRoundTrip(nativeTransportAead()!, sodiumTransportAead));
test('transport batches: sodium seal, native open', { skip }, () => sealOpenRoundTrip(sodiumTransportAead, nativeTransportAead()!));

test('transport batches: a message too big for its slot gets length 0', () => {
  for (const impl of [sodiumTransportAead, nativeTransportAead()].filter((x): x is TransportAead => x !== null)) {
    const src = Buffer.alloc(4096);
    const dlen = new Uint32Array(1).fill(7);
    impl.sealBatch(src, Uint32Array.of(16), Uint32Array.of(2020), 1, Buffer.alloc(2048), 2048, 0, dlen, Buffer.alloc(32), 1, 0, 0);
    assert.equal(dlen[0], 0, impl.name);
  }
});

test('paddedLength is what both sealBatch implementations pad to (native/aead.cc keeps its own copy)', () => {
  assert.deepEqual([0, 1, 15, 16, 17, 1419, 1420].map((l) => paddedLength(l, 1420)), [0, 16, 16, 16, 32, 1420, 1420]);
  assert.equal(paddingSize(1421, 1420), 15, 'a packet over the MTU pads its remainder');
  const impls = [sodiumTransportAead, ...(native ? [nativeTransportAead()!] : [])];
  const key = randomBytes(32);
  const src = randomBytes(1600);
  const off = new Uint32Array(1);
  const len = new Uint32Array(1);
  const dst = Buffer.alloc(2048);
  const dlen = new Uint32Array(1);
  for (const impl of impls) {
    for (const mtu of [0, 1280, 1420]) {
      for (let l = 0; l <= 1500; l += 7) {
        len[0] = l;
        impl.sealBatch(src, off, len, 1, dst, 2048, 0, dlen, key, 1, 0, mtu);
        assert.equal(dlen[0], 32 + paddedLength(l, mtu), `${impl.name} len ${l} mtu ${mtu}`);
      }
    }
  }
});
