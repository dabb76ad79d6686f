import sodium from 'sodium-native';
import { InvalidArgumentError } from '../errors.js';

// ChaCha20-Poly1305 (RFC 8439) for handshake and transport messages, XChaCha20-Poly1305
// for cookie replies. libsodium handles `out` aliasing the input at the same offset,
// which the data plane relies on to encrypt packets in place.
export const AEAD_TAG_LEN = 16;
export const AEAD_KEY_LEN = 32;
export const AEAD_NONCE_LEN = 12;
export const XAEAD_NONCE_LEN = 24;

/** WireGuard's nonce: 4 zero bytes then the 64-bit counter little-endian. */
export function writeNonce(nonce12: Uint8Array, counter: bigint): void {
  nonce12[0] = nonce12[1] = nonce12[2] = nonce12[3] = 0;
  new DataView(nonce12.buffer, nonce12.byteOffset, 12).setBigUint64(4, counter, true);
}

export function chachaSeal(out: Uint8Array, key: Uint8Array, nonce12: Uint8Array, plaintext: Uint8Array, ad?: Uint8Array): void {
  if (out.length !== plaintext.length + AEAD_TAG_LEN) throw new InvalidArgumentError('chachaSeal: out must be plaintext + 16 bytes');
  if (key.length !== AEAD_KEY_LEN || nonce12.length !== AEAD_NONCE_LEN) throw new InvalidArgumentError('chachaSeal: bad key or nonce length');
  sodium.crypto_aead_chacha20poly1305_ietf_encrypt(out, plaintext, ad ?? null, null, nonce12, key);
}

/** Returns false on authentication failure or malformed arguments; never throws. */
export function chachaOpen(out: Uint8Array, key: Uint8Array, nonce12: Uint8Array, ciphertext: Uint8Array, ad?: Uint8Array): boolean {
  if (ciphertext.length < AEAD_TAG_LEN || out.length !== ciphertext.length - AEAD_TAG_LEN) return false;
  if (key.length !== AEAD_KEY_LEN || nonce12.length !== AEAD_NONCE_LEN) return false;
  try {
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, ciphertext, ad ?? null, nonce12, key);
    return true;
  } catch {
    return false;
  }
}

export function xchachaSeal(key: Uint8Array, nonce24: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  if (key.length !== AEAD_KEY_LEN || nonce24.length !== XAEAD_NONCE_LEN) throw new InvalidArgumentError('xchachaSeal: bad key or nonce length');
  const out = new Uint8Array(plaintext.length + AEAD_TAG_LEN);
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out, plaintext, ad, null, nonce24, key);
  return out;
}

export function xchachaOpen(key: Uint8Array, nonce24: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array): Uint8Array | null {
  if (ciphertext.length < AEAD_TAG_LEN || key.length !== AEAD_KEY_LEN || nonce24.length !== XAEAD_NONCE_LEN) return null;
  const out = new Uint8Array(ciphertext.length - AEAD_TAG_LEN);
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(out, null, ciphertext, ad, nonce24, key);
    return out;
  } catch {
    return null;
  }
}
