import { createSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import type { Gateway } from './types.js';

// The default IPv4 gateway from /proc/net/route (Linux), and the address we use to reach
// it: a connected UDP socket's local address (no packet is sent).

/** The gateway of the IPv4 default route in /proc/net/route text, or null. */
export function parseProcNetRoute(text: string): string | null {
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // Iface Destination Gateway Flags ...; Flags 0x3 = RTF_UP|RTF_GATEWAY; Mask field 7
    if (f.length < 8 || f[1] !== '00000000' || f[7] !== '00000000' || !/^[0-9A-Fa-f]{8}$/.test(f[2])) continue;
    if ((parseInt(f[3], 16) & 0x3) !== 0x3) continue;
    const n = parseInt(f[2], 16);
    // little-endian host order as the kernel prints it
    return `${n & 0xff}.${(n >>> 8) & 0xff}.${(n >>> 16) & 0xff}.${n >>> 24}`;
  }
  return null;
}

function localIpFor(gatewayIp: string): Promise<string | null> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.on('error', () => {
      s.close();
      resolve(null);
    });
    s.connect(5351, gatewayIp, () => {
      const ip = s.address().address;
      s.close();
      resolve(ip);
    });
  });
}

export async function defaultGateway(): Promise<Gateway | null> {
  const ip = parseProcNetRoute(await readFile('/proc/net/route', 'utf8').catch(() => ''));
  const localIp = ip ? await localIpFor(ip) : null;
  return ip && localIp ? { ip, localIp } : null;
}
