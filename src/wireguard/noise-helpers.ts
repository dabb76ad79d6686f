import { blake2sImpl } from '../crypto/blake2s.js';

// The symmetric primitives of WireGuard's Noise instance (WP §5.4, wireguard-go
// noise-helpers.go). HMAC is RFC 2104 over BLAKE2s, deliberately not keyed BLAKE2s:
// the KDF is HKDF as Noise specifies it, and only MAC (mac1/mac2/cookie) is keyed.
// They run in the weft_native addon where it is built, else in Node's OpenSSL and
// @noble/hashes (src/crypto/blake2s.ts).
export const HASH_LEN = 32;
export const MAC_LEN = 16;

const impl = blake2sImpl();

/** HASH(parts[0] ‖ parts[1] ‖ …), BLAKE2s-256. */
export function hash(...parts: Uint8Array[]): Uint8Array {
  return impl.hash(parts);
}

/** MAC(key, msg): keyed BLAKE2s with a 16-byte output. */
export function mac(key: Uint8Array, msg: Uint8Array): Uint8Array {
  return impl.mac(key, msg);
}

export function hmac(key: Uint8Array, msg: Uint8Array): Uint8Array {
  return impl.hmac(key, msg);
}

export function kdf1(key: Uint8Array, input: Uint8Array): [Uint8Array] {
  return impl.kdf(1, key, input) as [Uint8Array];
}

export function kdf2(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  return impl.kdf(2, key, input) as [Uint8Array, Uint8Array];
}

export function kdf3(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  return impl.kdf(3, key, input) as [Uint8Array, Uint8Array, Uint8Array];
}

/** Noise MixHash: h = HASH(h ‖ data). */
export function mixHash(h: Uint8Array, data: Uint8Array): Uint8Array {
  return impl.hash([h, data]);
}

/** WireGuard's chaining-key update without a cipher key: ck = KDF1(ck, data). */
export function mixKey(ck: Uint8Array, data: Uint8Array): Uint8Array {
  return impl.kdf(1, ck, data)[0];
}
