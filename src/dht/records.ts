import { KEY_LEN } from '../crypto/keys.js';
import { ENDPOINT_BYTES, Endpoint } from '../io/endpoint.js';
import { keyId } from '../serverless/trust.js';
import { SIGNATURE_LEN, sign, verify, type SigningKey } from './sign.js';

// Signed peer records: "node K is reachable at these endpoints (and through these
// relays) until T", with a sequence number the node raises whenever the content
// changes. Stored in the DHT under id(K) (id.ts). Anyone can serve a record, so a
// record is used only after three checks, cheapest first: K is in our trust set (a map
// lookup), it has not expired and does not claim to live longer than MAX_RECORD_TTL_MS,
// and its signature by K verifies (sign.ts). Between two valid records of one node the
// higher sequence wins (store.ts), so an old record replayed by a DHT node cannot
// undo a newer one.
//
// Encoding (big endian):
//   version u8 (1) | node key (32) | seq u64 | expiresAt u64 (Unix ms)
//   | nEndpoints u8 | nEndpoints × endpoint (18) | nRelays u8 | nRelays × endpoint (18)
//   | signature (64) over "weft-dht-record-v1" ‖ everything before it

export const RECORD_VERSION = 1;
export const MAX_RECORD_ENDPOINTS = 8;
export const MAX_RECORD_RELAYS = 4;
/** A record may not claim to stay valid longer than this past our clock. */
export const MAX_RECORD_TTL_MS = 60 * 60_000;
/** Clocks disagree: a record's expiry may overshoot the TTL by this much. */
const CLOCK_SKEW_MS = 60_000;
const LABEL = new TextEncoder().encode('weft-dht-record-v1');
const FIXED = 1 + KEY_LEN + 8 + 8 + 1 + 1;
export const MAX_RECORD_BYTES = FIXED + (MAX_RECORD_ENDPOINTS + MAX_RECORD_RELAYS) * ENDPOINT_BYTES + SIGNATURE_LEN;

export interface PeerRecord {
  /** The node's X25519 public key. */
  key: Uint8Array;
  seq: number;
  /** Unix ms. */
  expiresAt: number;
  endpoints: Endpoint[];
  relays: Endpoint[];
  signature: Uint8Array;
}

export type RecordFields = Omit<PeerRecord, 'signature' | 'key'>;

export type RecordCheck = 'ok' | 'untrusted' | 'expired' | 'too-long' | 'bad-signature';

function body(key: Uint8Array, f: RecordFields): Uint8Array {
  const eps = f.endpoints.slice(0, MAX_RECORD_ENDPOINTS);
  const relays = f.relays.slice(0, MAX_RECORD_RELAYS);
  const out = new Uint8Array(FIXED + (eps.length + relays.length) * ENDPOINT_BYTES);
  const dv = new DataView(out.buffer);
  out[0] = RECORD_VERSION;
  out.set(key, 1);
  dv.setBigUint64(1 + KEY_LEN, BigInt(f.seq));
  dv.setBigUint64(9 + KEY_LEN, BigInt(f.expiresAt));
  let o = 17 + KEY_LEN;
  for (const list of [eps, relays]) {
    out[o++] = list.length;
    for (const e of list) {
      out.set(e.bytes, o);
      o += ENDPOINT_BYTES;
    }
  }
  return out;
}

function signedBytes(b: Uint8Array): Uint8Array {
  const m = new Uint8Array(LABEL.length + b.length);
  m.set(LABEL);
  m.set(b, LABEL.length);
  return m;
}

export function signRecord(key: SigningKey, publicKey: Uint8Array, f: RecordFields): PeerRecord {
  const b = body(publicKey, f);
  return { key: publicKey.slice(), seq: f.seq, expiresAt: f.expiresAt, endpoints: f.endpoints.slice(0, MAX_RECORD_ENDPOINTS), relays: f.relays.slice(0, MAX_RECORD_RELAYS), signature: sign(key, signedBytes(b)) };
}

export function encodeRecord(r: PeerRecord): Uint8Array {
  const b = body(r.key, r);
  const out = new Uint8Array(b.length + SIGNATURE_LEN);
  out.set(b);
  out.set(r.signature, b.length);
  return out;
}

/** Parses an encoded record (exact length); null when malformed. Never throws; checks nothing. */
export function decodeRecord(b: Uint8Array): PeerRecord | null {
  if (b.length < FIXED + SIGNATURE_LEN || b.length > MAX_RECORD_BYTES || b[0] !== RECORD_VERSION) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const seq = Number(dv.getBigUint64(1 + KEY_LEN));
  const expiresAt = Number(dv.getBigUint64(9 + KEY_LEN));
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(expiresAt)) return null;
  let o = 17 + KEY_LEN;
  const lists: Endpoint[][] = [];
  for (const max of [MAX_RECORD_ENDPOINTS, MAX_RECORD_RELAYS]) {
    const n = b[o++];
    if (n === undefined || n > max || o + n * ENDPOINT_BYTES > b.length) return null;
    const list: Endpoint[] = [];
    for (let i = 0; i < n; i++, o += ENDPOINT_BYTES) list.push(Endpoint.fromBytes(b, o));
    lists.push(list);
  }
  if (o + SIGNATURE_LEN !== b.length) return null;
  return { key: b.slice(1, 1 + KEY_LEN), seq, expiresAt, endpoints: lists[0], relays: lists[1], signature: b.slice(o) };
}

/** The checks before a record is stored, served or used; cheapest first (the signature last). */
export function checkRecord(r: PeerRecord, trusted: (id: string) => boolean, wallNow: number): RecordCheck {
  if (!trusted(keyId(r.key))) return 'untrusted';
  if (r.expiresAt <= wallNow) return 'expired';
  if (r.expiresAt > wallNow + MAX_RECORD_TTL_MS + CLOCK_SKEW_MS) return 'too-long';
  return verify(r.key, signedBytes(body(r.key, r)), r.signature) ? 'ok' : 'bad-signature';
}
