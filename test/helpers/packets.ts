// Tiny IPv4/IPv6 + UDP packet builders/parsers for tests (not used by the engine).

function sum16(buf: Uint8Array, start: number, end: number, acc = 0): number {
  for (let i = start; i < end; i += 2) acc += (buf[i] << 8) | (i + 1 < end ? buf[i + 1] : 0);
  return acc;
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return acc;
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

/** An IPv4 UDP packet with valid IP and UDP checksums. */
export function udp4(src: string, sport: number, dst: string, dport: number, payload: Uint8Array): Uint8Array {
  const ulen = 8 + payload.length;
  const p = new Uint8Array(20 + ulen);
  const v = new DataView(p.buffer);
  p[0] = 0x45;
  v.setUint16(2, p.length);
  v.setUint16(4, 0x1234);
  p[8] = 64;
  p[9] = 17;
  p.set(ipv4Bytes(src), 12);
  p.set(ipv4Bytes(dst), 16);
  v.setUint16(10, ~fold(sum16(p, 0, 20)) & 0xffff);
  v.setUint16(20, sport);
  v.setUint16(22, dport);
  v.setUint16(24, ulen);
  p.set(payload, 28);
  let acc = sum16(p, 12, 20) + 17 + ulen; // pseudo-header
  acc = sum16(p, 20, p.length, acc);
  v.setUint16(26, ~fold(acc) & 0xffff || 0xffff);
  return p;
}

/** An IPv6 UDP packet with a valid UDP checksum. */
export function udp6(src: string, sport: number, dst: string, dport: number, payload: Uint8Array): Uint8Array {
  const ulen = 8 + payload.length;
  const p = new Uint8Array(40 + ulen);
  const v = new DataView(p.buffer);
  p[0] = 0x60;
  v.setUint16(4, ulen);
  p[6] = 17;
  p[7] = 64;
  p.set(ipv6Bytes(src), 8);
  p.set(ipv6Bytes(dst), 24);
  v.setUint16(40, sport);
  v.setUint16(42, dport);
  v.setUint16(44, ulen);
  p.set(payload, 48);
  let acc = sum16(p, 8, 40) + ulen + 17;
  acc = sum16(p, 40, p.length, acc);
  v.setUint16(46, ~fold(acc) & 0xffff || 0xffff);
  return p;
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
