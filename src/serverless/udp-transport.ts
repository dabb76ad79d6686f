import { PacketBatch } from '../io/batch.js';
import type { Endpoint } from '../io/endpoint.js';
import type { ForeignProtocol, MagicBind } from '../nat/magicsock.js';
import type { GossipTransport } from './transport.js';
import { GOSSIP_DEMUX_BYTE, isGossipPacket, MAX_DATAGRAM } from './wire.js';

// The real GossipTransport: the agent's one UDP socket, shared with WireGuard, STUN and
// disco. MagicBind hands over the datagrams whose first byte is GOSSIP_DEMUX_BYTE and
// that carry the whole gossip magic (wire.ts explains why that byte never collides), and
// our sends leave from the same socket, so NAT mappings found for gossip serve the
// tunnel too. Counters say what was dropped; nothing thrown reaches the socket.
// The socket has one foreign slot; ForeignDemux shares it between the protocols by
// first byte: gossip GOSSIP_DEMUX_BYTE 0x47 'G', the DHT DHT_DEMUX_BYTE 0x4B 'K'
// (src/dht/wire.ts), each then checking its whole magic.

export interface ForeignRoute {
  /** The first byte of every datagram of the protocol. */
  byte: number;
  /** The rest of the check (the whole magic). */
  accepts(pkt: Uint8Array): boolean;
}

const GOSSIP_ROUTE: ForeignRoute = { byte: GOSSIP_DEMUX_BYTE, accepts: isGossipPacket };

class ForeignDemux implements ForeignProtocol {
  private static readonly bySocket = new WeakMap<MagicBind, ForeignDemux>();
  private readonly routes = new Map<number, ForeignProtocol>();

  private constructor(private readonly magic: MagicBind) {}

  static of(magic: MagicBind): ForeignDemux {
    let d = ForeignDemux.bySocket.get(magic);
    if (!d) ForeignDemux.bySocket.set(magic, (d = new ForeignDemux(magic)));
    return d;
  }

  add(byte: number, p: ForeignProtocol): void {
    this.routes.set(byte, p);
    this.magic.foreign = this;
  }

  remove(byte: number): void {
    this.routes.delete(byte);
    if (this.routes.size === 0 && this.magic.foreign === this) this.magic.foreign = null;
  }

  accepts(pkt: Uint8Array): boolean {
    return this.routes.get(pkt[0])?.accepts(pkt) === true;
  }

  receive(pkt: Uint8Array, from: Endpoint): void {
    this.routes.get(pkt[0])?.receive(pkt, from);
  }
}

export interface UdpTransportCounters {
  rx: number;
  tx: number;
  /** Sends the socket refused (closed, unreachable, too big). */
  txErrors: number;
  /** Receive handler threw (a bug; counted, the packet is dropped). */
  rxErrors: number;
}

export class MagicGossipTransport implements GossipTransport {
  readonly counters: UdpTransportCounters = { rx: 0, tx: 0, txErrors: 0, rxErrors: 0 };
  private readonly batch = new PacketBatch(1, MAX_DATAGRAM);
  private handler: ((data: Uint8Array, from: Endpoint) => void) | null = null;

  /** `route` picks the protocol (default gossip; the DHT passes its own). */
  constructor(
    private readonly magic: MagicBind,
    private readonly route: ForeignRoute = GOSSIP_ROUTE,
  ) {
    ForeignDemux.of(magic).add(route.byte, { accepts: (pkt) => route.accepts(pkt), receive: (pkt, from) => this.receive(pkt, from) });
  }

  send(to: Endpoint, data: Uint8Array): void {
    const b = this.batch;
    b.reset();
    try {
      if (b.push(data) && this.magic.socket.send(b, to) === 1) this.counters.tx++;
      else this.counters.txErrors++;
    } catch {
      this.counters.txErrors++;
    }
  }

  onReceive(handler: (data: Uint8Array, from: Endpoint) => void): void {
    this.handler = handler;
  }

  close(): void {
    this.handler = null;
    ForeignDemux.of(this.magic).remove(this.route.byte);
  }

  private receive(pkt: Uint8Array, from: Endpoint): void {
    this.counters.rx++;
    try {
      // A copy: the socket's receive batch is reused for the next datagrams. Not
      // pkt.slice(): pkt is a Buffer, whose slice() is a view of the batch, so keys
      // sliced out of it later would change under their holders.
      this.handler?.(Uint8Array.prototype.slice.call(pkt), from);
    } catch {
      this.counters.rxErrors++;
    }
  }
}
