import { randomFillSync } from 'node:crypto';
import { xchachaOpen, xchachaSeal, XAEAD_NONCE_LEN, AEAD_TAG_LEN } from '../crypto/aead.js';
import { KEY_LEN, x25519, type PrivateKey } from '../crypto/keys.js';
import { ENDPOINT_BYTES, Endpoint } from '../io/endpoint.js';
import { hash } from '../wireguard/noise-helpers.js';

// Disco: the path-discovery probes agents send each other on the WireGuard port (and
// through relays), like Tailscale's disco protocol but keyed by the WireGuard keys.
//
//   magic "WFTdisc\x01" (8) | sender WG public key (32) | nonce (24) | box
//   box = XChaCha20-Poly1305(key, nonce, plaintext, ad = magic ‖ sender key)
//   key = HASH("weft-disco-v1" ‖ X25519(own private, peer public))   (BLAKE2s)
//
// Plaintext: type u8, then
//   1 Ping        txid (12)
//   2 Pong        txid (12) | observed source (18, endpoint bytes)
//   3 CallMeMaybe n × endpoint (18 each), n ≤ 32
//
// The magic's first byte 'W' (0x57) has its top two bits 01, so the packet is never a
// STUN message, and is not a WireGuard type (1..4): the three never collide.

export const DISCO_MAGIC = Uint8Array.from([0x57, 0x46, 0x54, 0x64, 0x69, 0x73, 0x63, 0x01]);
const LABEL = new TextEncoder().encode('weft-disco-v1');
const HEADER = DISCO_MAGIC.length + KEY_LEN + XAEAD_NONCE_LEN;
export const TXID_LEN = 12;
export const MAX_CMM_ENDPOINTS = 32;
const MAX_PLAINTEXT = 1 + MAX_CMM_ENDPOINTS * ENDPOINT_BYTES;

export type DiscoMessage =
  | { type: 'ping'; txid: Uint8Array }
  | { type: 'pong'; txid: Uint8Array; src: Endpoint }
  | { type: 'callMeMaybe'; endpoints: Endpoint[] };

export function isDiscoPacket(pkt: Uint8Array): boolean {
  if (pkt.length < HEADER + AEAD_TAG_LEN + 1) return false;
  for (let i = 0; i < DISCO_MAGIC.length; i++) if (pkt[i] !== DISCO_MAGIC[i]) return false;
  return true;
}

/** The sender key of a disco packet (no authentication: check with openDisco). */
export function discoSender(pkt: Uint8Array): Uint8Array {
  return pkt.subarray(DISCO_MAGIC.length, DISCO_MAGIC.length + KEY_LEN);
}

/** Shared-key cache: one X25519 per peer. */
export class DiscoKeys {
  private readonly cache = new Map<string, Uint8Array | null>();
  constructor(private readonly priv: PrivateKey, readonly publicKey: Uint8Array) {}

  key(peer: Uint8Array): Uint8Array | null {
    const id = Buffer.from(peer).toString('base64');
    let k = this.cache.get(id);
    if (k === undefined) {
      const dh = x25519(this.priv, peer);
      k = dh ? hash(LABEL, dh) : null;
      if (this.cache.size > 4096) this.cache.clear();
      this.cache.set(id, k);
    }
    return k;
  }
}

export function encodeDiscoPlaintext(m: DiscoMessage): Uint8Array {
  switch (m.type) {
    case 'ping': {
      const p = new Uint8Array(1 + TXID_LEN);
      p[0] = 1;
      p.set(m.txid.subarray(0, TXID_LEN), 1);
      return p;
    }
    case 'pong': {
      const p = new Uint8Array(1 + TXID_LEN + ENDPOINT_BYTES);
      p[0] = 2;
      p.set(m.txid.subarray(0, TXID_LEN), 1);
      p.set(m.src.bytes, 1 + TXID_LEN);
      return p;
    }
    case 'callMeMaybe': {
      const eps = m.endpoints.slice(0, MAX_CMM_ENDPOINTS);
      const p = new Uint8Array(1 + eps.length * ENDPOINT_BYTES);
      p[0] = 3;
      eps.forEach((e, i) => p.set(e.bytes, 1 + i * ENDPOINT_BYTES));
      return p;
    }
  }
}

/** Parses a decrypted plaintext; null when malformed. Never throws. */
export function parseDiscoPlaintext(p: Uint8Array): DiscoMessage | null {
  if (p.length < 1 || p.length > MAX_PLAINTEXT) return null;
  switch (p[0]) {
    case 1:
      return p.length === 1 + TXID_LEN ? { type: 'ping', txid: p.slice(1) } : null;
    case 2:
      return p.length === 1 + TXID_LEN + ENDPOINT_BYTES ? { type: 'pong', txid: p.slice(1, 1 + TXID_LEN), src: Endpoint.fromBytes(p, 1 + TXID_LEN) } : null;
    case 3: {
      if ((p.length - 1) % ENDPOINT_BYTES !== 0) return null;
      const endpoints: Endpoint[] = [];
      for (let o = 1; o < p.length; o += ENDPOINT_BYTES) endpoints.push(Endpoint.fromBytes(p, o));
      return { type: 'callMeMaybe', endpoints };
    }
    default:
      return null;
  }
}

export function sealDisco(keys: DiscoKeys, peer: Uint8Array, m: DiscoMessage, nonce?: Uint8Array): Uint8Array | null {
  const k = keys.key(peer);
  if (!k) return null;
  const n = nonce ?? randomFillSync(new Uint8Array(XAEAD_NONCE_LEN));
  const ad = new Uint8Array(DISCO_MAGIC.length + KEY_LEN);
  ad.set(DISCO_MAGIC);
  ad.set(keys.publicKey, DISCO_MAGIC.length);
  const box = xchachaSeal(k, n, encodeDiscoPlaintext(m), ad);
  const out = new Uint8Array(HEADER + box.length);
  out.set(ad);
  out.set(n, ad.length);
  out.set(box, HEADER);
  return out;
}

/** Authenticates and parses a disco packet; null for anything malformed or forged. Never throws. */
export function openDisco(keys: DiscoKeys, pkt: Uint8Array): { sender: Uint8Array; msg: DiscoMessage } | null {
  if (!isDiscoPacket(pkt) || pkt.length > HEADER + MAX_PLAINTEXT + AEAD_TAG_LEN) return null;
  const sender = Uint8Array.prototype.slice.call(discoSender(pkt)) as Uint8Array;
  const k = keys.key(sender);
  if (!k) return null;
  const plain = xchachaOpen(k, pkt.subarray(DISCO_MAGIC.length + KEY_LEN, HEADER), pkt.subarray(HEADER), pkt.subarray(0, DISCO_MAGIC.length + KEY_LEN));
  if (!plain) return null;
  const msg = parseDiscoPlaintext(plain);
  return msg ? { sender, msg } : null;
}
