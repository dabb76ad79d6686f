import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { x25519Impls } from '../../src/crypto/keys.js';
import { nativeAvailable } from '../../src/io/native.js';
import { hex, LOW_ORDER_POINTS, toHex } from './helpers.js';

// Every X25519 this process can use (OpenSSL's through the addon, libsodium's) gives the
// RFC 7748 results and the same answer as the other on any input.

const impls = x25519Impls();

test('with the addon, OpenSSL X25519 is the one used', { skip: nativeAvailable() ? false : 'native addon not built' }, () => {
  assert.deepEqual(impls.map((i) => i.name), ['openssl', 'sodium']);
});

for (const impl of impls) {
  test(`${impl.name} X25519: RFC 7748 §5.2 vector 1 and §6.1 Alice's public key; low-order points give false`, () => {
    const out = new Uint8Array(32);
    assert.equal(impl.dh(out, hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'), hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c')), true);
    assert.equal(toHex(out), 'c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');
    // The public key is X25519 with the base point u = 9.
    const nine = new Uint8Array(32);
    nine[0] = 9;
    assert.equal(impl.dh(out, hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'), nine), true);
    assert.equal(toHex(out), '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    for (const p of LOW_ORDER_POINTS) assert.equal(impl.dh(out, randomBytes(32), p), false, toHex(p));
  });
}

test('the implementations agree on random scalars and points (high bit of u set or not)', { skip: impls.length < 2 ? 'one implementation only' : false }, () => {
  const [a, b] = impls;
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (k, u) => {
      const x = new Uint8Array(32);
      const y = new Uint8Array(32);
      assert.equal(a.dh(x, k, u), b.dh(y, k, u));
      assert.equal(toHex(x), toHex(y));
    }),
    { numRuns: 300 },
  );
});

test('openssl X25519 refuses keys of the wrong length with a TypeError, not a crash', { skip: impls[0]?.name === 'openssl' ? false : 'no OpenSSL X25519' }, () => {
  assert.throws(() => impls[0].dh(new Uint8Array(32), new Uint8Array(31), new Uint8Array(32)), TypeError);
  assert.throws(() => impls[0].dh(new Uint8Array(16), new Uint8Array(32), new Uint8Array(32)), TypeError);
});
