import type { Logger } from '../log.js';
import { MeshDialer, type MeshNames } from './dial.js';
import { Socks5Server } from './socks5.js';
import type { NetStack } from './stack.js';

// The local proxies of a userspace node (`weft up --tun=userspace --socks5 ... --http-proxy ...`):
// how programs that know nothing of Weft reach mesh peers without root.

export interface FrontDoorOptions {
  socks5?: { host: string; port: number };
  httpProxy?: { host: string; port: number };
}

export interface FrontDoors {
  /** One line per listening proxy, for the CLI. */
  describe(): string[];
  close(): Promise<void>;
}

const hostPort = (a: { host: string; port: number }): string => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);

export async function startFrontDoors(agent: MeshNames & { netstack: NetStack | null }, opts: FrontDoorOptions, logger?: Logger): Promise<FrontDoors> {
  if (!agent.netstack) throw new Error('front doors need the userspace stack');
  const dialer = new MeshDialer(agent.netstack, agent);
  const lines: string[] = [];
  const closers: Array<() => Promise<void>> = [];
  try {
    if (opts.socks5) {
      const socks = new Socks5Server((h, p) => dialer.dial(h, p), logger);
      const at = await socks.listen(opts.socks5.port, opts.socks5.host);
      closers.push(() => socks.close());
      lines.push(`SOCKS5 proxy on ${hostPort(at)}`);
      logger?.info({ socks5: hostPort(at) }, 'socks5 proxy listening');
    }
  } catch (err) {
    await Promise.all(closers.map((c) => c()));
    throw err;
  }
  return { describe: () => lines, close: async () => void (await Promise.all(closers.map((c) => c()))) };
}
