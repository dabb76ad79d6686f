import sodium from 'sodium-native';
import { InvalidKeyError } from '../errors.js';
import { nativeOptional } from '../io/native.js';

// Curve25519 keys (RFC 7748). Brands keep the three 32-byte kinds apart at compile time.
export type PrivateKey = Uint8Array & { readonly __brand: 'PrivateKey' };
export type PublicKey = Uint8Array & { readonly __brand: 'PublicKey' };
export type PresharedKey = Uint8Array & { readonly __brand: 'PresharedKey' };

export const KEY_LEN = 32;

function clamp(k: Uint8Array): void {
  k[0] &= 248;
  k[31] = (k[31] & 127) | 64;
}

function copyKey(b: Uint8Array): Uint8Array {
  if (!(b instanceof Uint8Array) || b.length !== KEY_LEN) throw new InvalidKeyError(`key must be ${KEY_LEN} bytes`);
  return Uint8Array.prototype.slice.call(b);
}

export function generatePrivateKey(): PrivateKey {
  const k = new Uint8Array(KEY_LEN);
  sodium.randombytes_buf(k);
  clamp(k);
  return k as PrivateKey;
}

/** One X25519 implementation: false when the result is all zeros (a low-order point). */
export interface X25519Impl {
  readonly name: 'openssl' | 'sodium';
  dh(out: Uint8Array, priv: Uint8Array, pub: Uint8Array): boolean;
}

const sodiumX25519: X25519Impl = {
  name: 'sodium',
  dh(out, priv, pub) {
    try {
      sodium.crypto_scalarmult(out, priv, pub);
    } catch {
      return false; // libsodium refuses a low-order point
    }
    return !isZeroKey(out);
  },
};

// OpenSSL's ladder, from the node binary through the addon (native/x25519.cc): 24 µs
// here against libsodium's 28, and the handshake worker's time is mostly X25519.
function opensslX25519(): X25519Impl | null {
  const dh = nativeOptional('x25519');
  return dh ? { name: 'openssl', dh } : null;
}

/** Every implementation this process can use, fastest first (tests check them against each other). */
export function x25519Impls(): X25519Impl[] {
  return [opensslX25519(), sodiumX25519].filter((i): i is X25519Impl => i !== null);
}

const impl = x25519Impls()[0];

/** libsodium's, whichever X25519 is used: its base-point table beats OpenSSL's ladder (11 against 17 µs). */
export function publicKeyFromPrivate(k: PrivateKey): PublicKey {
  const pub = new Uint8Array(KEY_LEN);
  sodium.crypto_scalarmult_base(pub, k);
  return pub as PublicKey;
}

/**
 * X25519(priv, pub). Returns null when the shared secret is all zero, i.e. `pub` is a
 * low-order point (libsodium reports that as an error), or when `pub` is not 32 bytes,
 * so callers parsing untrusted input never see an exception.
 */
export function x25519(priv: PrivateKey, pub: Uint8Array): Uint8Array | null {
  if (pub.length !== KEY_LEN || priv.length !== KEY_LEN) return null;
  const out = new Uint8Array(KEY_LEN);
  return impl.dh(out, priv, pub) ? out : null;
}

export function privateKeyFromBytes(b: Uint8Array): PrivateKey {
  const k = copyKey(b);
  clamp(k);
  return k as PrivateKey;
}

export function publicKeyFromBytes(b: Uint8Array): PublicKey {
  return copyKey(b) as PublicKey;
}

export function presharedKeyFromBytes(b: Uint8Array): PresharedKey {
  return copyKey(b) as PresharedKey;
}

export function keyToBase64(k: Uint8Array): string {
  return Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('base64');
}

// Strict: Node's decoder silently skips junk, so re-encode and compare to reject
// anything but the canonical 44-character form (wg(8) does the same).
export function keyFromBase64(s: string): Uint8Array {
  if (typeof s !== 'string' || s.length !== 44) throw new InvalidKeyError('base64 key must be 44 characters');
  const b = Buffer.from(s, 'base64');
  if (b.length !== KEY_LEN || b.toString('base64') !== s) throw new InvalidKeyError('invalid base64 key');
  return new Uint8Array(b);
}

export function keyToHex(k: Uint8Array): string {
  return Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString('hex');
}

export function keyFromHex(s: string): Uint8Array {
  if (typeof s !== 'string' || !/^[0-9a-fA-F]{64}$/.test(s)) throw new InvalidKeyError('hex key must be 64 hex digits');
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export function isZeroKey(k: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < k.length; i++) acc |= k[i];
  return acc === 0;
}
