import { createHmac, randomBytes } from 'node:crypto';
import { hash, hmac } from '../wireguard/noise-helpers.js';
import { equalBytes } from '../crypto/constant-time.js';
import { keyFromBase64, keyToBase64, x25519, type PrivateKey } from '../crypto/keys.js';

// Node requests prove possession of the node's WireGuard private key without a bearer
// token: both sides derive k = HASH("weft-node-auth-v1" || X25519(node, server)) and the
// node sends HMAC(k, method \n path \n ts \n nonce \n HASH(body) [\n v=V]). Only the holder of the
// node's private key (or the server's) can compute k. The timestamp bounds replay; the
// server also remembers MACs it saw inside the window. The random nonce makes two
// identical requests in the same second (a quick stream reconnect) distinct.
//
//   Authorization: Weft-Node key=<node public key b64>, ts=<unix seconds>, nonce=<16 b64 chars>[, v=<protocol>], mac=<b64>
//
// v7: `v` (the agent's protocol version) is signed, and the server answers under keys
// derived from k and the request's nonce (fresh per request): a MAC header on 2xx
// responses and a MAC on every map-stream frame in each direction (sealFrame).

export const NODE_AUTH_SCHEME = 'Weft-Node';
export const NODE_AUTH_MAX_SKEW_SECONDS = 120;
export const RESPONSE_MAC_HEADER = 'weft-response-mac';
export const FRAME_MAC_BYTES = 32;
const LABEL = new TextEncoder().encode('weft-node-auth-v1');
const enc = new TextEncoder();

export function nodeAuthKey(ownPrivate: PrivateKey, otherPublic: Uint8Array): Uint8Array | null {
  const dh = x25519(ownPrivate, otherPublic);
  return dh ? hash(LABEL, dh) : null;
}

function transcript(method: string, path: string, ts: number, nonce: string, body: Uint8Array, version: number | undefined): Uint8Array {
  const v = version === undefined ? '' : `\nv=${version}`;
  return enc.encode(`${method.toUpperCase()}\n${path}\n${ts}\n${nonce}\n${keyToBase64(hash(body))}${v}`);
}

export function signNodeRequest(
  key: Uint8Array,
  nodePublic: Uint8Array,
  method: string,
  path: string,
  body: Uint8Array,
  nowSeconds: number,
  opts: { nonce?: string; version?: number } = {},
): string {
  const nonce = opts.nonce ?? randomBytes(12).toString('base64');
  const mac = hmac(key, transcript(method, path, nowSeconds, nonce, body, opts.version));
  const v = opts.version === undefined ? '' : `, v=${opts.version}`;
  return `${NODE_AUTH_SCHEME} key=${keyToBase64(nodePublic)}, ts=${nowSeconds}, nonce=${nonce}${v}, mac=${keyToBase64(mac)}`;
}

export interface ParsedNodeAuth {
  publicKey: Uint8Array;
  ts: number;
  nonce: string;
  /** The signed protocol version (v7 agents); undefined for older agents. */
  version: number | undefined;
  mac: Uint8Array;
}

/** Parses the header; null when it is not a well-formed Weft-Node header. */
export function parseNodeAuth(header: string | undefined): ParsedNodeAuth | null {
  if (!header) return null;
  const m = /^Weft-Node key=([A-Za-z0-9+/]{43}=), ts=(\d{1,12}), nonce=([A-Za-z0-9+/]{16})(?:, v=(\d{1,4}))?, mac=([A-Za-z0-9+/]{43}=)$/.exec(header.trim());
  if (!m) return null;
  try {
    return { publicKey: keyFromBase64(m[1]), ts: Number(m[2]), nonce: m[3], version: m[4] === undefined ? undefined : Number(m[4]), mac: keyFromBase64(m[5]) };
  } catch {
    return null;
  }
}

/** Verifies a parsed header against the derived key; the caller checks skew and replay. */
export function verifyNodeRequest(key: Uint8Array, auth: ParsedNodeAuth, method: string, path: string, body: Uint8Array): boolean {
  return equalBytes(hmac(key, transcript(method, path, auth.ts, auth.nonce, body, auth.version)), auth.mac);
}

// HMAC-SHA256 (OpenSSL) for what the server sends back: full netmaps can be large.
const mac256 = (key: Uint8Array, ...parts: (Uint8Array | string)[]): Buffer => {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
};

/** The keys of one v7 exchange, bound to the request that opened it (its nonce). */
export interface SessionKeys {
  /** Server to node: response MACs and map-stream frames. */
  down: Uint8Array;
  /** Node to server: map-stream frames. */
  up: Uint8Array;
}

export function sessionKeys(k: Uint8Array, nonce: string): SessionKeys {
  return { down: mac256(k, 'weft-down-v1\n', nonce), up: mac256(k, 'weft-up-v1\n', nonce) };
}

/** The RESPONSE_MAC_HEADER value: binds status and body to the request. */
export function responseMac(keys: SessionKeys, status: number, body: string | Uint8Array): string {
  return mac256(keys.down, `response\n${status}\n`, body).toString('base64');
}

export function checkResponseMac(keys: SessionKeys, status: number, body: string | Uint8Array, header: string | null | undefined): boolean {
  if (typeof header !== 'string') return false;
  return equalBytes(Buffer.from(responseMac(keys, status, body), 'base64'), Buffer.from(header, 'base64'));
}

function counterBytes(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** A map-stream frame: MAC(key, counter || payload) || payload; counters start at 0 per direction. */
/** `payload`: the JSON text, or its UTF-8 bytes (one encoding shared by many streams). */
export function sealFrame(key: Uint8Array, counter: number, payload: string | Uint8Array): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  return Buffer.concat([mac256(key, counterBytes(counter), body), body]);
}

/** The payload of a sealed frame, or null when it was forged, replayed, reordered or cut. */
export function openFrame(key: Uint8Array, counter: number, frame: Uint8Array): string | null {
  if (frame.length < FRAME_MAC_BYTES) return null;
  const body = frame.subarray(FRAME_MAC_BYTES);
  if (!equalBytes(mac256(key, counterBytes(counter), body), frame.subarray(0, FRAME_MAC_BYTES))) return null;
  return Buffer.from(body).toString('utf8');
}
