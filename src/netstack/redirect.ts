// Packet rewriting for the accept-any-destination forwarder (forwarder.ts). lwIP only
// accepts connections to its own address, so a TCP packet to an outside destination
// D:dp is redirected to the stack's own address and listening port (destination NAT),
// and lwIP's replies get D:dp back as their source. The client's address and port stay
// as they are: they are the key that finds D:dp again. Checksums are updated
// incrementally (RFC 1624); every offset touched is 16-bit aligned.

export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const TCP_SYN = 0x02;
export const TCP_ACK = 0x10;

export interface PacketInfo {
  v6: boolean;
  /** Transport protocol (IPv6: the first next header; extension headers count as other). */
  proto: number;
  /** Absolute offsets in the buffer. */
  src: number;
  dst: number;
  addrLen: 4 | 16;
  /** Start of the transport header; -1 for a non-first fragment. */
  l4: number;
  /** TCP flags byte (0 when not TCP). */
  flags: number;
}

/** Parses the IP header of buf[off .. off+len]; null when malformed. */
export function parsePacket(buf: Uint8Array, off: number, len: number): PacketInfo | null {
  if (len < 20) return null;
  const version = buf[off] >> 4;
  let info: PacketInfo;
  if (version === 4) {
    const ihl = (buf[off] & 0x0f) * 4;
    const total = (buf[off + 2] << 8) | buf[off + 3];
    if (ihl < 20 || total < ihl || total > len) return null;
    const fragOff = ((buf[off + 6] & 0x1f) << 8) | buf[off + 7];
    info = { v6: false, proto: buf[off + 9], src: off + 12, dst: off + 16, addrLen: 4, l4: fragOff !== 0 ? -1 : off + ihl, flags: 0 };
  } else if (version === 6) {
    if (len < 40) return null;
    info = { v6: true, proto: buf[off + 6], src: off + 8, dst: off + 24, addrLen: 16, l4: off + 40, flags: 0 };
  } else return null;
  if (info.proto === PROTO_TCP && info.l4 >= 0) {
    if (info.l4 + 20 > off + len) return null;
    info.flags = buf[info.l4 + 13];
  }
  return info;
}

/** The address at `at` as text (IPv6 uncompressed but canonical per group). */
export function addrText(buf: Uint8Array, at: number, addrLen: 4 | 16): string {
  if (addrLen === 4) return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((buf[at + i] << 8) | buf[at + i + 1]).toString(16));
  return g.join(':');
}

export const portAt = (buf: Uint8Array, at: number): number => (buf[at] << 8) | buf[at + 1];

/** Replaces the address at `addrAt` and the TCP port at `portAt` (src or dst), fixing both checksums. */
export function rewriteTcp(buf: Uint8Array, p: PacketInfo, which: 'src' | 'dst', addr: Uint8Array, port: number): void {
  const addrAt = which === 'src' ? p.src : p.dst;
  const portOff = p.l4 + (which === 'src' ? 0 : 2);
  const tcpSum = p.l4 + 16;
  let acc = ~((buf[tcpSum] << 8) | buf[tcpSum + 1]) & 0xffff;
  let ipAcc = p.v6 ? 0 : ~((buf[p.src - 2] << 8) | buf[p.src - 1]) & 0xffff;
  for (let i = 0; i < p.addrLen; i += 2) {
    const old = (buf[addrAt + i] << 8) | buf[addrAt + i + 1];
    const neu = (addr[i] << 8) | addr[i + 1];
    acc += (~old & 0xffff) + neu;
    ipAcc += (~old & 0xffff) + neu;
    buf[addrAt + i] = addr[i];
    buf[addrAt + i + 1] = addr[i + 1];
  }
  acc += (~portAt(buf, portOff) & 0xffff) + port;
  buf[portOff] = port >> 8;
  buf[portOff + 1] = port & 0xff;
  const sum = fold(acc);
  buf[tcpSum] = sum >> 8;
  buf[tcpSum + 1] = sum & 0xff;
  if (!p.v6) {
    // The IPv4 header checksum sits just before the source address (offset 10).
    const h = fold(ipAcc);
    buf[p.src - 2] = h >> 8;
    buf[p.src - 1] = h & 0xff;
  }
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}
