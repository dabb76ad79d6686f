import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { blake2s } from '@noble/hashes/blake2s';
import { hmac as nobleHmac } from '@noble/hashes/hmac';
import { blake2sImpl, blake2sImpls } from '../../src/crypto/blake2s.js';
import { loadNative, nativeAvailable } from '../../src/io/native.js';
import { hash, kdf1, kdf2, kdf3, mac, mixHash, mixKey } from '../../src/wireguard/noise-helpers.js';
import { hex, seq, toHex } from './helpers.js';

// Every BLAKE2s implementation this process has (the addon, OpenSSL, noble) against the
// same published vectors; `WEFT_NATIVE=0 node --test` runs this file without the addon.
const IMPLS = blake2sImpls();
const enc = new TextEncoder();

// wireguard-go device/kdf_test.go, verbatim.
const KDF_VECTORS = [
  {
    key: '746573742d6b6579',
    input: '746573742d696e707574',
    t0: '6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633',
    t1: 'df1194df20802a4fe594cde27e92991c8cae66c366e8106aaa937a55fa371e8a',
    t2: 'fac6e2745a325f5dc5d11a5b165aad08b0ada28e7b4e666b7c077934a4d76c24',
  },
  {
    key: '776972656775617264',
    input: '776972656775617264',
    t0: '491d43bbfdaa8750aaf535e334ecbfe5129967cd64635101c566d4caefda96e8',
    t1: '1e71a379baefd8a79aa4662212fcafe19a23e2b609a3db7d6bcba8f560e3d25f',
    t2: '31e1ae48bddfbe5de38f295e5452b1909a1b4e38e183926af3780b0c1e1f0160',
  },
  {
    key: '',
    input: '',
    t0: '8387b46bf43eccfcf349552a095d8315c4055beb90208fb1be23b894bc2ed5d0',
    t1: '58a0e5f6faefccf4807bff1f05fa8a9217945762040bcec2f4b4a62bdfe0e86e',
    t2: '0ce6ea98ec548f8e281e93e32db65621c45eb18dc6f0a7ad94178610a2f7338e',
  },
];


test('the addon BLAKE2s is chosen whenever the addon loads (under WEFT_E2E_REQUIRED=1 it must)', () => {
  const mustHave = (nativeAvailable() && process.env.WEFT_NATIVE !== '0') || process.env.WEFT_E2E_REQUIRED === '1';
  assert.equal(IMPLS[0].name === 'native', mustHave);
  assert.equal(blake2sImpl().name, IMPLS[0].name);
  assert.ok(IMPLS.some((b) => b.name === 'noble'));
});

test('keyed BLAKE2s-256: blake2.net KAT, key 00..1f, input 00..len-1 (golang.org/x/crypto blake2s_test.go)', () => {
  const kat = [
    '48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49',
    '40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1',
    '6bb71300644cd3991b26ccd4d274acd1adeab8b1d7914546c1198bbe9fc9d803',
    '1d220dbe2ee134661fdf6d9e74b41704710556f2f6e5a091b227697445dbea6b',
    'f6c3fbadb4cc687a0064a5be6e791bec63b868ad62fba61b3757ef9ca52e05b2',
    '49c1f21188dfd769aea0e911dd6b41f14dab109d2b85977aa3088b5c707e8598',
  ];
  const native = IMPLS[0].name === 'native' ? loadNative() : null;
  kat.forEach((want, len) => {
    assert.equal(toHex(blake2s(seq(0, len), { key: seq(0, 32) })), want, `noble len ${len}`);
    if (!native) return;
    const out = new Uint8Array(32);
    native.blake2s(out, seq(0, 32), seq(0, len));
    assert.equal(toHex(out), want, `native len ${len}`);
  });
});

for (const b of IMPLS) {
  test(`${b.name}: BLAKE2s-256, RFC 7693 Appendix B ("abc"), in one to four parts`, () => {
    const want = '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982';
    assert.equal(toHex(b.hash([enc.encode('abc')])), want);
    assert.equal(toHex(b.hash([enc.encode('a'), enc.encode('bc')])), want);
    assert.equal(toHex(b.hash([enc.encode('a'), new Uint8Array(0), enc.encode('bc')])), want);
    assert.equal(toHex(b.hash([enc.encode('a'), enc.encode('b'), enc.encode(''), enc.encode('c')])), want);
  });

  test(`${b.name}: BLAKE2s-256 across block boundaries equals noble`, () => {
    for (const len of [0, 1, 63, 64, 65, 127, 128, 129, 1000]) {
      const m = seq(len & 0xff, len);
      assert.equal(toHex(b.hash([m])), toHex(blake2s(m)), `len ${len}`);
      assert.equal(toHex(b.hash([m.subarray(0, len >> 1), m.subarray(len >> 1)])), toHex(blake2s(m)), `split ${len}`);
    }
  });

  test(`${b.name}: MAC is keyed BLAKE2s with a 16-byte output (cross-checked with CPython hashlib)`, () => {
    assert.equal(toHex(b.mac(seq(0, 32), new Uint8Array(0))), '9536f9b267655743dee97b8a670f9f53');
    assert.equal(toHex(b.mac(seq(0, 32), enc.encode('abc'))), '61ba5f165c194692e09d12520cc4c74a');
  });

  test(`${b.name}: HMAC is RFC 2104 over BLAKE2s, not keyed BLAKE2s (cross-checked with CPython hmac)`, () => {
    assert.equal(toHex(b.hmac(enc.encode('key'), enc.encode('The quick brown fox jumps over the lazy dog'))), 'f93215bb90d4af4c3061cd932fb169fb8bb8a91d0b4022baea1271e1323cd9a0');
    // a key longer than the 64-byte block is hashed first
    assert.equal(toHex(b.hmac(seq(0, 65), enc.encode('abc'))), '44d87b3939dec16bc76cbd83e3982ac0a4eafab8a5b87c8c2adbd0da7d5c9695');
  });

  test(`${b.name}: KDF1/KDF2/KDF3, wireguard-go kdf_test.go vectors`, () => {
    for (const v of KDF_VECTORS) {
      const key = hex(v.key);
      const input = hex(v.input);
      assert.deepEqual(b.kdf(3, key, input).map(toHex), [v.t0, v.t1, v.t2]);
      assert.deepEqual(b.kdf(2, key, input).map(toHex), [v.t0, v.t1]);
      assert.deepEqual(b.kdf(1, key, input).map(toHex), [v.t0]);
    }
  });
}

test('noise-helpers: KDFs, mixKey, mixHash and MAC over the chosen implementation', () => {
  const v = KDF_VECTORS[0];
  const key = hex(v.key);
  const input = hex(v.input);
  assert.deepEqual(kdf3(key, input).map(toHex), [v.t0, v.t1, v.t2]);
  assert.deepEqual(kdf2(key, input).map(toHex), [v.t0, v.t1]);
  assert.deepEqual(kdf1(key, input).map(toHex), [v.t0]);
  assert.equal(toHex(mixKey(key, input)), v.t0);
  const h = seq(9, 32);
  const d = seq(100, 48);
  assert.deepEqual(mixHash(h, d), hash(new Uint8Array([...h, ...d])));
  assert.equal(toHex(mac(seq(0, 32), enc.encode('abc'))), '61ba5f165c194692e09d12520cc4c74a');
});

test('every implementation equals @noble/hashes on random inputs (hash, MAC, HMAC, KDF2)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ minLength: 1, maxLength: 32 }), (a, msg, macKey) => {
      const prk = nobleHmac(blake2s, a, msg);
      const t1 = nobleHmac(blake2s, prk, Uint8Array.of(1));
      const kdfWant = [t1, nobleHmac(blake2s, prk, new Uint8Array([...t1, 2]))].map(toHex);
      for (const b of IMPLS) {
        assert.equal(toHex(b.hash([a, msg])), toHex(blake2s(new Uint8Array([...a, ...msg]))), b.name);
        assert.equal(toHex(b.mac(macKey, msg)), toHex(blake2s(msg, { key: macKey, dkLen: 16 })), b.name);
        assert.equal(toHex(b.hmac(a, msg)), toHex(nobleHmac(blake2s, a, msg)), b.name);
        assert.deepEqual(b.kdf(2, a, msg).map(toHex), kdfWant, b.name);
      }
    }),
    { numRuns: 300 },
  );
});
