import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import { parsePrefix } from '../net/prefix.js';
import { PrefixTrie } from '../net/prefix-trie.js';
import { TcpForwarder, type ForwarderStats } from '../netstack/forwarder.js';
import type { Device } from '../wireguard/device.js';

// `weft up --exit-circuit N` on the kernel TUN: the host's outside traffic enters the
// circuit like it would an exit node. The routes are the exit-node ones (routing.ts:
// default routes into the interface, the coordinator and relays kept out, the engine's
// marked UDP untouched); the engine hands us what no peer routes (Device.onUnroutedPacket),
// and a private lwIP (netstack/forwarder.ts) accepts those TCP connections, whatever
// their destination, each one becoming one circuit stream to that destination.
// - Mesh destinations never come here: peers route them (hop-to-hop links to members'
//   <mesh IPv4>:7301 included), and an unrouted mesh address stays unrouted.
// - What the exit would refuse anyway (mesh, loopback, link-local) and multicast are
//   not taken (left unrouted, as without the circuit).
// - Non-TCP (UDP, ICMP...) to the outside is dropped and counted: a circuit carries
//   TCP streams only.

// Multicast and broadcast (IPv6 neighbour discovery, MLD...) are never outside traffic.
const LOCAL_ONLY = ['224.0.0.0/4', '255.255.255.255/32', 'ff00::/8'];

/** The destinations the circuit never takes: `blocked` (the exit's own refusals) and multicast/broadcast. */
export function circuitKeep(blocked: readonly string[]): PrefixTrie<true> {
  const keep = new PrefixTrie<true>();
  for (const r of [...blocked, ...LOCAL_ONLY]) keep.insert(parsePrefix(r), true);
  return keep;
}

export interface CircuitTunStatus extends ForwarderStats {
  /** Which lwIP build terminates the host's TCP. */
  stack: 'addon' | 'wasm';
  /** Packets handed back to the host, and those the TUN did not take. */
  toHost: number;
  toHostFailed: number;
}

export class CircuitTun {
  private readonly fwd: TcpForwarder;
  private readonly prev: Device['onUnroutedPacket'];
  private toHost = 0;
  private toHostFailed = 0;

  constructor(
    private readonly device: Device,
    /** Destinations that never enter the circuit (circuitKeep). */
    private readonly keep: PrefixTrie<true>,
    dial: (host: string, port: number) => Promise<Duplex>,
    logger: Logger,
  ) {
    this.fwd = new TcpForwarder({
      dial,
      mtu: device.mtu,
      logger,
      output: (b) => {
        let want = 0;
        for (let i = 0; i < b.count; i++) if (b.lengths[i]) want++;
        this.toHost += want;
        try {
          this.toHostFailed += want - device.tun.write(b);
        } catch (err) {
          this.toHostFailed += want;
          logger.debug({ err: (err as Error).message }, 'circuit: TUN write failed');
        }
      },
    });
    this.prev = device.onUnroutedPacket;
    device.onUnroutedPacket = (buf, off, len) => {
      if (this.keep.lookupPacket(buf, off, len, 'dst') === true) return false;
      this.fwd.input(buf, off, len);
      return true;
    };
  }

  status(): CircuitTunStatus {
    return { ...this.fwd.stats, stack: this.fwd.kind, toHost: this.toHost, toHostFailed: this.toHostFailed };
  }

  async close(): Promise<void> {
    this.device.onUnroutedPacket = this.prev;
    await this.fwd.close();
  }
}
