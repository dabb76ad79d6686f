import sodium from 'sodium-native';
import { loadNative } from '../io/native.js';
import { MESSAGE_PADDING_MULTIPLE } from '../wireguard/constants.js';
import { AEAD_TAG_LEN } from './aead.js';

// Batched sealing and opening of WireGuard transport messages. The native
// implementation (native/aead.cc, OpenSSL's ChaCha20/Poly1305 assembly from the node
// binary) does a whole batch per call; the sodium fallback loops in JS with the same
// semantics, for platforms where the addon or the primitives are missing. Neither
// allocates per packet. Protocol decisions (which key, which counter) stay with the caller.

export interface TransportAead {
  readonly name: 'native' | 'sodium';
  /**
   * Packet k (plaintext src[srcOffsets[k] .. +srcLengths[k]]) becomes a transport message
   * at dst[(dstFirst+k)*dstSlotSize]: 16-byte header (type 4, remoteIndex, counter+k),
   * the plaintext zero-padded to a multiple of 16 (capped at mtu), sealed, 16-byte tag.
   * dstLengths[dstFirst+k] receives the message length, or 0 when it would not fit a slot.
   */
  sealBatch(
    src: Uint8Array,
    srcOffsets: Uint32Array,
    srcLengths: Uint32Array,
    count: number,
    dst: Uint8Array,
    dstSlotSize: number,
    dstFirst: number,
    dstLengths: Uint32Array,
    key: Uint8Array,
    remoteIndex: number,
    counter: number,
    mtu: number,
  ): void;
  /**
   * Authenticates and decrypts in place each message buf[offsets[k] .. +lengths[k]]
   * (header included, >= 32 bytes) with the counter from its header; the plaintext lands
   * at offsets[k]+16. ok[k] is 1 for an authentic message, else 0. Returns how many were.
   */
  openBatch(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, key: Uint8Array, ok: Uint8Array): number;
}

const HEADER = 16;

/** Bytes of zero padding for a plaintext of `len` (wg-go calculatePaddingSize). */
export function paddingSize(len: number, mtu: number): number {
  if (len === 0) return 0;
  let last = len;
  if (mtu > 0 && last > mtu) last %= mtu;
  let padded = (last + MESSAGE_PADDING_MULTIPLE - 1) & ~(MESSAGE_PADDING_MULTIPLE - 1);
  if (mtu > 0 && padded > mtu) padded = mtu;
  return padded - last;
}

/** Length of a plaintext of `len` once padded (what the transport message seals). */
export function paddedLength(len: number, mtu: number): number {
  return len + paddingSize(len, mtu);
}

class SodiumTransportAead implements TransportAead {
  readonly name = 'sodium' as const;
  private readonly nonce = Buffer.alloc(12);

  sealBatch(
    src: Uint8Array, srcOffsets: Uint32Array, srcLengths: Uint32Array, count: number,
    dst: Uint8Array, dstSlotSize: number, dstFirst: number, dstLengths: Uint32Array,
    key: Uint8Array, remoteIndex: number, counter: number, mtu: number,
  ): void {
    const d = Buffer.from(dst.buffer, dst.byteOffset, dst.byteLength);
    for (let k = 0; k < count; k++) {
      const len = srcLengths[k];
      const padded = paddedLength(len, mtu);
      const base = (dstFirst + k) * dstSlotSize;
      if (HEADER + padded + AEAD_TAG_LEN > dstSlotSize) {
        dstLengths[dstFirst + k] = 0;
        continue;
      }
      const body = base + HEADER;
      d.set(src.subarray(srcOffsets[k], srcOffsets[k] + len), body);
      d.fill(0, body + len, body + padded);
      const c = counter + k;
      const lo = c % 0x1_0000_0000;
      const hi = Math.floor(c / 0x1_0000_0000);
      d.writeUInt32LE(4, base);
      d.writeUInt32LE(remoteIndex >>> 0, base + 4);
      d.writeUInt32LE(lo, base + 8);
      d.writeUInt32LE(hi, base + 12);
      this.nonce.writeUInt32LE(lo, 4);
      this.nonce.writeUInt32LE(hi, 8);
      const pt = d.subarray(body, body + padded);
      sodium.crypto_aead_chacha20poly1305_ietf_encrypt(d.subarray(body, body + padded + AEAD_TAG_LEN), pt, null, null, this.nonce, key);
      dstLengths[dstFirst + k] = HEADER + padded + AEAD_TAG_LEN;
    }
  }

  openBatch(buf: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number, key: Uint8Array, ok: Uint8Array): number {
    let good = 0;
    for (let k = 0; k < count; k++) {
      const off = offsets[k];
      const len = lengths[k];
      ok[k] = 0;
      if (len < HEADER + AEAD_TAG_LEN || off + len > buf.length) continue;
      this.nonce.set(buf.subarray(off + 8, off + 16), 4);
      try {
        sodium.crypto_aead_chacha20poly1305_ietf_decrypt(buf.subarray(off + HEADER, off + len - AEAD_TAG_LEN), null, buf.subarray(off + HEADER, off + len), null, this.nonce, key);
        ok[k] = 1;
        good++;
      } catch {
        // not authentic
      }
    }
    return good;
  }
}

let chosen: TransportAead | undefined;

/** The sodium (per-packet, JS loop) implementation; always available. */
export const sodiumTransportAead: TransportAead = new SodiumTransportAead();

/** The native batch implementation, or null when the addon or its primitives are unavailable. */
export function nativeTransportAead(): TransportAead | null {
  try {
    const n = loadNative();
    if (!n.aeadAvailable) return null;
    return {
      name: 'native',
      sealBatch: n.sealBatch,
      openBatch: n.openBatch,
    };
  } catch {
    return null;
  }
}

/** The fastest available implementation (WEFT_AEAD=sodium forces the fallback). */
export function transportAead(): TransportAead {
  if (chosen) return chosen;
  chosen = (process.env.WEFT_AEAD !== 'sodium' && nativeTransportAead()) || sodiumTransportAead;
  return chosen;
}
