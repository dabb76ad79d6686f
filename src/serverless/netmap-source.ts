import { keyFromBase64 } from '../crypto/keys.js';
import { Endpoint } from '../io/endpoint.js';
import type { DnsConfig, FilterRule, NetMap, NodeView, RelayInfo } from '../wire/control.js';
import { CONTROL_PROTOCOL_VERSION } from '../wire/version.js';
import type { NetmapSink, NetmapSource } from '../agent/netmap-source.js';
import { memberRelays } from './relay-map.js';
import type { SwimNode } from './swim.js';
import type { ServerlessChange, ServerlessMember, ServerlessView } from './view.js';

// ServerlessView as the agent's NetmapSource: the trusted members that are alive or
// suspect become the peers (derived IPv4/IPv6 as allowed IPs, advertised endpoints,
// member name for MagicDNS); a full netmap on start (and after the trust set is
// reloaded, or when the relay members change: the agent takes relays from full netmaps
// only), then one delta per membership change. `dead` and `revoked` remove the peer,
// so the engine drops it (and its tunnel) at once.
//
// Decisions (docs/SERVERLESS.md): the domain is the coordinator's default
// (weft.internal), so names read the same in both modes; MagicDNS answers on the same
// 100.100.100.100, which the address range (100.80.0.0/12) keeps clear of. There is no
// policy without a coordinator: the filter admits the mesh ranges, which means exactly
// the trusted members, because the engine only has trusted members as peers and its
// allowed IPs tie each mesh address to the one key it was derived from.

export const SERVERLESS_DOMAIN = 'weft.internal';
export const SERVERLESS_RESOLVER_IPV4 = '100.100.100.100';
/** Carried in NodeView.createdAt, which serverless mode does not know. */
const NO_TIME = new Date(0).toISOString();
const RELAY_PREFIX = 'relay:';

export interface ServerlessSourceOptions {
  view: ServerlessView;
  node: SwimNode;
  domain?: string;
  /** Serve MagicDNS names (default true). */
  magicDns?: boolean;
}

export class ServerlessNetmapSource implements NetmapSource {
  private sink: NetmapSink | null = null;
  private seq = 0;
  private readonly domain: string;
  private reported: Endpoint[] = [];
  private observed: Endpoint | null = null;
  /** The relay map last sent, to tell when a full netmap must carry a new one. */
  private relaysText = '[]';
  private readonly onChange = (c: ServerlessChange): void => this.change(c);

  constructor(private readonly o: ServerlessSourceOptions) {
    this.domain = o.domain ?? SERVERLESS_DOMAIN;
  }

  get connected(): boolean {
    return this.sink !== null;
  }

  start(sink: NetmapSink): void {
    this.sink = sink;
    sink.onConnectedChange(true);
    this.resync();
    this.o.view.on('change', this.onChange);
  }

  async stop(): Promise<void> {
    this.o.view.off('change', this.onChange);
    const sink = this.sink;
    this.sink = null;
    sink?.onConnectedChange(false);
  }

  /** The whole netmap again (after the trust set or address plan changed). */
  resync(): void {
    this.sink?.onUpdate({ type: 'full', netmap: this.netmap() });
  }

  netmap(): NetMap {
    const members = this.o.view.members();
    const self = members.find((m) => m.self);
    if (!self) throw new Error('the membership has no self entry');
    const { plan } = this.o.view;
    return {
      version: CONTROL_PROTOCOL_VERSION,
      seq: ++this.seq,
      domain: this.domain,
      ipv4Range: plan.ipv4Range,
      ipv6Range: plan.ipv6Range,
      self: memberNodeView(self, this.domain),
      peers: members.filter((m) => !m.self && isPeer(m)).map((m) => memberNodeView(m, this.domain)),
      packetFilter: this.filter(),
      dns: this.dns(),
      relays: this.relays(members),
    };
  }

  /** Our advertised endpoints (local + STUN-mapped, + the mapping members observe) go out in our next `alive`. */
  reportEndpoints(endpoints: readonly string[]): boolean {
    this.reported = endpoints.flatMap((e) => {
      if (e.startsWith(RELAY_PREFIX)) return [];
      try {
        return [Endpoint.parse(e)];
      } catch {
        return [];
      }
    });
    this.advertise();
    return true;
  }

  /** The NAT mapping most members see us at (rendezvous.ts): advertised after our own. */
  setObserved(ep: Endpoint): void {
    this.observed = ep;
    this.advertise();
  }

  private advertise(): void {
    const o = this.observed;
    const eps = o && !this.reported.some((e) => e.equals(o)) ? [...this.reported, o] : this.reported;
    const { membership } = this.o.node;
    const now = membership.self.endpoints;
    if (eps.length > 0 && (eps.length !== now.length || eps.some((e, i) => !e.equals(now[i])))) {
      membership.setSelf(eps, membership.self.relay);
      if (this.relaysChanged()) this.resync();
    }
  }

  /** Serverless mode has nobody to approve subnet routes: only "none" is delivered. */
  reportRoutes(routes: readonly string[]): boolean {
    return routes.length === 0;
  }

  private change(c: ServerlessChange): void {
    const m = c.member;
    if (!this.sink || m.self) return;
    if (this.relaysChanged()) return this.resync();
    const gone = c.type === 'dead' || c.type === 'revoked' || !isPeer(m);
    this.sink.onUpdate({ type: 'delta', seq: ++this.seq, upserts: gone ? [] : [memberNodeView(m, this.domain)], removals: gone ? [m.publicKey] : [] });
  }

  private relays(members: readonly ServerlessMember[]): RelayInfo[] {
    const relays = memberRelays(members);
    this.relaysText = JSON.stringify(relays);
    return relays;
  }

  private relaysChanged(): boolean {
    return JSON.stringify(memberRelays(this.o.view.members())) !== this.relaysText;
  }

  private filter(): FilterRule[] {
    const { plan } = this.o.view;
    return [{ srcs: [plan.ipv4Range, plan.ipv6Range], ports: [[0, 65535]] }];
  }

  private dns(): DnsConfig {
    return { magicDns: this.o.magicDns ?? true, resolverIPv4: SERVERLESS_RESOLVER_IPV4, routes: {} };
  }
}

/** A member the engine should run: reachable by gossip, with addresses from the plan. */
function isPeer(m: ServerlessMember): boolean {
  return (m.state === 'alive' || m.state === 'suspect') && m.ipv4 !== null && m.ipv6 !== null;
}

/** A member as the agent's NodeView (what peers, MagicDNS and `weft status` use). */
export function memberNodeView(m: ServerlessMember, domain: string): NodeView {
  const key = keyFromBase64(m.publicKey);
  return {
    // A stable small number per key (NodeView needs one; nothing in serverless mode keys on it).
    id: ((key[0] << 23) | (key[1] << 15) | (key[2] << 7) | (key[3] >> 1)) >>> 0,
    name: m.name,
    fqdn: `${m.name}.${domain}`,
    ipv4: m.ipv4!,
    ipv6: m.ipv6!,
    publicKey: m.publicKey,
    endpoints: m.endpoints,
    online: m.state !== 'dead',
    lastSeen: null,
    createdAt: NO_TIME,
    expiresAt: null,
    ephemeral: false,
    tags: m.relay ? ['relay'] : [],
    user: null,
  };
}
