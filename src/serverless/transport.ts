import type { Clock } from '../clock.js';
import type { Endpoint } from '../io/endpoint.js';

// The gossip transport, injected: the real one will be the agent's UDP socket, handing
// over datagrams whose first byte is GOSSIP_DEMUX_BYTE (wire.ts). FakeGossipNetwork
// below is its in-memory fake for simulations: delivery through the injected clock,
// with latency and random loss, and byte counts for the benchmarks.

export interface GossipTransport {
  /** Best effort, like UDP; never throws. */
  send(to: Endpoint, data: Uint8Array): void;
  onReceive(handler: (data: Uint8Array, from: Endpoint) => void): void;
  close(): void;
}

export interface FakeNetworkOptions {
  /** Probability each datagram is lost, 0…1. */
  loss?: number;
  latencyMs?: number;
  random?: () => number;
}

export class FakeGossipNetwork {
  private readonly nodes = new Map<string, (data: Uint8Array, from: Endpoint) => void>();
  private readonly down = new Set<string>();
  /** Pairs `a|b` that cannot reach each other (two NATs), both ways. */
  private readonly blocked = new Set<string>();
  readonly sentBytes = new Map<string, number>();
  loss: number;
  private readonly latency: number;
  private readonly random: () => number;

  constructor(
    private readonly clock: Clock,
    opts: FakeNetworkOptions = {},
  ) {
    this.loss = opts.loss ?? 0;
    this.latency = opts.latencyMs ?? 1;
    this.random = opts.random ?? Math.random;
  }

  attach(addr: Endpoint): GossipTransport {
    const net = this;
    return {
      send(to, data) {
        net.sentBytes.set(addr.key, (net.sentBytes.get(addr.key) ?? 0) + data.length);
        if (net.down.has(addr.key) || net.blocked.has(`${addr.key}|${to.key}`) || net.random() < net.loss) return;
        const copy = data.slice();
        net.clock.setTimeout(() => {
          if (!net.down.has(to.key)) net.nodes.get(to.key)?.(copy, addr);
        }, net.latency);
      },
      onReceive(handler) {
        net.nodes.set(addr.key, handler);
      },
      close() {
        net.nodes.delete(addr.key);
      },
    };
  }

  /** `a` and `b` cannot reach each other (each behind its own NAT); others still reach both. `blocked = false` lifts it. */
  block(a: Endpoint, b: Endpoint, blocked = true): void {
    for (const k of [`${a.key}|${b.key}`, `${b.key}|${a.key}`]) {
      if (blocked) this.blocked.add(k);
      else this.blocked.delete(k);
    }
  }

  /** A crashed host: it neither sends nor receives until `setDown(addr, false)`. */
  setDown(addr: Endpoint, down = true): void {
    if (down) this.down.add(addr.key);
    else this.down.delete(addr.key);
  }
}
