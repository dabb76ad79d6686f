import { randomBytes } from 'node:crypto';
import { hash, hmac } from '../wireguard/noise-helpers.js';
import { equalBytes } from '../crypto/constant-time.js';
import { keyFromBase64, keyToBase64, x25519, type PrivateKey } from '../crypto/keys.js';

// Node requests prove possession of the node's WireGuard private key without a bearer
// token: both sides derive k = HASH("weft-node-auth-v1" || X25519(node, server)) and the
// node sends HMAC(k, method \n path \n ts \n nonce \n HASH(body)). Only the holder of the
// node's private key (or the server's) can compute k. The timestamp bounds replay; the
// server also remembers MACs it saw inside the window. The random nonce makes two
// identical requests in the same second (a quick stream reconnect) distinct.
//
//   Authorization: Weft-Node key=<node public key b64>, ts=<unix seconds>, nonce=<16 b64 chars>, mac=<b64>

export const NODE_AUTH_SCHEME = 'Weft-Node';
export const NODE_AUTH_MAX_SKEW_SECONDS = 120;
const LABEL = new TextEncoder().encode('weft-node-auth-v1');
const enc = new TextEncoder();

export function nodeAuthKey(ownPrivate: PrivateKey, otherPublic: Uint8Array): Uint8Array | null {
  const dh = x25519(ownPrivate, otherPublic);
  return dh ? hash(LABEL, dh) : null;
}

function transcript(method: string, path: string, ts: number, nonce: string, body: Uint8Array): Uint8Array {
  return enc.encode(`${method.toUpperCase()}\n${path}\n${ts}\n${nonce}\n${keyToBase64(hash(body))}`);
}

export function signNodeRequest(
  key: Uint8Array,
  nodePublic: Uint8Array,
  method: string,
  path: string,
  body: Uint8Array,
  nowSeconds: number,
  nonce = randomBytes(12).toString('base64'),
): string {
  const mac = hmac(key, transcript(method, path, nowSeconds, nonce, body));
  return `${NODE_AUTH_SCHEME} key=${keyToBase64(nodePublic)}, ts=${nowSeconds}, nonce=${nonce}, mac=${keyToBase64(mac)}`;
}

export interface ParsedNodeAuth {
  publicKey: Uint8Array;
  ts: number;
  nonce: string;
  mac: Uint8Array;
}

/** Parses the header; null when it is not a well-formed Weft-Node header. */
export function parseNodeAuth(header: string | undefined): ParsedNodeAuth | null {
  if (!header) return null;
  const m = /^Weft-Node key=([A-Za-z0-9+/]{43}=), ts=(\d{1,12}), nonce=([A-Za-z0-9+/]{16}), mac=([A-Za-z0-9+/]{43}=)$/.exec(header.trim());
  if (!m) return null;
  try {
    return { publicKey: keyFromBase64(m[1]), ts: Number(m[2]), nonce: m[3], mac: keyFromBase64(m[4]) };
  } catch {
    return null;
  }
}

/** Verifies a parsed header against the derived key; the caller checks skew and replay. */
export function verifyNodeRequest(key: Uint8Array, auth: ParsedNodeAuth, method: string, path: string, body: Uint8Array): boolean {
  return equalBytes(hmac(key, transcript(method, path, auth.ts, auth.nonce, body)), auth.mac);
}
