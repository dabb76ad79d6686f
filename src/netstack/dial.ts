import { isIP } from 'node:net';
import { NetstackError } from './errors.js';
import type { NetStack } from './stack.js';
import { dialTcp, type TcpSocket } from './tcp-socket.js';

// Dialing mesh peers by name or address over the userspace stack: what the SOCKS5 and
// HTTP proxies, `weft nc`/`weft curl` and the embedding API share. Names come from the
// agent's MagicDNS data (peer name or fqdn), so no DNS server is involved.

export interface MeshNames {
  /** A peer by name, fqdn or mesh address (Agent.findPeer). */
  findPeer(target: string): { ipv4: string; ipv6: string } | undefined;
}

const DIAL_TIMEOUT_MS = 15_000;

export class MeshDialer {
  constructor(
    readonly stack: NetStack,
    private readonly names: MeshNames,
  ) {}

  /** An IP literal as it is, else the peer's IPv4 (IPv6 with `v6`); ERR_UNKNOWN_HOST otherwise. */
  resolve(host: string, v6 = false): string {
    const h = host.replace(/^\[(.*)\]$/, '$1');
    if (isIP(h)) return h;
    const p = this.names.findPeer(h);
    if (!p) throw new NetstackError('ERR_UNKNOWN_HOST', `${JSON.stringify(host)} is not a mesh peer or an IP address`);
    return v6 ? p.ipv6 : p.ipv4;
  }

  /** Connects to host:port; resolves once connected (ECONNREFUSED, ETIMEDOUT... otherwise). */
  dial(host: string, port: number, timeoutMs = DIAL_TIMEOUT_MS): Promise<TcpSocket> {
    return new Promise((resolve, reject) => {
      let s: TcpSocket;
      try {
        s = dialTcp(this.stack, this.resolve(host), port);
      } catch (err) {
        reject(err);
        return;
      }
      const timer = setTimeout(() => s.destroy(new NetstackError('ETIMEDOUT', `connecting to ${host}:${port} timed out`)), timeoutMs);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        reject(err);
      };
      s.once('error', fail);
      s.once('connect', () => {
        clearTimeout(timer);
        s.off('error', fail);
        resolve(s);
      });
    });
  }
}
