import { rm } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import { MeshDialer, type MeshNames } from './dial.js';
import { HttpProxy } from './http-proxy.js';
import { Socks5Server } from './socks5.js';
import type { NetStack } from './stack.js';
import { socksSocketPath } from '../agent/state.js';

// The local proxies of a userspace node (`weft up --tun=userspace --socks5 ... --http-proxy ...`):
// how programs that know nothing of Weft reach mesh peers without root (and, with
// `--exit-circuit`, outside destinations through the onion circuit: `route`).

export interface FrontDoorOptions {
  /** The agent's state dir: `weft nc` and `weft curl` find its SOCKS5 socket there. */
  stateDir: string;
  socks5?: { host: string; port: number };
  httpProxy?: { host: string; port: number };
  /**
   * Connections the agent carries elsewhere (`--exit-circuit`: outside destinations into
   * the onion circuit): a connection promise when it takes host:port, null for the mesh.
   */
  route?: (host: string, port: number) => Promise<Duplex> | null;
}

export interface FrontDoors {
  /** One line per listening proxy, for the CLI. */
  describe(): string[];
  close(): Promise<void>;
}

/** The unix socket of the agent's local SOCKS5 proxy. */
export { socksSocketPath };

const hostPort = (a: { host: string; port: number }): string => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);

export async function startFrontDoors(agent: MeshNames & { netstack: NetStack | null }, opts: FrontDoorOptions, logger?: Logger): Promise<FrontDoors> {
  if (!agent.netstack) throw new Error('front doors need the userspace stack');
  const dialer = new MeshDialer(agent.netstack, agent);
  const lines: string[] = [];
  const closers: Array<() => Promise<void>> = [];
  const dial = (h: string, p: number): Promise<Duplex> => opts.route?.(h, p) ?? dialer.dial(h, p);
  try {
    // Always: the state dir's socket (0700 dir: this user only) for `weft nc` and `weft curl`.
    const local = new Socks5Server(dial, logger);
    const path = socksSocketPath(opts.stateDir);
    await rm(path, { force: true });
    await local.listenPath(path);
    closers.push(() => local.close());
    const doors = [
      { what: 'SOCKS5 proxy', at: opts.socks5, door: () => new Socks5Server(dial, logger) },
      { what: 'HTTP proxy', at: opts.httpProxy, door: () => new HttpProxy(dial, logger) },
    ];
    for (const { what, at, door } of doors) {
      if (!at) continue;
      const d = door();
      const bound = hostPort(await d.listen(at.port, at.host));
      closers.push(() => d.close());
      lines.push(`${what} on ${bound}`);
      logger?.info({ proxy: what, listen: bound }, 'proxy listening');
    }
  } catch (err) {
    await Promise.all(closers.map((c) => c()));
    throw err;
  }
  return { describe: () => lines, close: async () => void (await Promise.all(closers.map((c) => c()))) };
}
