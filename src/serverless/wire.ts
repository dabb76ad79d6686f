import { ENDPOINT_BYTES, Endpoint } from '../io/endpoint.js';
import { KEY_LEN } from '../crypto/keys.js';

// The serverless gossip wire format: every type and constant on the wire, in one place.
//
// Datagram (all big endian):
//   magic "GSW\x01" (4) | kind u8 | ...
//   kind 1 SEALED   sender public key (32) | nonce (24) | box        (see seal.ts)
//   kind 2 WHOIS    zero padding to WHOIS_LEN       (ask a seed for its public key)
//   kind 3 IAM      public key (32) | zero padding to WHOIS_LEN
//
// Demultiplexing on the shared UDP port: the first byte GOSSIP_DEMUX_BYTE = 0x47 ('G')
// has its top two bits 01, so it is never STUN (00), never a WireGuard type (1..4) and
// not disco's 'W' (0x57). A receiver that sees 0x47 hands the datagram to gossip.
//
// Sealed plaintext: stamp u64 (sender's strictly increasing Unix ms, replay window)
// followed by messages, each  type u8 | length u16 | body:
//   1 PING           seq u32 | target key (32)
//   2 INDIRECT_PING  seq u32 | target key (32) | target endpoint (18) | wantNack u8
//   3 ACK            seq u32
//   4 NACK           seq u32
//   5 ALIVE          incarnation u32 | node (32) | flags u8 (bit0 relay) | n u8 | n × endpoint (18)
//   6 SUSPECT        incarnation u32 | node (32) | from (32)
//   7 DEAD           incarnation u32 | node (32) | from (32)
//   8 SYNC           flags u8 (bit0: reply with your full state)
//   9 REVOKE         node (32) | admin Ed25519 key (32) | issuedAt u64 (Unix ms) | signature (64)
// A message of an unknown type is skipped (newer peers); a truncated or mis-sized one
// makes the whole datagram malformed (dropped and counted by the caller).

export const GOSSIP_DEMUX_BYTE = 0x47;
export const GOSSIP_MAGIC = Uint8Array.from([GOSSIP_DEMUX_BYTE, 0x53, 0x57, 0x01]);
export const enum Kind {
  Sealed = 1,
  Whois = 2,
  Iam = 3,
}
/** WHOIS and IAM have the same length, so answering a WHOIS never amplifies. */
export const WHOIS_LEN = GOSSIP_MAGIC.length + 1 + KEY_LEN;
/** Largest datagram we send: fits every path MTU we care about after IP/UDP headers. */
export const MAX_DATAGRAM = 1200;
/** Advertised endpoints per member. */
export const MAX_ENDPOINTS = 8;
export const SIGNATURE_LEN = 64;
const STAMP_LEN = 8;
const MSG_HEADER = 3;

export const enum MsgType {
  Ping = 1,
  IndirectPing = 2,
  Ack = 3,
  Nack = 4,
  Alive = 5,
  Suspect = 6,
  Dead = 7,
  Sync = 8,
  Revoke = 9,
  Forward = 10,
  Forwarded = 11,
  Observed = 12,
}

export type GossipMessage =
  | { type: 'ping'; seq: number; target: Uint8Array }
  | { type: 'indirectPing'; seq: number; target: Uint8Array; addr: Endpoint; wantNack: boolean }
  | { type: 'ack'; seq: number }
  | { type: 'nack'; seq: number }
  | AliveMsg
  | { type: 'suspect'; incarnation: number; node: Uint8Array; from: Uint8Array }
  | { type: 'dead'; incarnation: number; node: Uint8Array; from: Uint8Array }
  | { type: 'sync'; wantReply: boolean }
  | RevokeMsg
  /** Rendezvous: "pass `payload` (a disco packet) on to `peer`" / "`peer` sent you this". */
  | { type: 'forward' | 'forwarded'; peer: Uint8Array; payload: Uint8Array }
  /** "Your gossip reaches me from `addr`" (your NAT's mapping, as one member sees it). */
  | { type: 'observed'; addr: Endpoint };

export interface AliveMsg {
  type: 'alive';
  incarnation: number;
  node: Uint8Array;
  relay: boolean;
  endpoints: Endpoint[];
}

export interface RevokeMsg {
  type: 'revoke';
  node: Uint8Array;
  admin: Uint8Array;
  issuedAt: number;
  signature: Uint8Array;
}

export function isGossipPacket(pkt: Uint8Array): boolean {
  return pkt.length > GOSSIP_MAGIC.length && pkt[0] === GOSSIP_MAGIC[0] && pkt[1] === GOSSIP_MAGIC[1] && pkt[2] === GOSSIP_MAGIC[2] && pkt[3] === GOSSIP_MAGIC[3];
}

export function packetKind(pkt: Uint8Array): number {
  return isGossipPacket(pkt) ? pkt[GOSSIP_MAGIC.length] : 0;
}

function bodyLength(m: GossipMessage): number {
  switch (m.type) {
    case 'ping':
      return 4 + KEY_LEN;
    case 'indirectPing':
      return 4 + KEY_LEN + ENDPOINT_BYTES + 1;
    case 'ack':
    case 'nack':
      return 4;
    case 'alive':
      return 4 + KEY_LEN + 2 + Math.min(m.endpoints.length, MAX_ENDPOINTS) * ENDPOINT_BYTES;
    case 'suspect':
    case 'dead':
      return 4 + 2 * KEY_LEN;
    case 'sync':
      return 1;
    case 'revoke':
      return 2 * KEY_LEN + 8 + SIGNATURE_LEN;
    case 'forward':
    case 'forwarded':
      return KEY_LEN + m.payload.length;
    case 'observed':
      return ENDPOINT_BYTES;
  }
}

const TYPE_CODE: Record<GossipMessage['type'], MsgType> = {
  ping: MsgType.Ping,
  indirectPing: MsgType.IndirectPing,
  ack: MsgType.Ack,
  nack: MsgType.Nack,
  alive: MsgType.Alive,
  suspect: MsgType.Suspect,
  dead: MsgType.Dead,
  sync: MsgType.Sync,
  revoke: MsgType.Revoke,
  forward: MsgType.Forward,
  forwarded: MsgType.Forwarded,
  observed: MsgType.Observed,
};

/** One message as it goes on the wire (type, length, body); broadcasts are kept encoded. */
export function encodeMessage(m: GossipMessage): Uint8Array {
  const len = bodyLength(m);
  const out = new Uint8Array(MSG_HEADER + len);
  const dv = new DataView(out.buffer);
  out[0] = TYPE_CODE[m.type];
  dv.setUint16(1, len);
  const o = MSG_HEADER;
  switch (m.type) {
    case 'ping':
    case 'indirectPing':
      dv.setUint32(o, m.seq >>> 0);
      out.set(m.target, o + 4);
      if (m.type === 'indirectPing') {
        out.set(m.addr.bytes, o + 4 + KEY_LEN);
        out[o + 4 + KEY_LEN + ENDPOINT_BYTES] = m.wantNack ? 1 : 0;
      }
      break;
    case 'ack':
    case 'nack':
      dv.setUint32(o, m.seq >>> 0);
      break;
    case 'alive': {
      const eps = m.endpoints.slice(0, MAX_ENDPOINTS);
      dv.setUint32(o, m.incarnation >>> 0);
      out.set(m.node, o + 4);
      out[o + 4 + KEY_LEN] = m.relay ? 1 : 0;
      out[o + 5 + KEY_LEN] = eps.length;
      eps.forEach((e, i) => out.set(e.bytes, o + 6 + KEY_LEN + i * ENDPOINT_BYTES));
      break;
    }
    case 'suspect':
    case 'dead':
      dv.setUint32(o, m.incarnation >>> 0);
      out.set(m.node, o + 4);
      out.set(m.from, o + 4 + KEY_LEN);
      break;
    case 'sync':
      out[o] = m.wantReply ? 1 : 0;
      break;
    case 'revoke':
      out.set(m.node, o);
      out.set(m.admin, o + KEY_LEN);
      dv.setBigUint64(o + 2 * KEY_LEN, BigInt(m.issuedAt));
      out.set(m.signature, o + 2 * KEY_LEN + 8);
      break;
    case 'forward':
    case 'forwarded':
      out.set(m.peer, o);
      out.set(m.payload, o + KEY_LEN);
      break;
    case 'observed':
      out.set(m.addr.bytes, o);
      break;
  }
  return out;
}

/** Stamp and already-encoded messages, as sealed into one datagram. */
export function encodePlaintext(stamp: number, messages: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(STAMP_LEN + messages.reduce((n, m) => n + m.length, 0));
  new DataView(out.buffer).setBigUint64(0, BigInt(stamp));
  let o = STAMP_LEN;
  for (const m of messages) {
    out.set(m, o);
    o += m.length;
  }
  return out;
}

function parseBody(type: number, b: Uint8Array, dv: DataView, o: number, len: number): GossipMessage | 'skip' | null {
  const key = (at: number): Uint8Array => b.slice(at, at + KEY_LEN);
  const fixed = (want: number): boolean => len === want;
  switch (type) {
    case MsgType.Ping:
      return fixed(4 + KEY_LEN) ? { type: 'ping', seq: dv.getUint32(o), target: key(o + 4) } : null;
    case MsgType.IndirectPing: {
      if (!fixed(4 + KEY_LEN + ENDPOINT_BYTES + 1)) return null;
      const flag = b[o + 4 + KEY_LEN + ENDPOINT_BYTES];
      if (flag > 1) return null;
      return { type: 'indirectPing', seq: dv.getUint32(o), target: key(o + 4), addr: Endpoint.fromBytes(b, o + 4 + KEY_LEN), wantNack: flag === 1 };
    }
    case MsgType.Ack:
    case MsgType.Nack:
      return fixed(4) ? { type: type === MsgType.Ack ? 'ack' : 'nack', seq: dv.getUint32(o) } : null;
    case MsgType.Alive: {
      if (len < 4 + KEY_LEN + 2) return null;
      const flags = b[o + 4 + KEY_LEN];
      const n = b[o + 5 + KEY_LEN];
      if (flags > 1 || n > MAX_ENDPOINTS || !fixed(4 + KEY_LEN + 2 + n * ENDPOINT_BYTES)) return null;
      const endpoints: Endpoint[] = [];
      for (let i = 0; i < n; i++) endpoints.push(Endpoint.fromBytes(b, o + 6 + KEY_LEN + i * ENDPOINT_BYTES));
      return { type: 'alive', incarnation: dv.getUint32(o), node: key(o + 4), relay: flags === 1, endpoints };
    }
    case MsgType.Suspect:
    case MsgType.Dead:
      if (!fixed(4 + 2 * KEY_LEN)) return null;
      return { type: type === MsgType.Suspect ? 'suspect' : 'dead', incarnation: dv.getUint32(o), node: key(o + 4), from: key(o + 4 + KEY_LEN) };
    case MsgType.Sync:
      return fixed(1) && b[o] <= 1 ? { type: 'sync', wantReply: b[o] === 1 } : null;
    case MsgType.Revoke: {
      if (!fixed(2 * KEY_LEN + 8 + SIGNATURE_LEN)) return null;
      const issuedAt = Number(dv.getBigUint64(o + 2 * KEY_LEN));
      if (!Number.isSafeInteger(issuedAt)) return null;
      return { type: 'revoke', node: key(o), admin: key(o + KEY_LEN), issuedAt, signature: b.slice(o + 2 * KEY_LEN + 8, o + 2 * KEY_LEN + 8 + SIGNATURE_LEN) };
    }
    case MsgType.Forward:
    case MsgType.Forwarded:
      if (len <= KEY_LEN || len > KEY_LEN + MAX_FORWARD_PAYLOAD) return null;
      return { type: type === MsgType.Forward ? 'forward' : 'forwarded', peer: key(o), payload: b.slice(o + KEY_LEN, o + len) };
    case MsgType.Observed:
      return fixed(ENDPOINT_BYTES) ? { type: 'observed', addr: Endpoint.fromBytes(b, o) } : null;
    default:
      return 'skip';
  }
}

/** Parses a sealed datagram's plaintext; null when malformed. Never throws. */
export function decodePlaintext(b: Uint8Array): { stamp: number; messages: GossipMessage[] } | null {
  if (b.length < STAMP_LEN || b.length > MAX_DATAGRAM) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const stamp = Number(dv.getBigUint64(0));
  if (!Number.isSafeInteger(stamp)) return null;
  const messages: GossipMessage[] = [];
  for (let o = STAMP_LEN; o < b.length; ) {
    if (o + MSG_HEADER > b.length) return null;
    const type = b[o];
    const len = dv.getUint16(o + 1);
    if (o + MSG_HEADER + len > b.length) return null;
    const m = parseBody(type, b, dv, o + MSG_HEADER, len);
    if (m === null) return null;
    if (m !== 'skip') messages.push(m);
    o += MSG_HEADER + len;
  }
  return { stamp, messages };
}

/** Bytes a sealed datagram adds around its plaintext: magic, kind, sender, nonce, tag. */
export const SEAL_OVERHEAD = GOSSIP_MAGIC.length + 1 + KEY_LEN + 24 + 16;
/** Room for messages in one datagram. */
export const MESSAGE_BUDGET = MAX_DATAGRAM - SEAL_OVERHEAD - STAMP_LEN;
/** A forwarded packet fills at most one datagram by itself. */
export const MAX_FORWARD_PAYLOAD = MESSAGE_BUDGET - MSG_HEADER - KEY_LEN;
