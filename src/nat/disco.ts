import { randomFillSync } from 'node:crypto';
import { xchachaOpen, xchachaSeal, XAEAD_NONCE_LEN, AEAD_TAG_LEN } from '../crypto/aead.js';
import { KEY_LEN, x25519, type PrivateKey } from '../crypto/keys.js';
import { ENDPOINT_BYTES, Endpoint } from '../io/endpoint.js';
import { hash } from '../wireguard/noise-helpers.js';
import { ReplayFilter } from '../wireguard/replay.js';

// Disco: the path-discovery probes agents send each other on the WireGuard port (and
// through relays), like Tailscale's disco protocol but keyed by the WireGuard keys.
//
//   magic "WFTdisc\x02" (8) | sender WG public key (32) | nonce (24) | box
//   box = XChaCha20-Poly1305(key, nonce, plaintext, ad = magic ‖ sender key)
//   key = HASH("weft-disco-v1" ‖ X25519(own private, peer public))   (BLAKE2s)
//
// Plaintext: type u8 | stamp u64 (big endian), then
//   1 Ping        txid (12)
//   2 Pong        txid (12) | observed source (18, endpoint bytes)
//   3 CallMeMaybe n × endpoint (18 each), n ≤ 32
//   4 Punch       attempt u8 | flags u8 (bit 0: ack, bit 1: endpoint-dependent NAT; the
//                 rest zero) | wait s u16 | port u16 (the sender's punch socket; 0 only
//                 with bit 1), through the relay only: the open-router schedule (open-punch.ts)
// stamp = the sender's Unix time in ms, made strictly increasing per sender (v2; v1 had
// none, so a captured ping could be replayed forever). A receiver accepts a stamp within
// DISCO_MAX_SKEW_MS of its own clock and at most once per peer (a replay window over the
// stamp, as WireGuard's over transport counters).
//
// The magic's first byte 'W' (0x57) has its top two bits 01, so the packet is never a
// STUN message, and is not a WireGuard type (1..4): the three never collide.

export const DISCO_MAGIC = Uint8Array.from([0x57, 0x46, 0x54, 0x64, 0x69, 0x73, 0x63, 0x02]);
const LABEL = new TextEncoder().encode('weft-disco-v1');
const HEADER = DISCO_MAGIC.length + KEY_LEN + XAEAD_NONCE_LEN;
export const TXID_LEN = 12;
export const MAX_CMM_ENDPOINTS = 32;
const STAMP_LEN = 8;
const PREFIX = 1 + STAMP_LEN;
const MAX_PLAINTEXT = PREFIX + MAX_CMM_ENDPOINTS * ENDPOINT_BYTES;
/** Punch bounds: attempts numbered below this, waits of 1..PUNCH_MAX_WAIT_S seconds. */
export const PUNCH_MAX_ATTEMPTS = 16;
export const PUNCH_MAX_WAIT_S = 600;
const PUNCH_LEN = 6;
/** How far a disco stamp may be from our clock (both ways); clocks need NTP-level sync. */
export const DISCO_MAX_SKEW_MS = 60_000;
/** Shared keys kept (one X25519 each); past it the least recently used one is evicted. */
export const DISCO_KEY_CACHE_SIZE = 4096;

export type DiscoBody =
  | { type: 'ping'; txid: Uint8Array }
  | { type: 'pong'; txid: Uint8Array; src: Endpoint }
  | { type: 'callMeMaybe'; endpoints: Endpoint[] }
  | { type: 'punch'; attempt: number; ack: boolean; waitS: number; port: number; hard: boolean };
/** A disco message as sealed: its body and the sender's stamp. */
export type DiscoMessage = DiscoBody & { stamp: number };

export function isDiscoPacket(pkt: Uint8Array): boolean {
  if (pkt.length < HEADER + AEAD_TAG_LEN + 1) return false;
  for (let i = 0; i < DISCO_MAGIC.length; i++) if (pkt[i] !== DISCO_MAGIC[i]) return false;
  return true;
}

/** The sender key of a disco packet (no authentication: check with openDisco). */
export function discoSender(pkt: Uint8Array): Uint8Array {
  return pkt.subarray(DISCO_MAGIC.length, DISCO_MAGIC.length + KEY_LEN);
}

/**
 * Shared-key cache: one X25519 per peer. LRU (a Map keeps insertion order; a hit moves
 * the key to the end), so a burst of new keys never throws away every peer's key at once.
 */
export class DiscoKeys {
  private readonly cache = new Map<string, Uint8Array | null>();
  constructor(private readonly priv: PrivateKey, readonly publicKey: Uint8Array, private readonly capacity = DISCO_KEY_CACHE_SIZE) {}

  get size(): number {
    return this.cache.size;
  }

  key(peer: Uint8Array): Uint8Array | null {
    const id = Buffer.from(peer).toString('base64');
    let k = this.cache.get(id);
    if (k === undefined) {
      const dh = x25519(this.priv, peer);
      k = dh ? hash(LABEL, dh) : null;
      if (this.cache.size >= this.capacity) this.cache.delete(this.cache.keys().next().value as string);
    } else this.cache.delete(id);
    this.cache.set(id, k);
    return k;
  }
}

/** Our stamps: Unix ms, but strictly increasing even within one ms or if the clock steps back. */
export class DiscoStamper {
  private last = 0;
  next(wallNow: number): number {
    this.last = Math.max(Math.floor(wallNow), this.last + 1);
    return this.last;
  }
}

/**
 * Per-peer freshness of received disco stamps: inside ±DISCO_MAX_SKEW_MS of our clock and
 * never seen before (a replay window, ~8 s of reordering). Call only for authenticated
 * messages of current peers, so the state is bounded by the peer set (`retain`).
 */
export class DiscoFreshness {
  private readonly windows = new Map<string, ReplayFilter>();

  accept(peer: string, stamp: number, wallNow: number): boolean {
    if (!Number.isSafeInteger(stamp) || Math.abs(stamp - wallNow) > DISCO_MAX_SKEW_MS) return false;
    let w = this.windows.get(peer);
    if (!w) this.windows.set(peer, (w = new ReplayFilter()));
    return w.validateNumber(stamp);
  }

  /** Forgets peers that are gone. */
  retain(peers: { has(peer: string): boolean }): void {
    for (const p of this.windows.keys()) if (!peers.has(p)) this.windows.delete(p);
  }
}

function plaintext(type: number, stamp: number, bodyLen: number): Uint8Array {
  const p = new Uint8Array(PREFIX + bodyLen);
  p[0] = type;
  new DataView(p.buffer).setBigUint64(1, BigInt(stamp));
  return p;
}

export function encodeDiscoPlaintext(m: DiscoMessage): Uint8Array {
  switch (m.type) {
    case 'ping': {
      const p = plaintext(1, m.stamp, TXID_LEN);
      p.set(m.txid.subarray(0, TXID_LEN), PREFIX);
      return p;
    }
    case 'pong': {
      const p = plaintext(2, m.stamp, TXID_LEN + ENDPOINT_BYTES);
      p.set(m.txid.subarray(0, TXID_LEN), PREFIX);
      p.set(m.src.bytes, PREFIX + TXID_LEN);
      return p;
    }
    case 'callMeMaybe': {
      const eps = m.endpoints.slice(0, MAX_CMM_ENDPOINTS);
      const p = plaintext(3, m.stamp, eps.length * ENDPOINT_BYTES);
      eps.forEach((e, i) => p.set(e.bytes, PREFIX + i * ENDPOINT_BYTES));
      return p;
    }
    case 'punch': {
      const p = plaintext(4, m.stamp, PUNCH_LEN);
      p[PREFIX] = m.attempt;
      p[PREFIX + 1] = (m.ack ? 1 : 0) | (m.hard ? 2 : 0);
      const v = new DataView(p.buffer);
      v.setUint16(PREFIX + 2, m.waitS);
      v.setUint16(PREFIX + 4, m.port);
      return p;
    }
  }
}

/** Parses a decrypted plaintext; null when malformed. Never throws. */
export function parseDiscoPlaintext(p: Uint8Array): DiscoMessage | null {
  if (p.length < PREFIX || p.length > MAX_PLAINTEXT) return null;
  const stamp = Number(new DataView(p.buffer, p.byteOffset, p.byteLength).getBigUint64(1));
  if (!Number.isSafeInteger(stamp)) return null;
  const body = p.length - PREFIX;
  switch (p[0]) {
    case 1:
      return body === TXID_LEN ? { type: 'ping', stamp, txid: p.slice(PREFIX) } : null;
    case 2:
      return body === TXID_LEN + ENDPOINT_BYTES ? { type: 'pong', stamp, txid: p.slice(PREFIX, PREFIX + TXID_LEN), src: Endpoint.fromBytes(p, PREFIX + TXID_LEN) } : null;
    case 3: {
      if (body % ENDPOINT_BYTES !== 0) return null;
      const endpoints: Endpoint[] = [];
      for (let o = PREFIX; o < p.length; o += ENDPOINT_BYTES) endpoints.push(Endpoint.fromBytes(p, o));
      return { type: 'callMeMaybe', stamp, endpoints };
    }
    case 4: {
      if (body !== PUNCH_LEN) return null;
      const attempt = p[PREFIX];
      const flags = p[PREFIX + 1];
      const waitS = (p[PREFIX + 2] << 8) | p[PREFIX + 3];
      const port = (p[PREFIX + 4] << 8) | p[PREFIX + 5];
      const hard = (flags & 2) !== 0;
      if (attempt >= PUNCH_MAX_ATTEMPTS || flags > 3 || waitS < 1 || waitS > PUNCH_MAX_WAIT_S || (port === 0 && !hard)) return null;
      return { type: 'punch', stamp, attempt, ack: (flags & 1) !== 0, waitS, port, hard };
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
