import { PacketBatch } from '../io/batch.js';
import type { FakeBind, FakeNetwork } from '../io/bind-fake.js';
import { ENDPOINT_BYTES, Endpoint } from '../io/endpoint.js';
import { answerStun } from './stun-server.js';

// A NAT simulator for the FakeNetwork `translate` hook (tests only). Each site has an
// inside address prefix and a public IP:
//   eim      endpoint-independent mapping (one public port per inside socket), filtering
//            by remote ip:port like Linux conntrack (inbound only from where we sent);
//   edm      endpoint-dependent mapping: a fresh random public port per destination;
//   blocked  no outbound UDP at all (only the relay over TCP works).
// Inside addresses are unreachable from other sites; hosts of the same site talk
// directly. Public hosts (no site) are reached by everyone.

export type FakeNatKind = 'eim' | 'edm' | 'blocked';

interface Mapping {
  fwd: FakeBind;
  port: number;
  inside: FakeBind;
  allowed: Set<string>;
}

export class FakeNatSite {
  private readonly mappings = new Map<string, Mapping>();
  readonly stats = { out: 0, inAllowed: 0, inFiltered: 0, blocked: 0 };

  constructor(
    private readonly net: FakeNetwork,
    readonly kind: FakeNatKind,
    /** e.g. '10.1.0.' */
    readonly insidePrefix: string,
    readonly publicIp: string,
    private readonly random: () => number = Math.random,
  ) {}

  contains(ip: string): boolean {
    return ip.startsWith(this.insidePrefix);
  }

  /** Forgets every mapping (a NAT reboot / conntrack expiry). */
  expire(): void {
    for (const m of this.mappings.values()) void m.fwd.close();
    this.mappings.clear();
  }

  /** @internal */
  translate(from: Endpoint, to: Endpoint, sender: FakeBind): Endpoint | null {
    if (this.kind === 'blocked') {
      this.stats.blocked++;
      return null;
    }
    const key = this.kind === 'eim' ? from.key : `${from.key}>${to.key}`;
    let m = this.mappings.get(key);
    if (!m) {
      const fwd = this.net.bind(this.publicIp);
      let port = 0;
      if (this.kind === 'eim') port = from.port;
      for (let tries = 0; tries < 64 && (port === 0 || this.used(port)); tries++) port = 1024 + Math.floor(this.random() * 64000);
      const mapping = { port, inside: sender, allowed: new Set<string>(), fwd };
      void fwd.open(port, {
        onReceive: (batch, sources) => {
          for (let i = 0; i < batch.count; i++) {
            const src = Endpoint.fromBytes(sources, i * 18);
            if (!mapping.allowed.has(src.key)) {
              this.stats.inFiltered++;
              continue;
            }
            this.stats.inAllowed++;
            mapping.inside.deliver([{ data: Uint8Array.prototype.slice.call(batch.packet(i)) as Uint8Array, from: src }]);
          }
        },
      });
      m = mapping;
      this.mappings.set(key, m);
    }
    m.allowed.add(to.key);
    this.stats.out++;
    return Endpoint.of(this.publicIp, m.port);
  }

  private used(port: number): boolean {
    for (const m of this.mappings.values()) if (m.port === port) return true;
    return false;
  }
}

/** Installs the sites on the network's translate hook. */
export function installNat(net: FakeNetwork, sites: FakeNatSite[]): void {
  net.translate = (from, to, sender) => {
    const src = sites.find((s) => s.contains(from.ip));
    const dst = sites.find((s) => s.contains(to.ip));
    if (src && dst === src) return from; // same LAN
    if (dst) return null; // a private address of another site: not routable
    if (!src) return from; // a public host
    return src.translate(from, to, sender);
  };
}

/** A STUN server on the FakeNetwork at ip:port (the public host tests probe). */
export async function fakeStunServer(net: FakeNetwork, ip: string, port: number): Promise<FakeBind> {
  const server = net.bind(ip);
  const reply = new PacketBatch(1, 256);
  await server.open(port, {
    onReceive(batch, sources) {
      for (let i = 0; i < batch.count; i++) {
        const from = Endpoint.fromBytes(sources, i * ENDPOINT_BYTES);
        const ans = answerStun(batch.packet(i), from);
        if (ans.kind !== 'response') continue;
        reply.reset();
        reply.push(ans.bytes);
        server.send(reply, from);
      }
    },
  });
  return server;
}
