import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Readable, type Duplex } from 'node:stream';
import { createAgent, type Agent } from '../agent/agent.js';
import { AgentError } from '../agent/errors.js';
import type { StatusJson } from '../agent/status.js';
import type { Logger } from '../log.js';
import { MeshDialer } from './dial.js';
import { TcpServer } from './tcp-server.js';

// The embedding API: a Node program joins the mesh as its own node, without root or a
// TUN device, and talks to peers through the userspace stack.
//
//   const weft = await Weft.join({ server, authKey, stateDir });
//   const sock = await weft.dial('db', 5432);          // a Duplex
//   weft.listen(8080).on('connection', (s) => ...);    // net.Server-like
//   const res = await weft.fetch('http://api:3000/');  // WHATWG Response
//   await weft.close();

export interface WeftJoinOptions {
  /** Coordinator URL (needed the first time; later joins reuse the saved one). */
  server?: string;
  /** Pre-auth key (needed the first time). */
  authKey?: string;
  /** Where the node's key and state live (created 0700). */
  stateDir: string;
  /** Name to ask for (default: the host name). */
  hostname?: string;
  /** Allow plain http:// to a coordinator that is not on loopback. */
  insecureHttp?: boolean;
  /** UDP port for WireGuard (default: last used, else random). */
  port?: number;
  logger?: Logger;
  /** How long join() waits for the coordinator's first netmap (default 15 s). */
  netmapTimeoutMs?: number;
}

export interface WeftFetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Give up after this long (default 30 s). */
  timeoutMs?: number;
}

const FETCH_TIMEOUT_MS = 30_000;
const NETMAP_TIMEOUT_MS = 15_000;

export class Weft {
  private readonly dialer: MeshDialer;

  private constructor(readonly agent: Agent) {
    this.dialer = new MeshDialer(agent.netstack!, agent);
  }

  /** Registers (first time) or rejoins, and resolves once the node is up. */
  static async join(opts: WeftJoinOptions): Promise<Weft> {
    const agent = createAgent({
      stateDir: opts.stateDir,
      serverUrl: opts.server,
      authKey: opts.authKey,
      hostname: opts.hostname ?? (await import('node:os')).hostname().split('.')[0],
      insecureHttp: opts.insecureHttp,
      port: opts.port,
      logger: opts.logger,
      localApi: false,
      tun: 'userspace',
    });
    await agent.start();
    // Names resolve from the netmap: wait for the coordinator's first one.
    const deadline = Date.now() + (opts.netmapTimeoutMs ?? NETMAP_TIMEOUT_MS);
    while (!agent.hasNetmap && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (!agent.hasNetmap) {
      await agent.stop();
      throw new AgentError('ERR_SERVER_UNREACHABLE', 'joined, but no netmap from the coordinator in time');
    }
    return new Weft(agent);
  }

  /** This node's name and mesh addresses. */
  get self(): { name: string; ipv4: string; ipv6: string } {
    const s = this.agent.self!;
    return { name: s.name, ipv4: s.ipv4, ipv6: s.ipv6 };
  }

  /** A TCP connection to a peer (by name, fqdn or mesh address); resolves once connected. */
  dial(peer: string, port: number): Promise<Duplex> {
    return this.dialer.dial(peer, port);
  }

  /** Listens on `port` (0 picks one) on this node's mesh addresses. */
  listen(port: number, onConnection?: (socket: Duplex) => void): TcpServer {
    const srv = new TcpServer(this.agent.netstack!);
    if (onConnection) srv.on('connection', onConnection);
    return srv.listen(port);
  }

  /** HTTP over the mesh (http:// only: the mesh already encrypts); a WHATWG Response. */
  fetch(url: string, init: WeftFetchInit = {}): Promise<Response> {
    const u = new URL(url);
    if (u.protocol !== 'http:') return Promise.reject(new TypeError(`weft.fetch speaks http:// over the mesh, got ${u.protocol}`));
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(u.port || 80);
    return new Promise((resolve, reject) => {
      this.dialer.dial(host, port).then((socket) => {
        const req = httpRequest(
          { createConnection: () => socket as never, host: u.host, path: u.pathname + u.search, method: init.method ?? 'GET', headers: { ...init.headers, host: u.host }, timeout: init.timeoutMs ?? FETCH_TIMEOUT_MS },
          (res) => {
            const body = res.statusCode === 204 || res.statusCode === 304 ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
            resolve(new Response(body, { status: res.statusCode, statusText: res.statusMessage, headers: toHeaders(res.headers) }));
          },
        );
        req.on('timeout', () => req.destroy(new Error(`weft.fetch ${url} timed out`)));
        req.on('error', reject);
        req.end(init.body);
      }, reject);
    });
  }

  status(): StatusJson {
    return this.agent.status();
  }

  /** Leaves the mesh (the node stays registered; join again with the same stateDir). */
  close(): Promise<void> {
    return this.agent.stop();
  }
}

function toHeaders(h: IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    for (const x of Array.isArray(v) ? v : [v]) out.append(k, x);
  }
  return out;
}
