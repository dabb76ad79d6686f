// Minimal typings for the parts of sodium-native that Weft uses (the package ships none).
// Functions throw on a failing libsodium status (e.g. AEAD authentication, zero DH).
declare module 'sodium-native' {
  type Bytes = Uint8Array;
  export function randombytes_buf(buf: Bytes): void;
  export function crypto_scalarmult_base(q: Bytes, n: Bytes): void;
  export function crypto_scalarmult(q: Bytes, n: Bytes, p: Bytes): void;
  export function crypto_aead_chacha20poly1305_ietf_encrypt(c: Bytes, m: Bytes, ad: Bytes | null, nsec: null, npub: Bytes, k: Bytes): number;
  export function crypto_aead_chacha20poly1305_ietf_decrypt(m: Bytes, nsec: null, c: Bytes, ad: Bytes | null, npub: Bytes, k: Bytes): number;
  export function crypto_aead_xchacha20poly1305_ietf_encrypt(c: Bytes, m: Bytes, ad: Bytes | null, nsec: null, npub: Bytes, k: Bytes): number;
  export function crypto_aead_xchacha20poly1305_ietf_decrypt(m: Bytes, nsec: null, c: Bytes, ad: Bytes | null, npub: Bytes, k: Bytes): number;
  export function sodium_memzero(buf: Bytes): void;
  export function crypto_sign_seed_keypair(pk: Bytes, sk: Bytes, seed: Bytes): void;
  export function crypto_sign_detached(sig: Bytes, m: Bytes, sk: Bytes): void;
  export function crypto_sign_verify_detached(sig: Bytes, m: Bytes, pk: Bytes): boolean;
  // XEdDSA-style signing with an X25519 key (src/dht/sign.ts).
  export function crypto_core_ed25519_scalar_reduce(out: Bytes, s: Bytes): void;
  export function crypto_core_ed25519_scalar_negate(out: Bytes, s: Bytes): void;
  export function crypto_scalarmult_ed25519_base_noclamp(q: Bytes, n: Bytes): void;
  export function extension_tweak_ed25519_sign_detached(sig: Bytes, m: Bytes, scalar: Bytes, pk?: Bytes): void;
}
