import { createServer, connect as tcpConnect, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { CELL_SIZE, decodeCell, newCellCounters, type Cell, type CellCounters } from './cells.js';

// Hop-to-hop links: one TCP connection per neighbour pair and direction of setup,
// carrying back-to-back CELL_SIZE cells (no length prefix: the size is fixed).
//
// Why TCP and not UDP: exits carry TCP streams (Tor's model, so the client's address
// never reaches the exit inside an IP header), and a stream's bytes must not be lost
// between hops; a reliable, ordered link gives that without a retransmission layer of
// our own, as Tor's TLS links do. In the agent the listener is bound to the node's mesh
// address, so links run inside the WireGuard tunnels between members: encrypted and
// authenticated hop to hop by WireGuard. The onion layers inside stay end-to-end per hop.
// Costs (documented in docs/CIRCUITS.md): head-of-line blocking between circuits that
// share a link, and TCP-over-TCP when the stream is TCP itself.
//
// Bounded: a link refuses cells (send returns false, counted) once MAX_LINK_BACKLOG
// bytes wait in the socket; the relay then destroys the affected circuit.

export const MAX_LINK_BACKLOG = 4 * 1024 * 1024;
/** A link that never completes its TCP connect is given up. */
const CONNECT_TIMEOUT_MS = 10_000;

export interface CellLink {
  /** Local name of the link ("out:host:port" or "in:N"); never sent anywhere. */
  readonly id: string;
  send(cell: Uint8Array): boolean;
  /** Bytes waiting to leave. */
  backlog(): number;
  /** The neighbour's transport address (diagnostics and tests; relays do not log it). */
  remote(): string;
  close(): void;
}

export interface LinkCounters extends CellCounters {
  cellsIn: number;
  cellsOut: number;
  /** Cells refused because the link's backlog was full or it was closed. */
  dropped: number;
  /** A cell handler threw (a bug; counted, the link carries on). */
  handlerErrors: number;
}

/** What a link runs on: Node's TCP by default, the userspace stack's on a `--tun=userspace` node. */
export type LinkSocket = Duplex & {
  setNoDelay(noDelay?: boolean): unknown;
  setTimeout(ms: number, cb?: () => void): unknown;
  readonly remoteAddress?: string;
  readonly remotePort?: number;
};

export interface LinkTransport {
  /** Listens for inbound links; resolves with the bound port and a closer. */
  listen(host: string, port: number, onConnection: (s: LinkSocket) => void): Promise<{ port: number; close(): Promise<void> }>;
  /** Starts an outbound connection ('connect' once up, 'error'/'close' if not). */
  connect(host: string, port: number): LinkSocket;
}

export interface LinkHubOptions {
  /** Called with every cell written to or read from any link (tests check sizes). */
  wireTap?: (dir: 'in' | 'out', linkId: string, cell: Uint8Array) => void;
  transport?: LinkTransport;
}

/** Node's TCP. */
export const nodeTransport: LinkTransport = {
  async listen(host, port, onConnection) {
    const server: Server = createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const a = server.address();
    return { port: typeof a === 'object' && a ? a.port : port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  },
  connect: (host, port) => tcpConnect({ host, port }),
};

export function parseAddress(address: string): { host: string; port: number } | null {
  const m = /^\[?([^\]\s]+?)\]?:(\d{1,5})$/.exec(address);
  if (!m) return null;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: m[1], port } : null;
}

class TcpLink implements CellLink {
  private pending: Buffer = Buffer.alloc(0);
  private closed = false;
  private corked = false;

  constructor(
    readonly id: string,
    private readonly socket: LinkSocket,
    private readonly hub: TcpLinkHub,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.receive(d));
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
  }

  send(cell: Uint8Array): boolean {
    if (this.closed || cell.length !== CELL_SIZE || this.socket.writableLength > MAX_LINK_BACKLOG) {
      this.hub.counters.dropped++;
      return false;
    }
    this.hub.opts.wireTap?.('out', this.id, cell);
    this.hub.counters.cellsOut++;
    // Cells made in one tick leave in one write (one syscall instead of one per cell).
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(cell);
    return true;
  }

  backlog(): number {
    return this.socket.writableLength;
  }

  remote(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.hub.linkClosed(this);
  }

  private receive(d: Buffer): void {
    let buf = this.pending.length ? Buffer.concat([this.pending, d]) : d;
    let off = 0;
    for (; buf.length - off >= CELL_SIZE && !this.closed; off += CELL_SIZE) {
      const raw = new Uint8Array(buf.buffer, buf.byteOffset + off, CELL_SIZE);
      this.hub.opts.wireTap?.('in', this.id, raw);
      const cell = decodeCell(raw, this.hub.counters);
      if (!cell) continue;
      this.hub.counters.cellsIn++;
      try {
        this.hub.onCell(this, cell);
      } catch {
        this.hub.counters.handlerErrors++;
      }
    }
    buf = buf.subarray(off);
    // Copy the remainder so a large read's buffer is not kept alive by a few bytes.
    this.pending = buf.length ? Buffer.from(buf) : Buffer.alloc(0);
  }
}

/** All links of one node: a listener for inbound links and outbound links by address. */
export class TcpLinkHub {
  readonly counters: LinkCounters = { ...newCellCounters(), cellsIn: 0, cellsOut: 0, dropped: 0, handlerErrors: 0 };
  onCell: (link: CellLink, cell: Cell) => void = () => {};
  onLinkClosed: (link: CellLink) => void = () => {};
  private server: { close(): Promise<void> } | null = null;
  private readonly outbound = new Map<string, TcpLink>();
  private readonly links = new Set<TcpLink>();
  private inboundSeq = 0;

  constructor(readonly opts: LinkHubOptions = {}) {}

  /** Listens for inbound links; returns the bound port. */
  async listen(host: string, port: number): Promise<number> {
    const l = await (this.opts.transport ?? nodeTransport).listen(host, port, (s) => this.adopt(`in:${++this.inboundSeq}`, s));
    this.server = l;
    return l.port;
  }

  /** The outbound link to `address` ("host:port"), reused when one is open; null if unparsable. */
  connect(address: string): CellLink | null {
    const existing = this.outbound.get(address);
    if (existing) return existing;
    const a = parseAddress(address);
    if (!a) return null;
    const s = (this.opts.transport ?? nodeTransport).connect(a.host, a.port);
    s.setTimeout(CONNECT_TIMEOUT_MS, () => s.destroy());
    s.once('connect', () => s.setTimeout(0));
    const link = this.adopt(`out:${address}`, s);
    this.outbound.set(address, link);
    return link;
  }

  linkClosed(link: TcpLink): void {
    this.links.delete(link);
    for (const [k, v] of this.outbound) if (v === link) this.outbound.delete(k);
    this.onLinkClosed(link);
  }

  linkCount(): number {
    return this.links.size;
  }

  async close(): Promise<void> {
    for (const l of [...this.links]) l.close();
    const server = this.server;
    this.server = null;
    await server?.close();
  }

  private adopt(id: string, s: LinkSocket): TcpLink {
    const link = new TcpLink(id, s, this);
    this.links.add(link);
    return link;
  }
}
