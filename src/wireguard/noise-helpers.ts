import { createHash, createHmac, getHashes } from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2s';
import { hmac as nobleHmac } from '@noble/hashes/hmac';

// The symmetric primitives of WireGuard's Noise instance (WP §5.4, wireguard-go
// noise-helpers.go). HMAC is RFC 2104 over BLAKE2s, deliberately not keyed BLAKE2s:
// the KDF is HKDF as Noise specifies it, and only MAC (mac1/mac2/cookie) is keyed.
export const HASH_LEN = 32;
export const MAC_LEN = 16;

// Hash and HMAC run in OpenSSL where Node's build has BLAKE2s (3-5x faster than the JS
// implementation; about 20 HMACs make up most of a handshake's non-X25519 CPU time);
// @noble/hashes is the fallback and the only keyed BLAKE2s (OpenSSL's BLAKE2SMAC is
// not reachable from node:crypto).
const OPENSSL_BLAKE2S = getHashes().includes('blake2s256');

/** HASH(parts[0] ‖ parts[1] ‖ …), BLAKE2s-256. */
export function hash(...parts: Uint8Array[]): Uint8Array {
  if (OPENSSL_BLAKE2S) {
    const h = createHash('blake2s256');
    for (const p of parts) h.update(p);
    return asBytes(h.digest());
  }
  const h = blake2s.create({});
  for (const p of parts) h.update(p);
  return h.digest();
}

/** A Buffer seen as a plain Uint8Array over the same bytes (callers compare and copy views). */
const asBytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

/** MAC(key, msg): keyed BLAKE2s with a 16-byte output. */
export function mac(key: Uint8Array, msg: Uint8Array): Uint8Array {
  return blake2s(msg, { key, dkLen: MAC_LEN });
}

export function hmac(key: Uint8Array, msg: Uint8Array): Uint8Array {
  if (OPENSSL_BLAKE2S) return asBytes(createHmac('blake2s256', key).update(msg).digest());
  return nobleHmac(blake2s, key, msg);
}

const ONE = Uint8Array.of(1);

// HKDF-Expand with up to three outputs: τ0 = HMAC(key, input), τi = HMAC(τ0, τi-1 ‖ i).
function kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Uint8Array[] {
  const prk = hmac(key, input);
  const out: Uint8Array[] = [hmac(prk, ONE)];
  const buf = new Uint8Array(HASH_LEN + 1);
  for (let i = 1; i < n; i++) {
    buf.set(out[i - 1]);
    buf[HASH_LEN] = i + 1;
    out.push(hmac(prk, buf));
  }
  prk.fill(0);
  buf.fill(0);
  return out;
}

export function kdf1(key: Uint8Array, input: Uint8Array): [Uint8Array] {
  return kdf(1, key, input) as [Uint8Array];
}

export function kdf2(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  return kdf(2, key, input) as [Uint8Array, Uint8Array];
}

export function kdf3(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  return kdf(3, key, input) as [Uint8Array, Uint8Array, Uint8Array];
}

/** Noise MixHash: h = HASH(h ‖ data). */
export function mixHash(h: Uint8Array, data: Uint8Array): Uint8Array {
  return hash(h, data);
}

/** WireGuard's chaining-key update without a cipher key: ck = KDF1(ck, data). */
export function mixKey(ck: Uint8Array, data: Uint8Array): Uint8Array {
  return kdf1(ck, data)[0];
}
