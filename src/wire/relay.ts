import { equalBytes } from '../crypto/constant-time.js';
import { KEY_LEN, x25519, type PrivateKey } from '../crypto/keys.js';
import { hash, hmac } from '../wireguard/noise-helpers.js';

// Weft relay protocol (DERP-like) over WebSocket: one binary WebSocket message carries one
// frame, so WebSocket does the length framing and a frame is just
//
//   type u8 | body
//
// Handshake (server speaks first):
//   S->C ServerHello  0x01  magic "WEFTRLY1" (8) | server X25519 public key (32) | challenge (32)
//   C->S ClientAuth   0x02  client public key (32) | proof (32)
//   S->C ServerInfo   0x03  version u8 | max packet u32 | keepalive ms u32
// proof = HMAC-BLAKE2s(k, "weft-relay-proof-v1" | challenge | server key | client key) with
// k = HASH("weft-relay-auth-v1" | X25519(client private, server public)); the server derives
// the same k from its private key and the client's public key. Only the holder of the
// client's WireGuard private key can answer a fresh challenge. A wrong proof, a timeout or
// any other first frame closes the connection with CLOSE_AUTH_FAILED.
//
// Data (after ServerInfo):
//   C->S SendPacket   0x04  destination key (32) | packet
//   S->C RecvPacket   0x05  source key (32) | packet
//   S->C PeerGone     0x06  key (32) | reason u8 (0 = disconnected, 1 = not connected here)
//   both KeepAlive    0x07  (empty)
//   both Ping         0x08  data (8)   — answered by Pong with the same data
//   both Pong         0x09  data (8)
//   S->C Health       0x0a  UTF-8 problem text (empty = healthy again)
// Packets are opaque to the relay (WireGuard ciphertext and path-discovery messages).

export const RELAY_PROTOCOL_VERSION = 1;
export const RELAY_SUBPROTOCOL = 'weft-relay-v1';
export const RELAY_DEFAULT_PATH = '/relay';
export const MAX_PACKET_SIZE = 64 * 1024;
export const MAX_FRAME_SIZE = 1 + KEY_LEN + MAX_PACKET_SIZE;
export const PING_DATA_LEN = 8;
export const CHALLENGE_LEN = 32;
export const PROOF_LEN = 32;

/** WebSocket close codes the relay uses (4000-4999 is the application range). */
export const CLOSE_AUTH_FAILED = 4001;
export const CLOSE_REPLACED = 4002;
/** The key's admission was withdrawn (its node was deleted or expired). */
export const CLOSE_REVOKED = 4003;

export const FRAME = {
  SERVER_HELLO: 0x01,
  CLIENT_AUTH: 0x02,
  SERVER_INFO: 0x03,
  SEND_PACKET: 0x04,
  RECV_PACKET: 0x05,
  PEER_GONE: 0x06,
  KEEPALIVE: 0x07,
  PING: 0x08,
  PONG: 0x09,
  HEALTH: 0x0a,
} as const;

export const PEER_GONE_DISCONNECTED = 0;
export const PEER_GONE_NOT_HERE = 1;
export type PeerGoneReason = typeof PEER_GONE_DISCONNECTED | typeof PEER_GONE_NOT_HERE;

const MAGIC = new TextEncoder().encode('WEFTRLY1');
const AUTH_LABEL = new TextEncoder().encode('weft-relay-auth-v1');
const PROOF_LABEL = new TextEncoder().encode('weft-relay-proof-v1');

export type Frame =
  | { type: 'serverHello'; serverKey: Uint8Array; challenge: Uint8Array }
  | { type: 'clientAuth'; clientKey: Uint8Array; proof: Uint8Array }
  | { type: 'serverInfo'; version: number; maxPacket: number; keepaliveMs: number }
  | { type: 'sendPacket'; key: Uint8Array; packet: Uint8Array }
  | { type: 'recvPacket'; key: Uint8Array; packet: Uint8Array }
  | { type: 'peerGone'; key: Uint8Array; reason: PeerGoneReason }
  | { type: 'keepalive' }
  | { type: 'ping'; data: Uint8Array }
  | { type: 'pong'; data: Uint8Array }
  | { type: 'health'; problem: string };

const u32 = (b: Uint8Array, o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const frame = (type: number, ...parts: Uint8Array[]): Uint8Array => concat(Uint8Array.of(type), ...parts);

/** Serialises a frame; the caller keeps keys at 32 bytes and packets within MAX_PACKET_SIZE. */
export function encodeFrame(f: Frame): Uint8Array {
  switch (f.type) {
    case 'serverHello':
      return frame(FRAME.SERVER_HELLO, MAGIC, f.serverKey, f.challenge);
    case 'clientAuth':
      return frame(FRAME.CLIENT_AUTH, f.clientKey, f.proof);
    case 'serverInfo': {
      const b = new Uint8Array(9);
      b[0] = f.version;
      putU32(b, 1, f.maxPacket);
      putU32(b, 5, f.keepaliveMs);
      return frame(FRAME.SERVER_INFO, b);
    }
    case 'sendPacket':
      return frame(FRAME.SEND_PACKET, f.key, f.packet);
    case 'recvPacket':
      return frame(FRAME.RECV_PACKET, f.key, f.packet);
    case 'peerGone':
      return frame(FRAME.PEER_GONE, f.key, Uint8Array.of(f.reason));
    case 'keepalive':
      return frame(FRAME.KEEPALIVE);
    case 'ping':
      return frame(FRAME.PING, f.data);
    case 'pong':
      return frame(FRAME.PONG, f.data);
    case 'health':
      return frame(FRAME.HEALTH, new TextEncoder().encode(f.problem));
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Parses one frame; null (never a throw) for anything malformed. Views alias `buf`. */
export function parseFrame(buf: Uint8Array): Frame | null {
  if (buf.length < 1 || buf.length > MAX_FRAME_SIZE) return null;
  const body = buf.subarray(1);
  switch (buf[0]) {
    case FRAME.SERVER_HELLO:
      if (body.length !== MAGIC.length + KEY_LEN + CHALLENGE_LEN || !equalBytes(body.subarray(0, MAGIC.length), MAGIC)) return null;
      return { type: 'serverHello', serverKey: body.subarray(8, 8 + KEY_LEN), challenge: body.subarray(8 + KEY_LEN) };
    case FRAME.CLIENT_AUTH:
      if (body.length !== KEY_LEN + PROOF_LEN) return null;
      return { type: 'clientAuth', clientKey: body.subarray(0, KEY_LEN), proof: body.subarray(KEY_LEN) };
    case FRAME.SERVER_INFO:
      if (body.length !== 9) return null;
      return { type: 'serverInfo', version: body[0], maxPacket: u32(body, 1), keepaliveMs: u32(body, 5) };
    case FRAME.SEND_PACKET:
    case FRAME.RECV_PACKET:
      if (body.length < KEY_LEN) return null;
      return { type: buf[0] === FRAME.SEND_PACKET ? 'sendPacket' : 'recvPacket', key: body.subarray(0, KEY_LEN), packet: body.subarray(KEY_LEN) };
    case FRAME.PEER_GONE:
      if (body.length !== KEY_LEN + 1 || body[KEY_LEN] > PEER_GONE_NOT_HERE) return null;
      return { type: 'peerGone', key: body.subarray(0, KEY_LEN), reason: body[KEY_LEN] as PeerGoneReason };
    case FRAME.KEEPALIVE:
      return body.length === 0 ? { type: 'keepalive' } : null;
    case FRAME.PING:
    case FRAME.PONG:
      if (body.length !== PING_DATA_LEN) return null;
      return { type: buf[0] === FRAME.PING ? 'ping' : 'pong', data: body };
    case FRAME.HEALTH:
      return body.length <= 1024 ? { type: 'health', problem: utf8.decode(body) } : null;
    default:
      return null;
  }
}

/** The proof key shared by a client and the relay; null for a low-order public key. */
export function relayAuthKey(ownPrivate: PrivateKey, otherPublic: Uint8Array): Uint8Array | null {
  const dh = x25519(ownPrivate, otherPublic);
  return dh ? hash(AUTH_LABEL, dh) : null;
}

export function relayProof(key: Uint8Array, challenge: Uint8Array, serverKey: Uint8Array, clientKey: Uint8Array): Uint8Array {
  return hmac(key, concat(PROOF_LABEL, challenge, serverKey, clientKey));
}

export function verifyRelayProof(key: Uint8Array, challenge: Uint8Array, serverKey: Uint8Array, clientKey: Uint8Array, proof: Uint8Array): boolean {
  return equalBytes(relayProof(key, challenge, serverKey, clientKey), proof);
}
