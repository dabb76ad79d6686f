import { createSocket, type Socket } from 'node:dgram';
import { PacketBatch } from '../io/batch.js';
import type { BindEvents } from '../io/bind.js';
import { ENDPOINT_BYTES, Endpoint } from '../io/endpoint.js';
import type { Logger } from '../log.js';
import { synthIndex } from '../nat/synthetic.js';

// The data path between an external engine (wireguard-go) and the agent's NAT traversal
// (MagicBind on the second port) for peers without a direct path of the engine's own: per
// peer one loopback UDP socket that the engine's endpoint for the peer points at.
// Datagrams the engine sends there go to MagicBind under the peer's synthetic endpoint
// (which picks the relay, or the disco socket's direct path); WireGuard MagicBind
// delivers for the peer goes to the engine from that socket, so the engine sees one
// stable source per peer. docs/BACKENDS.md.

/** Datagrams handed to the kernel and not yet sent, per socket; past it we drop. */
export const MAX_IN_FLIGHT = 256;
const LOOPBACK = '127.0.0.1';

export interface PeerProxyStats {
  /** Engine -> MagicBind (to the peer) and MagicBind -> engine (from the peer). */
  fromEngine: number;
  toEngine: number;
  /** Dropped: queue full, no path, or sent to a proxy by someone other than the engine. */
  drops: number;
  strangers: number;
}

export interface PeerProxiesOptions {
  /** The engine's UDP port on this host (where WireGuard from peers goes). */
  enginePort: () => number;
  /** Sends the engine's datagram to the peer (MagicBind.send with its synthetic endpoint). */
  send: (batch: PacketBatch, synthetic: Endpoint) => number;
  logger: Logger;
  /** A proxy for a new peer is ready: the engine config can point at it now. */
  onReady: () => void;
}

interface Proxy {
  b64: string;
  synth: Endpoint;
  sock: Socket;
  /** The loopback endpoint the engine sends to; null until bound. */
  local: Endpoint | null;
  inFlight: number;
}

export class PeerProxies implements BindEvents {
  readonly stats: PeerProxyStats = { fromEngine: 0, toEngine: 0, drops: 0, strangers: 0 };
  private readonly byPeer = new Map<string, Proxy>();
  /** By the synthetic endpoint's index: inbound lookup without a string per packet. */
  private readonly bySynth = new Map<number, Proxy>();
  private readonly one = new PacketBatch(1, 65536);
  private closed = false;

  constructor(private readonly o: PeerProxiesOptions) {}

  /**
   * Keeps one proxy per peer in `synthetic` (base64 key -> synthetic endpoint), closes the
   * others; returns each peer's engine endpoint: its direct WireGuard address when `direct`
   * has one, else the loopback endpoint of its proxy once bound.
   */
  sync(synthetic: ReadonlyMap<string, Endpoint>, direct: (b64: string) => Endpoint | null = () => null): Map<string, Endpoint> {
    const out = new Map<string, Endpoint>();
    for (const [b64, synth] of synthetic) {
      let p = this.byPeer.get(b64);
      if (p && !p.synth.equals(synth)) {
        this.drop(p);
        p = undefined;
      }
      p ??= this.open(b64, synth);
      // Kept while direct: the fallback when the direct path goes.
      const ep = direct(b64) ?? p?.local;
      if (ep) out.set(b64, ep);
    }
    for (const p of [...this.byPeer.values()]) if (!synthetic.has(p.b64)) this.drop(p);
    return out;
  }

  /** The loopback endpoint the engine uses for the peer, or null. */
  localFor(b64: string): Endpoint | null {
    return this.byPeer.get(b64)?.local ?? null;
  }

  /** WireGuard from MagicBind (sources are synthetic endpoints): on to the engine. */
  onReceive(batch: PacketBatch, sources: Uint8Array): void {
    const port = this.o.enginePort();
    for (let i = 0; i < batch.count; i++) {
      const p = this.bySynth.get(synthIndex(sources, i * ENDPOINT_BYTES));
      if (!p?.local || p.inFlight >= MAX_IN_FLIGHT || port === 0) {
        this.stats.drops++;
        continue;
      }
      p.inFlight++;
      try {
        // The batch is reused after we return: send a copy.
        p.sock.send(Buffer.from(batch.packet(i)), port, LOOPBACK, () => p.inFlight--);
        this.stats.toEngine++;
      } catch {
        // closed under us (peer removed)
        p.inFlight--;
        this.stats.drops++;
      }
    }
  }

  close(): void {
    this.closed = true;
    for (const p of [...this.byPeer.values()]) this.drop(p);
  }

  private open(b64: string, synth: Endpoint): Proxy | undefined {
    if (this.closed) return undefined;
    const sock = createSocket('udp4');
    const p: Proxy = { b64, synth, sock, local: null, inFlight: 0 };
    this.byPeer.set(b64, p);
    this.bySynth.set(synthIndex(synth.bytes), p);
    sock.on('error', (err) => this.o.logger.warn({ peer: b64.slice(0, 8), err: err.message }, 'peer proxy socket failed'));
    sock.on('message', (msg, rinfo) => this.fromEngine(p, msg, rinfo.address, rinfo.port));
    sock.bind(0, LOOPBACK, () => {
      if (this.byPeer.get(b64) !== p) return;
      p.local = Endpoint.of(LOOPBACK, sock.address().port);
      this.o.onReady();
    });
    return p;
  }

  private fromEngine(p: Proxy, msg: Buffer, address: string, port: number): void {
    // Only the engine may send through a proxy: anything else on loopback is dropped.
    if (address !== LOOPBACK || port !== this.o.enginePort()) {
      this.stats.strangers++;
      return;
    }
    const b = this.one;
    b.reset();
    if (!b.push(msg)) return;
    try {
      if (this.o.send(b, p.synth) > 0) this.stats.fromEngine++;
      else this.stats.drops++;
    } catch {
      this.stats.drops++;
    } finally {
      b.reset();
    }
  }

  private drop(p: Proxy): void {
    this.byPeer.delete(p.b64);
    this.bySynth.delete(synthIndex(p.synth.bytes));
    try {
      p.sock.close();
    } catch {
      // not bound yet or already closed
    }
  }
}
