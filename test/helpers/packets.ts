import ipaddr from 'ipaddr.js';

// Builds minimal but valid IPv4/IPv6 UDP packets for tests (checksums included).
export function udpPacket(src: string, dst: string, srcPort: number, dstPort: number, payload: Uint8Array): Buffer {
  const s = Buffer.from(ipaddr.parse(src).toByteArray());
  const d = Buffer.from(ipaddr.parse(dst).toByteArray());
  const udpLen = 8 + payload.length;
  const udp = Buffer.alloc(udpLen);
  udp.writeUInt16BE(srcPort, 0);
  udp.writeUInt16BE(dstPort, 2);
  udp.writeUInt16BE(udpLen, 4);
  udp.set(payload, 8);
  if (s.length === 4) {
    const ip = Buffer.alloc(20);
    ip[0] = 0x45;
    ip.writeUInt16BE(20 + udpLen, 2);
    ip[8] = 64;
    ip[9] = 17;
    s.copy(ip, 12);
    d.copy(ip, 16);
    ip.writeUInt16BE(checksum(ip), 10);
    const pseudo = Buffer.concat([s, d, Buffer.from([0, 17, udpLen >> 8, udpLen & 0xff]), udp]);
    udp.writeUInt16BE(checksum(pseudo) || 0xffff, 6);
    return Buffer.concat([ip, udp]);
  }
  const ip = Buffer.alloc(40);
  ip[0] = 0x60;
  ip.writeUInt16BE(udpLen, 4);
  ip[6] = 17;
  ip[7] = 64;
  s.copy(ip, 8);
  d.copy(ip, 24);
  const lenBuf = Buffer.alloc(4);
  lenBuf.writeUInt32BE(udpLen);
  const pseudo = Buffer.concat([s, d, lenBuf, Buffer.from([0, 0, 0, 17]), udp]);
  udp.writeUInt16BE(checksum(pseudo) || 0xffff, 6);
  return Buffer.concat([ip, udp]);
}

export function checksum(b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (b.length % 2) sum += b[b.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
