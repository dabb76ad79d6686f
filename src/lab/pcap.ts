// Minimal pcap (libpcap classic format) reader: extracts UDP payloads from Ethernet
// or Linux-cooked captures of IPv4/IPv6 traffic. Enough to replay captured WireGuard
// ciphertext.
import { readFileSync } from 'node:fs';

export interface UdpPacket {
  /** Capture time, seconds since the epoch (microsecond or nanosecond files alike). */
  ts: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

export function readPcapUdp(path: string): UdpPacket[] {
  return parsePcapUdp(readFileSync(path));
}

export function parsePcapUdp(buf: Buffer): UdpPacket[] {
  if (buf.length < 24) return [];
  const magic = buf.readUInt32LE(0);
  let le: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1) le = false;
  else throw new Error('not a classic pcap file (pcapng is not supported: use tcpdump -w or tshark -F pcap)');
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linktype = u32(20);
  // 0xa1b23c4d is the nanosecond variant: the second field of a record's time is ns.
  const fraction = magic === 0xa1b23c4d || magic === 0x4d3cb2a1 ? 1e-9 : 1e-6;
  const out: UdpPacket[] = [];
  let off = 24;
  while (off + 16 <= buf.length) {
    const ts = u32(off) + u32(off + 4) * fraction;
    const incl = u32(off + 8);
    const start = off + 16;
    off = start + incl;
    if (off > buf.length) break;
    const frame = buf.subarray(start, start + incl);
    let l3: number;
    let ethertype: number;
    if (linktype === 1) {
      if (frame.length < 14) continue;
      ethertype = frame.readUInt16BE(12);
      l3 = 14;
      if (ethertype === 0x8100) {
        ethertype = frame.readUInt16BE(16);
        l3 = 18;
      }
    } else if (linktype === 113) {
      if (frame.length < 16) continue;
      ethertype = frame.readUInt16BE(14);
      l3 = 16;
    } else if (linktype === 101 || linktype === 12) {
      ethertype = (frame[0] >> 4) === 6 ? 0x86dd : 0x0800;
      l3 = 0;
    } else continue;
    let proto: number;
    let l4: number;
    let src: string;
    let dst: string;
    if (ethertype === 0x0800) {
      const ihl = (frame[l3] & 0x0f) * 4;
      proto = frame[l3 + 9];
      src = [...frame.subarray(l3 + 12, l3 + 16)].join('.');
      dst = [...frame.subarray(l3 + 16, l3 + 20)].join('.');
      l4 = l3 + ihl;
    } else if (ethertype === 0x86dd) {
      proto = frame[l3 + 6];
      const hex = (o: number): string => frame.subarray(o, o + 16).toString('hex').replace(/(.{4})(?!$)/g, '$1:');
      src = hex(l3 + 8);
      dst = hex(l3 + 24);
      l4 = l3 + 40;
    } else continue;
    if (proto !== 17 || l4 + 8 > frame.length) continue;
    const udpLen = frame.readUInt16BE(l4 + 4);
    out.push({
      ts,
      src,
      dst,
      srcPort: frame.readUInt16BE(l4),
      dstPort: frame.readUInt16BE(l4 + 2),
      payload: Buffer.from(frame.subarray(l4 + 8, Math.min(frame.length, l4 + udpLen))),
    });
  }
  return out;
}
