// Tiny IPv4/IPv6 + UDP/TCP packet builders/parsers for tests (not used by the engine).

/** The one's-complement sum (not yet folded) of buf[start..end) as big-endian 16-bit words, added to `acc`. */
export function sum16(buf: Uint8Array, start: number, end: number, acc = 0): number {
  for (let i = start; i < end; i += 2) acc += (buf[i] << 8) | (i + 1 < end ? buf[i + 1] : 0);
  return acc;
}

/** Folds a sum16() to 16 bits (not complemented). */
export function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return acc;
}

/** Sum of the IPv4/IPv6 pseudo-header of packet `p` (no extension headers) for `l4len` bytes of `proto`. */
export function pseudoSum(p: Uint8Array, proto: number, l4len: number): number {
  return (p[0] >> 4 === 4 ? sum16(p, 12, 20) : sum16(p, 8, 40)) + proto + (l4len >>> 16) + (l4len & 0xffff);
}

/** Where the L4 header starts and how long the IP packet says it is (IPv6: no extension headers). */
export function ipLayout(p: Uint8Array): { l4: number; len: number; proto: number } {
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  return p[0] >> 4 === 4 ? { l4: (p[0] & 15) * 4, len: v.getUint16(2), proto: p[9] } : { l4: 40, len: 40 + v.getUint16(4), proto: p[6] };
}

/** True when the L4 checksum of the TCP/UDP packet `p` (checksum field included) verifies. */
export function l4ChecksumOk(p: Uint8Array): boolean {
  const { l4, len, proto } = ipLayout(p);
  return fold(sum16(p, l4, len, pseudoSum(p, proto, len - l4))) === 0xffff;
}

/** True when the IPv4 header checksum of `p` verifies. */
export function ipv4ChecksumOk(p: Uint8Array): boolean {
  return fold(sum16(p, 0, (p[0] & 15) * 4)) === 0xffff;
}

export function ipv4Bytes(ip: string): Uint8Array {
  return Uint8Array.from(ip.split('.').map(Number));
}

export function ipv6Bytes(ip: string): Uint8Array {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

export interface IpOptions {
  /** IPv4 identification (default 0x1234). */
  id?: number;
  /** TTL / hop limit (default 64). */
  ttl?: number;
  /** IPv4 TOS / IPv6 traffic class (default 0). */
  tos?: number;
}

/**
 * An IPv4 or IPv6 packet (by the family of `src`; IPv4 without options or fragmentation,
 * IPv6 without extension headers) carrying `l4` of protocol `proto`, with the IPv4 header
 * checksum and the L4 checksum at byte `csumAt` of `l4` filled in.
 */
export function ipPacket(src: string, dst: string, proto: number, l4: Uint8Array, csumAt: number, o: IpOptions = {}): Uint8Array {
  const v6 = src.includes(':');
  const hl = v6 ? 40 : 20;
  const p = new Uint8Array(hl + l4.length);
  const v = new DataView(p.buffer);
  const tos = o.tos ?? 0;
  if (v6) {
    p[0] = 0x60 | (tos >> 4);
    p[1] = (tos & 15) << 4;
    v.setUint16(4, l4.length);
    p[6] = proto;
    p[7] = o.ttl ?? 64;
    p.set(ipv6Bytes(src), 8);
    p.set(ipv6Bytes(dst), 24);
  } else {
    p[0] = 0x45;
    p[1] = tos;
    v.setUint16(2, p.length);
    v.setUint16(4, o.id ?? 0x1234);
    p[8] = o.ttl ?? 64;
    p[9] = proto;
    p.set(ipv4Bytes(src), 12);
    p.set(ipv4Bytes(dst), 16);
    v.setUint16(10, ~fold(sum16(p, 0, 20)) & 0xffff);
  }
  p.set(l4, hl);
  const c = ~fold(sum16(p, hl, p.length, pseudoSum(p, proto, l4.length))) & 0xffff;
  v.setUint16(hl + csumAt, proto === 17 ? c || 0xffff : c);
  return p;
}

/** An IPv4 or IPv6 (by the family of `src`) UDP packet with valid checksums. */
export function udpPacket(src: string, sport: number, dst: string, dport: number, payload: Uint8Array, o: IpOptions = {}): Uint8Array {
  const u = new Uint8Array(8 + payload.length);
  const v = new DataView(u.buffer);
  v.setUint16(0, sport);
  v.setUint16(2, dport);
  v.setUint16(4, u.length);
  u.set(payload, 8);
  return ipPacket(src, dst, 17, u, 6, o);
}

/** An IPv4 UDP packet with valid IP and UDP checksums. */
export const udp4 = udpPacket;
/** An IPv6 UDP packet with a valid UDP checksum. */
export const udp6 = udpPacket;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_CWR = 0x80;

export interface TcpSpec extends IpOptions {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack?: number;
  /** Default ACK. */
  flags?: number;
  /** Default 502. */
  window?: number;
  urgent?: number;
  /** TCP options, a multiple of 4 bytes. */
  options?: Uint8Array;
  payload?: Uint8Array;
}

/** An IPv4 or IPv6 (by the family of `src`) TCP segment with valid checksums. */
export function tcpPacket(s: TcpSpec): Uint8Array {
  const opts = s.options ?? new Uint8Array(0);
  const payload = s.payload ?? new Uint8Array(0);
  const thl = 20 + opts.length;
  const t = new Uint8Array(thl + payload.length);
  const v = new DataView(t.buffer);
  v.setUint16(0, s.sport);
  v.setUint16(2, s.dport);
  v.setUint32(4, s.seq >>> 0);
  v.setUint32(8, (s.ack ?? 0) >>> 0);
  t[12] = (thl / 4) << 4;
  t[13] = s.flags ?? TCP_ACK;
  v.setUint16(14, s.window ?? 502);
  v.setUint16(18, s.urgent ?? 0);
  t.set(opts, 20);
  t.set(payload, thl);
  return ipPacket(s.src, s.dst, 6, t, 16, s);
}

export interface ParsedTcp {
  version: 4 | 6;
  /** IPv4 identification (0 for IPv6). */
  id: number;
  /** Offset of the TCP header; the IP header length. */
  l4: number;
  /** TCP header length. */
  thl: number;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  checksum: number;
  options: Uint8Array;
  payload: Uint8Array;
}

/** Parses an IPv4/IPv6 TCP packet (no extension headers) as far as its IP length says. */
export function parseTcp(p: Uint8Array): ParsedTcp {
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const { l4, len, proto } = ipLayout(p);
  if (proto !== 6) throw new Error(`not TCP (protocol ${proto})`);
  const thl = (p[l4 + 12] >> 4) * 4;
  return {
    version: p[0] >> 4 === 4 ? 4 : 6,
    id: p[0] >> 4 === 4 ? v.getUint16(4) : 0,
    l4,
    thl,
    sport: v.getUint16(l4),
    dport: v.getUint16(l4 + 2),
    seq: v.getUint32(l4 + 4),
    ack: v.getUint32(l4 + 8),
    flags: p[l4 + 13],
    window: v.getUint16(l4 + 14),
    checksum: v.getUint16(l4 + 16),
    options: p.subarray(l4 + 20, l4 + thl),
    payload: p.subarray(l4 + thl, len),
  };
}

export interface ParsedUdp {
  version: 4 | 6;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  payload: Uint8Array;
}

/** Parses an IPv4/IPv6 packet carrying UDP (no extension headers); undefined otherwise. */
export function parseUdp(p: Uint8Array): ParsedUdp | undefined {
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  if (p[0] >> 4 === 4) {
    const ihl = (p[0] & 15) * 4;
    if (p[9] !== 17) return undefined;
    return {
      version: 4,
      src: Array.from(p.subarray(12, 16)).join('.'),
      dst: Array.from(p.subarray(16, 20)).join('.'),
      sport: v.getUint16(ihl),
      dport: v.getUint16(ihl + 2),
      payload: p.subarray(ihl + 8, v.getUint16(2)),
    };
  }
  if (p[0] >> 4 === 6) {
    if (p[6] !== 17) return undefined;
    const hex = (o: number) => {
      const g: string[] = [];
      for (let i = 0; i < 16; i += 2) g.push(v.getUint16(o + i).toString(16));
      return g.join(':');
    };
    return { version: 6, src: hex(8), dst: hex(24), sport: v.getUint16(40), dport: v.getUint16(42), payload: p.subarray(48, 40 + v.getUint16(4)) };
  }
  return undefined;
}
