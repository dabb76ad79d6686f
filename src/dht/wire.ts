import { KEY_LEN } from '../crypto/keys.js';
import { ENDPOINT_BYTES, Endpoint } from '../io/endpoint.js';
import type { SealFraming } from '../serverless/seal.js';
import { Kind, MAX_DATAGRAM } from '../serverless/wire.js';
import type { ForeignRoute } from '../serverless/udp-transport.js';
import { decodeRecord, encodeRecord, type PeerRecord } from './records.js';

// The DHT wire format: every type and constant on the wire, in one place.
//
// Datagram (big endian), on the node's one UDP port beside WireGuard, STUN, disco and gossip:
//   magic "K" "D" "H" 0x01 (4) | kind u8 | ...
//   kind 1 SEALED  sender public key (32) | nonce (24) | box  (serverless/seal.ts PairSealer,
//                  label "weft-dht-v1": X25519 pair keys, trust set checked before any X25519)
//   kind 2 WHOIS   zero padding to 37 bytes    (a bootstrap HOST:PORT: ask for its key)
//   kind 3 IAM     public key (32)             (37 bytes too: answering never amplifies)
// Demultiplexing: DHT_DEMUX_BYTE = 0x4B ('K') has its top two bits 01 like gossip's 'G'
// (0x47) and disco's 'W' (0x57): never STUN (00), never a WireGuard type (1..4), and
// distinct from both (serverless/udp-transport.ts routes by this byte).
//
// Sealed plaintext: stamp u64 (sender's increasing Unix ms; replay window) | one message:
//   type u8 | request id u32 | body
//   1 PING        —
//   2 PONG        —
//   3 FIND_NODE   target id (32)
//   4 NODES       n u8 (≤ K) | n × (node key (32) | endpoint (18))   ids are derived from keys
//   5 STORE       record (records.ts)
//   6 STORED      accepted u8 (0/1)
//   7 FIND_VALUE  target id (32)
//   8 VALUE       record
// Anything else, any length mismatch, a bad record encoding: malformed (dropped, counted).

export const DHT_DEMUX_BYTE = 0x4b;
export const DHT_MAGIC = Uint8Array.from([DHT_DEMUX_BYTE, 0x44, 0x48, 0x01]);
/** The kinds are gossip's (serverless/wire.ts Kind), and so is the datagram limit. */
export const DHT_MAX_DATAGRAM = MAX_DATAGRAM;
/** Kademlia's k: bucket size and the number of closest nodes a lookup returns and stores at. */
export const K = 20;
const STAMP_LEN = 8;
const HEADER = 5;
const CONTACT_LEN = KEY_LEN + ENDPOINT_BYTES;

export interface WireContact {
  key: Uint8Array;
  endpoint: Endpoint;
}

export type DhtMessage =
  | { type: 'ping' | 'pong'; reqId: number }
  | { type: 'findNode' | 'findValue'; reqId: number; target: Uint8Array }
  | { type: 'nodes'; reqId: number; contacts: WireContact[] }
  | { type: 'store' | 'value'; reqId: number; record: PeerRecord }
  | { type: 'stored'; reqId: number; accepted: boolean };

const CODE: Record<DhtMessage['type'], number> = { ping: 1, pong: 2, findNode: 3, nodes: 4, store: 5, stored: 6, findValue: 7, value: 8 };

export function isDhtPacket(pkt: Uint8Array): boolean {
  return pkt.length > DHT_MAGIC.length && pkt[0] === DHT_MAGIC[0] && pkt[1] === DHT_MAGIC[1] && pkt[2] === DHT_MAGIC[2] && pkt[3] === DHT_MAGIC[3];
}

/** How the agent's socket hands DHT datagrams over (serverless/udp-transport.ts). */
export const DHT_ROUTE: ForeignRoute = { byte: DHT_DEMUX_BYTE, accepts: isDhtPacket };

export function dhtPacketKind(pkt: Uint8Array): number {
  return isDhtPacket(pkt) ? pkt[DHT_MAGIC.length] : 0;
}

export function encodeDhtMessage(m: DhtMessage): Uint8Array {
  let tail: Uint8Array;
  switch (m.type) {
    case 'ping':
    case 'pong':
      tail = new Uint8Array(0);
      break;
    case 'findNode':
    case 'findValue':
      tail = m.target;
      break;
    case 'nodes': {
      const cs = m.contacts.slice(0, K);
      tail = new Uint8Array(1 + cs.length * CONTACT_LEN);
      tail[0] = cs.length;
      cs.forEach((c, i) => {
        tail.set(c.key, 1 + i * CONTACT_LEN);
        tail.set(c.endpoint.bytes, 1 + i * CONTACT_LEN + KEY_LEN);
      });
      break;
    }
    case 'store':
    case 'value':
      tail = encodeRecord(m.record);
      break;
    case 'stored':
      tail = Uint8Array.of(m.accepted ? 1 : 0);
      break;
  }
  const out = new Uint8Array(HEADER + tail.length);
  out[0] = CODE[m.type];
  new DataView(out.buffer).setUint32(1, m.reqId >>> 0);
  out.set(tail, HEADER);
  return out;
}

/** One message (after the stamp); null when malformed. Never throws. */
export function decodeDhtMessage(b: Uint8Array): DhtMessage | null {
  if (b.length < HEADER) return null;
  const reqId = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(1);
  const body = b.subarray(HEADER);
  switch (b[0]) {
    case 1:
    case 2:
      return body.length === 0 ? { type: b[0] === 1 ? 'ping' : 'pong', reqId } : null;
    case 3:
    case 7:
      return body.length === 32 ? { type: b[0] === 3 ? 'findNode' : 'findValue', reqId, target: body.slice() } : null;
    case 4: {
      const n = body[0];
      if (n === undefined || n > K || body.length !== 1 + n * CONTACT_LEN) return null;
      const contacts: WireContact[] = [];
      for (let i = 0, o = 1; i < n; i++, o += CONTACT_LEN) contacts.push({ key: body.slice(o, o + KEY_LEN), endpoint: Endpoint.fromBytes(body, o + KEY_LEN) });
      return { type: 'nodes', reqId, contacts };
    }
    case 5:
    case 8: {
      const record = decodeRecord(body);
      return record && { type: b[0] === 5 ? 'store' : 'value', reqId, record };
    }
    case 6:
      return body.length === 1 && body[0] <= 1 ? { type: 'stored', reqId, accepted: body[0] === 1 } : null;
    default:
      return null;
  }
}

export function encodeDhtPlaintext(stamp: number, msg: Uint8Array): Uint8Array {
  const out = new Uint8Array(STAMP_LEN + msg.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(stamp));
  out.set(msg, STAMP_LEN);
  return out;
}

/** Stamp and message of a sealed datagram's plaintext; null when malformed. Never throws. */
export function decodeDhtPlaintext(b: Uint8Array): { stamp: number; value: DhtMessage } | null {
  if (b.length < STAMP_LEN + HEADER || b.length > DHT_MAX_DATAGRAM) return null;
  const stamp = Number(new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0));
  if (!Number.isSafeInteger(stamp)) return null;
  const value = decodeDhtMessage(b.subarray(STAMP_LEN));
  return value && { stamp, value };
}

export const DHT_FRAMING: SealFraming<Uint8Array, DhtMessage> = {
  magic: DHT_MAGIC,
  kind: Kind.Sealed,
  label: 'weft-dht-v1',
  maxDatagram: DHT_MAX_DATAGRAM,
  codec: { encode: encodeDhtPlaintext, decode: decodeDhtPlaintext },
};

