import type { Duplex } from 'node:stream';
import ipaddr from 'ipaddr.js';
import { PacketBatch } from '../io/batch.js';
import { tunSlotSize } from '../io/tun-linux.js';
import { silentLogger, type Logger } from '../log.js';
import type { LwipAddon } from './lwip.js';
import { addrText, parsePacket, portAt, PROTO_TCP, rewriteTcp, TCP_ACK, TCP_SYN, type PacketInfo } from './redirect.js';
import { splice } from './splice.js';
import { NetStack } from './stack.js';
import { TcpServer } from './tcp-server.js';
import type { TcpSocket } from './tcp-socket.js';

// Accepts TCP connections to ANY destination, like Tailscale's netstack forwarder: IP
// packets from the host (the TUN) go into a private lwIP instance, redirected to its one
// listening port (redirect.ts); each accepted connection is handed to `dial` with the
// destination the client meant, and the two are spliced. Used by `--exit-circuit` to
// carry the host's outside traffic into the onion circuit (src/agent/circuit-tun.ts).
//
// Bounds: at most `maxConnections` flows (pending or open); a SYN beyond that, or one
// that would reuse a live client port for another destination, is dropped and counted
// (the client retries or gives up). Anything that is not TCP is dropped and counted by
// the caller's choice of what to hand in (`input` counts it too).

/** The stack's own addresses: never on the wire, only inside this process. */
const STACK4 = Uint8Array.from(ipaddr.parse('192.0.0.8').toByteArray());
const STACK6 = Uint8Array.from(ipaddr.parse('100::8').toByteArray());
/** A flow whose SYN lwIP never turned into a connection is forgotten after this. */
const PENDING_MS = 10_000;
/** A closed flow keeps its mapping this long, for lwIP's last FIN/ACKs and retransmits. */
const LINGER_MS = 3_000;

export interface ForwarderStats {
  /** Connections accepted and handed to dial. */
  accepted: number;
  /** SYNs dropped: too many flows, or a client port reused for another destination. */
  refused: number;
  /** Connections whose dial failed (reset toward the client). */
  dialFailed: number;
  /** Packets that were not TCP (or were fragments / malformed). */
  nonTcpDropped: number;
  /** TCP packets of no known flow (not a SYN), dropped. */
  unknownFlow: number;
  /** Flows now tracked (a closed one lingers a few seconds). */
  flows: number;
}

export interface ForwarderOptions {
  /** Opens the onward connection to the destination the client meant. */
  dial: (host: string, port: number) => Promise<Duplex>;
  /** lwIP's packets to the client, already rewritten to come from the destination; zero-length slots are to be skipped. */
  output: (batch: PacketBatch) => void;
  mtu?: number;
  maxConnections?: number;
  /** For tests: a given lwIP (default: select.ts's choice). */
  addon?: LwipAddon;
  logger?: Logger;
}

interface Flow {
  host: string;
  addr: Uint8Array;
  port: number;
  since: number;
  socket: TcpSocket | null;
  /** When its connection closed (0: open or pending). */
  closedAt: number;
}

export class TcpForwarder {
  readonly stats: ForwarderStats = { accepted: 0, refused: 0, dialFailed: 0, nonTcpDropped: 0, unknownFlow: 0, flows: 0 };
  private readonly stack: NetStack;
  private readonly server: TcpServer;
  private readonly flows = new Map<string, Flow>();
  private readonly max: number;
  private readonly logger: Logger;
  private port = 0;
  private readonly one: PacketBatch;
  private closed = false;

  constructor(private readonly opts: ForwarderOptions) {
    this.max = opts.maxConnections ?? 256;
    this.logger = opts.logger ?? silentLogger;
    this.stack = new NetStack({ mtu: opts.mtu, addon: opts.addon });
    this.one = new PacketBatch(1, tunSlotSize(this.stack.mtu, this.stack.headroom));
    this.stack.setAddresses('192.0.0.8', '100::8');
    this.stack.start({ onPackets: (b) => this.fromStack(b), onClose: () => {} });
    this.server = new TcpServer(this.stack, { allowHalfOpen: true });
    this.server.on('connection', (s: TcpSocket) => this.accept(s));
    this.server.listen(0);
    this.port = this.server.address()!.port;
  }

  /** Which lwIP build runs the forwarder. */
  get kind(): 'addon' | 'wasm' {
    return this.stack.kind;
  }

  /** A packet from the host to an outside destination: buf[off .. off+len] (copied). Never throws. */
  input(buf: Uint8Array, off: number, len: number): void {
    if (this.closed) return;
    try {
      const p = parsePacket(buf, off, len);
      if (!p || p.proto !== PROTO_TCP || p.l4 < 0) return void this.stats.nonTcpDropped++;
      const key = flowKey(buf, p, p.src, p.l4);
      let flow = this.flows.get(key);
      const dport = portAt(buf, p.l4 + 2);
      const isSyn = (p.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
      // A SYN on a closed flow's client port starts a new flow.
      if (flow && flow.closedAt !== 0 && isSyn) {
        this.forget(key);
        flow = undefined;
      }
      if (flow && !sameDest(flow, buf, p, dport)) {
        // A live flow owns this client port; a new SYN to elsewhere cannot be told apart.
        if (isSyn && flow.socket === null && Date.now() - flow.since > PENDING_MS) this.forget(key);
        else return void (isSyn ? this.stats.refused++ : this.stats.unknownFlow++);
        flow = undefined;
      }
      if (!flow) {
        if (!isSyn) return void this.stats.unknownFlow++;
        this.sweep();
        if (this.flows.size >= this.max) return void this.stats.refused++;
        // A copy: `buf` is the caller's batch (a Buffer, whose slice() is a view), reused
        // for the next packets read from the TUN.
        const addr = Uint8Array.from(buf.subarray(p.dst, p.dst + p.addrLen));
        flow = { host: ipaddr.fromByteArray([...addr]).toString(), addr, port: dport, since: Date.now(), socket: null, closedAt: 0 };
        this.flows.set(key, flow);
        this.stats.flows = this.flows.size;
      }
      this.feed(buf.subarray(off, off + len), p.v6);
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'forwarder: packet dropped');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const f of this.flows.values()) f.socket?.destroy();
    this.flows.clear();
    this.server.close();
    await this.stack.stop();
  }

  /** Hands one packet to lwIP with its destination redirected to our listener. */
  private feed(packet: Uint8Array, v6: boolean): void {
    const b = this.one;
    b.reset();
    if (!b.push(packet, this.stack.headroom)) return void this.stats.nonTcpDropped++;
    rewriteTcp(b.data, parsePacket(b.data, b.start(0), b.lengths[0])!, 'dst', v6 ? STACK6 : STACK4, this.port);
    this.stack.write(b);
    b.reset();
  }

  private accept(s: TcpSocket): void {
    const key = `${normal(s.remoteAddress)}|${s.remotePort}`;
    const flow = this.flows.get(key);
    if (!flow || flow.socket) return void s.resetAndDestroy();
    flow.socket = s;
    this.stats.accepted++;
    this.logger.debug({ host: flow.host, port: flow.port }, 'forwarder: connection accepted');
    s.pause();
    s.once('close', () => {
      flow.closedAt = Date.now();
      setTimeout(() => this.flows.get(key) === flow && this.forget(key), LINGER_MS).unref();
    });
    s.on('error', () => {});
    this.opts.dial(flow.host, flow.port).then(
      (up) => {
        if (s.destroyed) return void up.destroy();
        splice(s, up);
        s.resume();
      },
      (err: Error) => {
        this.stats.dialFailed++;
        this.logger.debug({ host: flow.host, port: flow.port, err: err.message }, 'forwarder: dial failed');
        s.resetAndDestroy();
      },
    );
  }

  /** lwIP's packets to clients: the source becomes the destination the client dialled. */
  private fromStack(b: PacketBatch): void {
    for (let i = 0; i < b.count; i++) {
      const off = b.start(i);
      const p = parsePacket(b.data, off, b.lengths[i]);
      const flow = p && p.proto === PROTO_TCP && p.l4 >= 0 ? this.flows.get(flowKey(b.data, p, p.dst, p.l4 + 2)) : undefined;
      if (!p || !flow) {
        b.lengths[i] = 0;
        continue;
      }
      rewriteTcp(b.data, p, 'src', flow.addr, flow.port);
    }
    try {
      this.opts.output(b);
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'forwarder: output failed');
    }
  }

  private forget(key: string): void {
    this.flows.delete(key);
    this.stats.flows = this.flows.size;
  }

  /** Drops flows whose SYN never became a connection. */
  private sweep(): void {
    if (this.flows.size < this.max) return;
    const now = Date.now();
    for (const [k, f] of this.flows) if ((f.socket === null && now - f.since > PENDING_MS) || (f.closedAt !== 0 && now - f.closedAt > LINGER_MS)) this.forget(k);
  }
}

/** The client end of a flow: its address (at `addrAt`) and port (at `portOff`). */
function flowKey(buf: Uint8Array, p: PacketInfo, addrAt: number, portOff: number): string {
  return `${addrText(buf, addrAt, p.addrLen)}|${portAt(buf, portOff)}`;
}

function sameDest(f: Flow, buf: Uint8Array, p: PacketInfo, port: number): boolean {
  if (f.port !== port || f.addr.length !== p.addrLen) return false;
  for (let i = 0; i < p.addrLen; i++) if (f.addr[i] !== buf[p.dst + i]) return false;
  return true;
}

const normal = (a: string): string => {
  const x = ipaddr.parse(a);
  return x.kind() === 'ipv6' ? (x as ipaddr.IPv6).toNormalizedString() : x.toString();
};
