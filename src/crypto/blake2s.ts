import { createHash, createHmac, getHashes } from 'node:crypto';
import { blake2s } from '@noble/hashes/blake2s';
import { hmac as nobleHmac } from '@noble/hashes/hmac';
import { loadNative, type WeftNative } from '../io/native.js';

// BLAKE2s and the HMAC/HKDF over it (WireGuard's HASH, MAC, HMAC and KDF), three ways:
//   native  - the weft_native addon (native/blake2s.cc): one call per MAC or per KDF;
//   openssl - Node's OpenSSL for HASH and HMAC (about 3.4 µs an HMAC, mostly the cost of
//             a hash object), noble for the keyed MAC (BLAKE2SMAC is not in node:crypto);
//   noble   - @noble/hashes only, for a Node built without BLAKE2s.
// The fastest available one is used; WEFT_NATIVE=0 (no addon) leaves openssl or noble.

export const BLAKE2S_LEN = 32;
export const BLAKE2S_MAC_LEN = 16;

export interface Blake2s {
  readonly name: 'native' | 'openssl' | 'noble';
  /** BLAKE2s-256 of parts[0] ‖ parts[1] ‖ … */
  hash(parts: readonly Uint8Array[]): Uint8Array;
  /** Keyed BLAKE2s (key ≤ 32 bytes), 16-byte output. */
  mac(key: Uint8Array, msg: Uint8Array): Uint8Array;
  /** RFC 2104 HMAC over BLAKE2s-256. */
  hmac(key: Uint8Array, msg: Uint8Array): Uint8Array;
  /** HKDF-Expand with n outputs: τ0 = HMAC(key, input), τi = HMAC(τ0, τi-1 ‖ i). */
  kdf(n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Uint8Array[];
}

const ONE = Uint8Array.of(1);

function kdfFromHmac(hmac: Blake2s['hmac'], n: 1 | 2 | 3, key: Uint8Array, input: Uint8Array): Uint8Array[] {
  const prk = hmac(key, input);
  const out: Uint8Array[] = [hmac(prk, ONE)];
  const buf = new Uint8Array(BLAKE2S_LEN + 1);
  for (let i = 1; i < n; i++) {
    buf.set(out[i - 1]);
    buf[BLAKE2S_LEN] = i + 1;
    out.push(hmac(prk, buf));
  }
  prk.fill(0);
  buf.fill(0);
  return out;
}

const nobleMac = (key: Uint8Array, msg: Uint8Array): Uint8Array => blake2s(msg, { key, dkLen: BLAKE2S_MAC_LEN });

const noble: Blake2s = {
  name: 'noble',
  hash(parts) {
    const h = blake2s.create({});
    for (const p of parts) h.update(p);
    return h.digest();
  },
  mac: nobleMac,
  hmac: (key, msg) => nobleHmac(blake2s, key, msg),
  kdf: (n, key, input) => kdfFromHmac(noble.hmac, n, key, input),
};

/** A Buffer seen as a plain Uint8Array over the same bytes (callers compare and copy views). */
const asBytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

const openssl: Blake2s | null = getHashes().includes('blake2s256')
  ? {
      name: 'openssl',
      hash(parts) {
        const h = createHash('blake2s256');
        for (const p of parts) h.update(p);
        return asBytes(h.digest());
      },
      mac: nobleMac,
      hmac: (key, msg) => asBytes(createHmac('blake2s256', key).update(msg).digest()),
      kdf: (n, key, input) => kdfFromHmac(openssl!.hmac, n, key, input),
    }
  : null;

function nativeImpl(n: WeftNative): Blake2s {
  return {
    name: 'native',
    hash(parts) {
      // The addon takes up to three parts; more (no caller yet) go through noble.
      if (parts.length > 3 || parts.length === 0) return noble.hash(parts);
      const out = new Uint8Array(BLAKE2S_LEN);
      n.blake2s(out, null, parts[0], parts[1], parts[2]);
      return out;
    },
    mac(key, msg) {
      const out = new Uint8Array(BLAKE2S_MAC_LEN);
      n.blake2s(out, key, msg);
      return out;
    },
    hmac(key, msg) {
      const out = new Uint8Array(BLAKE2S_LEN);
      n.hmacBlake2s(out, key, msg);
      return out;
    },
    kdf(count, key, input) {
      const out = new Uint8Array(count * BLAKE2S_LEN);
      n.hkdfBlake2s(out, key, input);
      const parts = [out.subarray(0, BLAKE2S_LEN)];
      for (let i = 1; i < count; i++) parts.push(out.subarray(i * BLAKE2S_LEN, (i + 1) * BLAKE2S_LEN));
      return parts;
    },
  };
}

function nativeOrNull(): Blake2s | null {
  try {
    const n = loadNative();
    return typeof n.hkdfBlake2s === 'function' ? nativeImpl(n) : null; // an addon built before blake2s.cc
  } catch {
    return null;
  }
}

/** Every implementation this process can use, fastest first (tests check them against each other). */
export function blake2sImpls(): Blake2s[] {
  return [nativeOrNull(), openssl, noble].filter((b): b is Blake2s => b !== null);
}

let chosen: Blake2s | undefined;

/** The fastest available implementation. */
export function blake2sImpl(): Blake2s {
  return (chosen ??= blake2sImpls()[0]);
}
