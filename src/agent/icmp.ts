import ipaddr from 'ipaddr.js';

// ICMP / ICMPv6 echo packets for in-engine pings (the agent builds requests and
// matches replies; the peer's kernel answers as for any ping). `echoReplyFor` plays
// that kernel for in-memory TUNs in tests and the non-root demo.

const ICMP4 = 1;
const ICMP6 = 58;
const ECHO_REQUEST4 = 8;
const ECHO_REPLY4 = 0;
const ECHO_REQUEST6 = 128;
const ECHO_REPLY6 = 129;
const TTL = 64;

function sum16(b: Uint8Array, start: number, end: number, acc = 0): number {
  for (let i = start; i < end; i += 2) acc += (b[i] << 8) | (i + 1 < end ? b[i + 1] : 0);
  return acc;
}

function finish(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}

export interface Echo {
  version: 4 | 6;
  src: string;
  dst: string;
  /** true for a request, false for a reply */
  request: boolean;
  id: number;
  seq: number;
  payload: Uint8Array;
}

/** Builds an IPv4 or IPv6 echo packet (family from the addresses) with valid checksums. */
export function buildEcho(e: Omit<Echo, 'version'>): Uint8Array {
  const v6 = e.src.includes(':');
  const icmpLen = 8 + e.payload.length;
  const hdr = v6 ? 40 : 20;
  const p = new Uint8Array(hdr + icmpLen);
  const v = new DataView(p.buffer);
  if (v6) {
    p[0] = 0x60;
    v.setUint16(4, icmpLen);
    p[6] = ICMP6;
    p[7] = TTL;
    p.set(ipaddr.parse(e.src).toByteArray(), 8);
    p.set(ipaddr.parse(e.dst).toByteArray(), 24);
  } else {
    p[0] = 0x45;
    v.setUint16(2, p.length);
    p[8] = TTL;
    p[9] = ICMP4;
    p.set(ipaddr.parse(e.src).toByteArray(), 12);
    p.set(ipaddr.parse(e.dst).toByteArray(), 16);
    v.setUint16(10, finish(sum16(p, 0, 20)));
  }
  p[hdr] = v6 ? (e.request ? ECHO_REQUEST6 : ECHO_REPLY6) : e.request ? ECHO_REQUEST4 : ECHO_REPLY4;
  v.setUint16(hdr + 4, e.id);
  v.setUint16(hdr + 6, e.seq);
  p.set(e.payload, hdr + 8);
  // ICMPv6 checksums cover a pseudo-header (addresses, length, next header).
  const pseudo = v6 ? sum16(p, 8, 40) + icmpLen + ICMP6 : 0;
  v.setUint16(hdr + 2, finish(sum16(p, hdr, p.length, pseudo)));
  return p;
}

/** Parses an echo request/reply (no IPv6 extension headers); null for anything else. */
export function parseEcho(p: Uint8Array): Echo | null {
  const version = p[0] >> 4;
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  let hdr: number;
  let end: number;
  let request: boolean;
  if (version === 4) {
    hdr = (p[0] & 15) * 4;
    // IHL below 5 is no IPv4 header (and would leave the addresses out of the packet).
    if (hdr < 20 || p.length < hdr + 8 || p[9] !== ICMP4) return null;
    end = Math.min(p.length, v.getUint16(2));
    if (p[hdr] !== ECHO_REQUEST4 && p[hdr] !== ECHO_REPLY4) return null;
    request = p[hdr] === ECHO_REQUEST4;
  } else if (version === 6) {
    hdr = 40;
    if (p.length < 48 || p[6] !== ICMP6) return null;
    end = Math.min(p.length, 40 + v.getUint16(4));
    if (p[hdr] !== ECHO_REQUEST6 && p[hdr] !== ECHO_REPLY6) return null;
    request = p[hdr] === ECHO_REQUEST6;
  } else return null;
  if (end < hdr + 8) return null;
  const addr = (off: number, len: number) => ipaddr.fromByteArray(Array.from(p.subarray(off, off + len))).toString();
  return {
    version,
    src: version === 4 ? addr(12, 4) : addr(8, 16),
    dst: version === 4 ? addr(16, 4) : addr(24, 16),
    request,
    id: v.getUint16(hdr + 4),
    seq: v.getUint16(hdr + 6),
    payload: p.subarray(hdr + 8, end),
  };
}

/** The reply a host's kernel would send to an echo request, or null. */
export function echoReplyFor(p: Uint8Array): Uint8Array | null {
  const e = parseEcho(p);
  if (!e || !e.request) return null;
  return buildEcho({ src: e.dst, dst: e.src, request: false, id: e.id, seq: e.seq, payload: e.payload });
}
