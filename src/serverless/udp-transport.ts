import { PacketBatch } from '../io/batch.js';
import type { Endpoint } from '../io/endpoint.js';
import type { MagicBind } from '../nat/magicsock.js';
import type { GossipTransport } from './transport.js';
import { GOSSIP_DEMUX_BYTE, isGossipPacket, MAX_DATAGRAM } from './wire.js';

// The real GossipTransport: the agent's one UDP socket, shared with WireGuard, STUN and
// disco. MagicBind hands over the datagrams whose first byte is GOSSIP_DEMUX_BYTE and
// that carry the whole gossip magic (wire.ts explains why that byte never collides), and
// our sends leave from the same socket, so NAT mappings found for gossip serve the
// tunnel too. Counters say what was dropped; nothing thrown reaches the socket.

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

  constructor(private readonly magic: MagicBind) {
    magic.foreign = {
      accepts: (pkt) => pkt[0] === GOSSIP_DEMUX_BYTE && isGossipPacket(pkt),
      receive: (pkt, from) => this.receive(pkt, from),
    };
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
    this.magic.foreign = null;
  }

  private receive(pkt: Uint8Array, from: Endpoint): void {
    this.counters.rx++;
    try {
      // A copy: the socket's receive batch is reused for the next datagrams.
      this.handler?.(pkt.slice(), from);
    } catch {
      this.counters.rxErrors++;
    }
  }
}
