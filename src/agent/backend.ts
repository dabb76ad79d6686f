import ipaddr from 'ipaddr.js';
import { keyFromBase64, type PrivateKey } from '../crypto/keys.js';
import { type DnsConfig, type FilterRule, type NetMap, type NodeView, type RelayInfo } from '../wire/control.js';
import { FORWARD_RULES_VERSION } from '../wire/version.js';
import type { Endpoint } from '../io/endpoint.js';
import type { DeviceConfig } from '../wireguard/config.js';
import { allowedIpsFor, isUsable } from './netmap.js';
import type { NetmapUpdate } from './netmap-source.js';

// The agent's backend: owns the netmap state (ourselves, the peers the engine runs, the
// filter, DNS and relay config) as a NetmapSource delivers it, and derives from it what
// the local backend (local-backend.ts) applies: the engine config (Device.reconfigure), the
// packet-filter rules, the MagicDNS input, and the inputs of the route controller.
// No OS, socket or engine access here: tests drive it with the in-memory source.

const EVERYWHERE = ['0.0.0.0/0', '::/0'];
/** What a v2 coordinator (no packetFilter in the netmap) means: allow all. */
const ALLOW_ALL: FilterRule[] = [{ srcs: EVERYWHERE, ports: [[0, 65535]] }];
/** A coordinator before v5 sends no forwarding rules: routing stays governed by peer visibility. */
const FORWARD_ALL: FilterRule = { srcs: EVERYWHERE, dsts: EVERYWHERE, ports: [[0, 65535]] };

/** This node as the netmap describes it (also what the agent persists). */
export interface SelfInfo {
  node: NodeView;
  domain: string;
  ipv4Range: string;
  ipv6Range: string;
}

/** What one update changed, so the wiring re-applies only that. */
export interface BackendChange {
  full: boolean;
  /** Peers were added, removed or changed: rebuild the engine config, routes and DNS. */
  peers: boolean;
  /** Our own node or addressing changed (persist it, re-address the interface). */
  self: boolean;
  filter: boolean;
  dns: boolean;
  /** Only on a full netmap (absent from older coordinators). */
  relays: RelayInfo[] | undefined;
}

/**
 * Where the engine should send to a peer: `view` now, `previous` as of the last engine
 * config (undefined when new). Undefined keeps what the engine has (e.g. roamed).
 */
export type EndpointPolicy = (view: NodeView, previous: NodeView | undefined) => Endpoint | string | null | undefined;

export interface EngineConfigInput {
  privateKey: PrivateKey;
  endpoint: EndpointPolicy;
  /** Extra allowed IPs of a peer beyond its /32 and /128 (approved subnet and exit routes). */
  routesFor: (v: NodeView) => readonly string[];
}

/** The input of MagicDNS (magic-dns.ts update). */
export interface DnsInput extends SelfInfo {
  self: NodeView;
  peers: NodeView[];
  dns: DnsConfig;
}

export class NetmapBackend {
  /** The usable peers, by base64 public key. */
  readonly peers = new Map<string, NodeView>();
  self: SelfInfo | null;
  seq = -1;
  version = 0;
  /** The filter as the source sent it (the cache keeps this). */
  filterRules: FilterRule[] = [];
  dns: DnsConfig | null = null;
  relays: RelayInfo[] | undefined;
  /** Peers as of the last engineConfig(): what the engine was told. */
  private configured = new Map<string, NodeView>();

  /** `selfKey`: our public key (base64), never a peer; `self`: what was persisted, until a netmap says more. */
  constructor(
    private readonly selfKey: string,
    self: SelfInfo | null = null,
  ) {
    this.self = self;
  }

  /** The coordinator speaks v5: its filter holds the forwarding rules. */
  get forwardRules(): boolean {
    return this.version >= FORWARD_RULES_VERSION;
  }

  /** Takes one update; null when it is stale (a delta already in a newer full netmap). */
  apply(u: NetmapUpdate): BackendChange | null {
    if (u.type === 'full') {
      const nm = u.netmap;
      this.seq = nm.seq;
      this.version = nm.version;
      this.relays = nm.relays;
      const before = this.peersText();
      this.peers.clear();
      for (const v of nm.peers) if (v.publicKey !== this.selfKey && isUsable(v) && !this.peers.has(v.publicKey)) this.peers.set(v.publicKey, v);
      const self = this.setSelf({ node: nm.self, domain: nm.domain, ipv4Range: nm.ipv4Range, ipv6Range: nm.ipv6Range });
      this.filterRules = nm.packetFilter ?? ALLOW_ALL;
      if (nm.dns) this.dns = nm.dns;
      return { full: true, peers: before !== this.peersText(), self, filter: true, dns: nm.dns !== undefined, relays: nm.relays };
    }
    if (u.seq <= this.seq) return null;
    this.seq = u.seq;
    let peers = false;
    for (const v of u.upserts) {
      if (v.publicKey === this.selfKey) continue;
      if (!isUsable(v)) peers = this.peers.delete(v.publicKey) || peers;
      else if (JSON.stringify(this.peers.get(v.publicKey)) !== JSON.stringify(v)) {
        this.peers.set(v.publicKey, v);
        peers = true;
      }
    }
    for (const k of u.removals) peers = this.peers.delete(k) || peers;
    const self = u.self && this.self ? this.setSelf({ ...this.self, node: u.self }) : false;
    if (u.packetFilter) this.filterRules = u.packetFilter;
    if (u.dns) this.dns = u.dns;
    return { full: false, peers, self, filter: u.packetFilter !== undefined, dns: u.dns !== undefined, relays: undefined };
  }

  /** The whole engine config for Device.reconfigure. */
  engineConfig(input: EngineConfigInput): DeviceConfig {
    const peers = [...this.peers.values()].map((v) => ({
      publicKey: keyFromBase64(v.publicKey),
      allowedIps: allowedIpsFor(v, input.routesFor(v)),
      endpoint: input.endpoint(v, this.configured.get(v.publicKey)),
      // A peer new to the engine that is online: handshake now (the device breaks crossings).
      initiate: v.online,
    }));
    this.configured = new Map(this.peers);
    return { privateKey: input.privateKey, peers };
  }

  /** The packet-filter rules to enforce (a pre-v5 coordinator's filter gets FORWARD_ALL). */
  filterConfig(): { rules: FilterRule[]; localAddresses: string[] } {
    return { rules: this.forwardRules ? this.filterRules : [...this.filterRules, FORWARD_ALL], localAddresses: this.self ? [this.self.node.ipv4, this.self.node.ipv6] : [] };
  }

  /** MagicDNS input; null until a DNS config arrived. */
  dnsConfig(): DnsInput | null {
    if (!this.self || !this.dns) return null;
    return { ...this.self, self: this.self.node, peers: [...this.peers.values()], dns: this.dns };
  }

  /** The netmap as it stands, for the cache (netmap.json). */
  netmap(): NetMap | null {
    const s = this.self;
    if (!s) return null;
    return {
      version: this.version,
      seq: this.seq,
      domain: s.domain,
      ipv4Range: s.ipv4Range,
      ipv6Range: s.ipv6Range,
      self: s.node,
      peers: [...this.peers.values()],
      packetFilter: this.filterRules,
      ...(this.dns ? { dns: this.dns } : {}),
      ...(this.relays ? { relays: this.relays } : {}),
    };
  }

  /** Finds a peer by name, fqdn (trailing dot optional) or mesh address. */
  findPeer(target: string): NodeView | undefined {
    const t = target.toLowerCase().replace(/\.$/, '');
    const ip = ipaddr.isValid(t) ? ipaddr.parse(t).toString() : null;
    for (const v of this.peers.values()) {
      if (v.name.toLowerCase() === t || v.fqdn.toLowerCase().replace(/\.$/, '') === t) return v;
      if (ip !== null && (v.ipv4 === ip || ipaddr.parse(v.ipv6).toString() === ip)) return v;
    }
    return undefined;
  }

  private setSelf(next: SelfInfo): boolean {
    const text = (s: SelfInfo | null) => JSON.stringify(s);
    const changed = text(this.self) !== text(next);
    this.self = next;
    return changed;
  }

  private peersText(): string {
    return JSON.stringify([...this.peers.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
  }
}
