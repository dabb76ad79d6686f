import { createSocket } from 'node:dgram';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import ipaddr from 'ipaddr.js';
import type { LocalPrefix } from './netmap.js';

// The endpoints a node advertises: its interface addresses with the WireGuard port,
// leaving out the mesh interface itself, loopback, link-local and mesh addresses (a
// peer could never reach us through the tunnel it is trying to set up), and IPv6
// unique-local ones (site-scoped: a LAN peer has our IPv4 LAN address, and a remote one
// would only probe a ULA it cannot route). Global IPv6 goes along: behind a firewall
// without NAT it is the public endpoint.

export type InterfaceLister = () => NodeJS.Dict<NetworkInterfaceInfo[]>;

export interface LocalAddresses {
  /** Addresses that make usable endpoints, as CIDRs (also used for same-subnet checks). */
  prefixes: LocalPrefix[];
}

export function localAddresses(list: InterfaceLister, meshIface: string, meshRanges: readonly string[]): LocalAddresses {
  const ranges = meshRanges.flatMap((r) => {
    try {
      return [ipaddr.parseCIDR(r)];
    } catch {
      return [];
    }
  });
  const prefixes: LocalPrefix[] = [];
  for (const [name, addrs] of Object.entries(list())) {
    if (name === meshIface || !addrs) continue;
    for (const a of addrs) {
      if (a.internal || !a.cidr) continue;
      let ip: ipaddr.IPv4 | ipaddr.IPv6;
      try {
        ip = ipaddr.parse(a.address.split('%')[0]);
      } catch {
        continue;
      }
      const range = ip.range();
      if (range === 'linkLocal' || range === 'loopback' || range === 'unspecified' || range === 'uniqueLocal' || range === 'multicast') continue;
      if (ranges.some(([net, bits]) => net.kind() === ip.kind() && ip.match([net, bits] as never))) continue;
      prefixes.push({ cidr: a.cidr });
    }
  }
  return { prefixes };
}

export function endpointsFor(local: LocalAddresses, port: number): string[] {
  return local.prefixes.map(({ cidr }) => {
    const ip = cidr.split('/')[0];
    return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
  });
}

export const systemInterfaces: InterfaceLister = () => networkInterfaces();

/**
 * A UDP port free right now, for a node's first registration: its endpoints go with it,
 * and the engine binds the port right after (falling back to any port if it was taken).
 */
export function pickUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
