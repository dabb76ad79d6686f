import { PROTO_ICMP, PROTO_ICMPV6, PROTO_SCTP, PROTO_TCP, PROTO_UDP } from './types.js';

// Just enough IPv4/IPv6 parsing for the filter: addresses stay in the caller's buffer
// (we keep offsets), ports and flags land in fields of one reused object, so the
// per-packet path allocates nothing.

export const PARSE_OK = 0;
export const PARSE_MALFORMED = 1;
/** A fragment other than the first: it carries no L4 header to judge. */
export const PARSE_LATER_FRAGMENT = 2;

export const TCP_SYN = 0x02;
export const TCP_ACK = 0x10;

const MAX_EXT_HEADERS = 8;

export class PacketInfo {
  family: 4 | 6 = 4;
  proto = 0;
  /** Offsets of the source and destination addresses in the buffer. */
  srcOff = 0;
  dstOff = 0;
  srcPort = 0;
  dstPort = 0;
  tcpFlags = 0;
  icmpType = 0;
  /** ICMP echo identifier. */
  icmpId = 0;

  /** Parses the packet at buf[off..off+len); returns a PARSE_* code. */
  parse(buf: Uint8Array, off: number, len: number): number {
    if (len < 1 || off < 0 || off + len > buf.length) return PARSE_MALFORMED;
    const version = buf[off] >> 4;
    let l4: number;
    let end = off + len;
    if (version === 4) {
      if (len < 20) return PARSE_MALFORMED;
      const ihl = (buf[off] & 0x0f) * 4;
      const total = (buf[off + 2] << 8) | buf[off + 3];
      if (ihl < 20 || total < ihl || total > len) return PARSE_MALFORMED;
      end = off + total;
      this.family = 4;
      this.proto = buf[off + 9];
      this.srcOff = off + 12;
      this.dstOff = off + 16;
      if ((((buf[off + 6] & 0x1f) << 8) | buf[off + 7]) !== 0) return PARSE_LATER_FRAGMENT;
      l4 = off + ihl;
    } else if (version === 6) {
      if (len < 40) return PARSE_MALFORMED;
      const payload = (buf[off + 4] << 8) | buf[off + 5];
      if (40 + payload > len) return PARSE_MALFORMED;
      end = off + 40 + payload;
      this.family = 6;
      this.srcOff = off + 8;
      this.dstOff = off + 24;
      let next = buf[off + 6];
      l4 = off + 40;
      for (let i = 0; ; i++) {
        if (next !== 0 && next !== 43 && next !== 44 && next !== 51 && next !== 60) break;
        if (i === MAX_EXT_HEADERS || l4 + 8 > end) return PARSE_MALFORMED;
        if (next === 44 && ((((buf[l4 + 2] << 8) | buf[l4 + 3]) >> 3) !== 0)) return PARSE_LATER_FRAGMENT;
        const hdrLen = next === 44 ? 8 : next === 51 ? (buf[l4 + 1] + 2) * 4 : (buf[l4 + 1] + 1) * 8;
        next = buf[l4];
        l4 += hdrLen;
      }
      this.proto = next;
    } else {
      return PARSE_MALFORMED;
    }
    const avail = end - l4;
    const p = this.proto;
    this.srcPort = this.dstPort = this.tcpFlags = this.icmpType = this.icmpId = 0;
    if (p === PROTO_TCP || p === PROTO_UDP || p === PROTO_SCTP) {
      if (avail < (p === PROTO_TCP ? 14 : 4)) return PARSE_MALFORMED;
      this.srcPort = (buf[l4] << 8) | buf[l4 + 1];
      this.dstPort = (buf[l4 + 2] << 8) | buf[l4 + 3];
      if (p === PROTO_TCP) this.tcpFlags = buf[l4 + 13];
    } else if (p === PROTO_ICMP || p === PROTO_ICMPV6) {
      if (avail < 8) return PARSE_MALFORMED;
      this.icmpType = buf[l4];
      this.icmpId = (buf[l4 + 4] << 8) | buf[l4 + 5];
    }
    return PARSE_OK;
  }
}

export const isEchoRequest = (proto: number, type: number): boolean => (proto === PROTO_ICMP && type === 8) || (proto === PROTO_ICMPV6 && type === 128);
export const isEchoReply = (proto: number, type: number): boolean => (proto === PROTO_ICMP && type === 0) || (proto === PROTO_ICMPV6 && type === 129);
/** Destination unreachable, packet too big, time exceeded, parameter problem. */
export const isIcmpError = (proto: number, type: number): boolean =>
  (proto === PROTO_ICMP && (type === 3 || type === 11 || type === 12)) || (proto === PROTO_ICMPV6 && type >= 1 && type <= 4);
