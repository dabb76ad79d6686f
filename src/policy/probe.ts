import { parsePrefix } from '../net/prefix.js';
import { PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP } from './types.js';

// Minimal packets for judging a policy by running the real filter on them (policy
// tests, the filter's own tests, the benchmark). Checksums stay zero: the filter does
// not read them.

export interface ProbeSpec {
  src: string;
  dst: string;
  /** For `icmp` pass PROTO_ICMP; it becomes ICMPv6 on IPv6. */
  proto: number;
  dstPort?: number;
  srcPort?: number;
  /** TCP flags; default SYN (a new connection). */
  tcpFlags?: number;
  /** ICMP type; default echo request. */
  icmpType?: number;
  icmpId?: number;
}

/** An IPv4 or IPv6 packet (by the family of `src`) with a 20-byte L4 header. */
export function buildProbe(spec: ProbeSpec): Uint8Array {
  const src = parsePrefix(spec.src).bytes;
  const dst = parsePrefix(spec.dst).bytes;
  const v6 = src.length === 16;
  let proto = spec.proto;
  if (v6 && proto === PROTO_ICMP) proto = PROTO_ICMPV6;
  const hdr = v6 ? 40 : 20;
  const p = new Uint8Array(hdr + 20);
  if (v6) {
    p[0] = 0x60;
    p[5] = 20;
    p[6] = proto;
    p[7] = 64;
    p.set(src, 8);
    p.set(dst, 24);
  } else {
    p[0] = 0x45;
    p[3] = p.length;
    p[8] = 64;
    p[9] = proto;
    p.set(src, 12);
    p.set(dst, 16);
  }
  if (proto === PROTO_ICMP || proto === PROTO_ICMPV6) {
    p[hdr] = spec.icmpType ?? (v6 ? 128 : 8);
    p[hdr + 4] = (spec.icmpId ?? 0) >> 8;
    p[hdr + 5] = (spec.icmpId ?? 0) & 0xff;
  } else {
    const sport = spec.srcPort ?? 40000;
    const dport = spec.dstPort ?? 0;
    p[hdr] = sport >> 8;
    p[hdr + 1] = sport & 0xff;
    p[hdr + 2] = dport >> 8;
    p[hdr + 3] = dport & 0xff;
    if (proto === PROTO_TCP) {
      p[hdr + 12] = 0x50;
      p[hdr + 13] = spec.tcpFlags ?? 0x02;
    }
  }
  return p;
}
