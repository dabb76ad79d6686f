import sodium from 'sodium-native';
import { KEY_LEN, type PrivateKey } from '../crypto/keys.js';

// Signatures by a node's own X25519 (WireGuard) key, for peer records that third
// parties must be able to check. The project signs with Ed25519 (revocations,
// revocation.ts), but a node has no Ed25519 key of its own: admin keys are separate,
// and the trust set names nodes by their X25519 key only. So records are signed the
// XEdDSA way (Signal's spec, the one made for signing with an X25519 key): the X25519
// private scalar a is used as an Ed25519 scalar, negated if needed so the Edwards
// public key A = aB has sign bit 0, and A is what the Montgomery u coordinate maps to
// (y = (u−1)/(u+1)) with sign 0. The signature is a plain Ed25519 signature under A,
// checked by libsodium's crypto_sign_verify_detached (which rejects small-order keys
// and non-canonical encodings). The nonce is derived from a and the message (as in
// RFC 8032, by sodium-native's scalar signer), not XEdDSA's added randomness: the same
// record signed twice gives the same signature, and nothing else changes.
// Signatures are domain-separated by a label in the signed bytes (records.ts), so a
// record signature can never be mistaken for anything else this key does (X25519 DH
// in WireGuard and the gossip/DHT sealing uses no signatures at all).

export const SIGNATURE_LEN = 64;
const P = 2n ** 255n - 19n;

export interface SigningKey {
  /** The Ed25519 scalar (reduced, sign-adjusted) and its public key A. */
  scalar: Uint8Array;
  edPublic: Uint8Array;
}

export function signingKeyFromX25519(priv: PrivateKey): SigningKey {
  const wide = new Uint8Array(64);
  wide.set(priv);
  // X25519 clamps; the stored WireGuard key already is, but do it for any input.
  wide[0] &= 248;
  wide[31] = (wide[31] & 127) | 64;
  const scalar = new Uint8Array(32);
  sodium.crypto_core_ed25519_scalar_reduce(scalar, wide);
  const edPublic = new Uint8Array(32);
  sodium.crypto_scalarmult_ed25519_base_noclamp(edPublic, scalar);
  if (edPublic[31] & 0x80) {
    sodium.crypto_core_ed25519_scalar_negate(scalar, scalar);
    edPublic[31] &= 0x7f;
  }
  sodium.sodium_memzero(wide);
  return { scalar, edPublic };
}

export function sign(key: SigningKey, message: Uint8Array): Uint8Array {
  const sig = new Uint8Array(SIGNATURE_LEN);
  sodium.extension_tweak_ed25519_sign_detached(sig, message, key.scalar, key.edPublic);
  return sig;
}

function toBigLE(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]);
  return n;
}

function modPow(b: bigint, e: bigint): bigint {
  let r = 1n;
  for (b %= P; e > 0n; e >>= 1n, b = (b * b) % P) if (e & 1n) r = (r * b) % P;
  return r;
}

/** The Edwards key (sign 0) of an X25519 public key; null for u = −1 (no such point). Public data: no constant time needed. */
export function edwardsFromX25519(u: Uint8Array): Uint8Array | null {
  if (u.length !== KEY_LEN) return null;
  const x = toBigLE(u) & ((1n << 255n) - 1n);
  const den = (x + 1n) % P;
  if (den === 0n) return null;
  let y = (((x - 1n + P) % P) * modPow(den, P - 2n)) % P;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, y >>= 8n) out[i] = Number(y & 0xffn);
  return out;
}

/** True when `signature` over `message` is by the holder of X25519 key `publicKey`. Never throws. */
export function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_LEN) return false;
  const ed = edwardsFromX25519(publicKey);
  if (!ed) return false;
  try {
    return sodium.crypto_sign_verify_detached(signature, message, ed);
  } catch {
    return false;
  }
}
