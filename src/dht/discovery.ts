import type { Clock, TimerHandle } from '../clock.js';
import type { PrivateKey } from '../crypto/keys.js';
import type { Endpoint } from '../io/endpoint.js';
import type { SwimNode } from '../serverless/swim.js';
import type { GossipTransport } from '../serverless/transport.js';
import { keyId, type TrustSet } from '../serverless/trust.js';
import { DhtNode } from './node.js';
import { MAX_RECORD_ENDPOINTS, MAX_RECORD_RELAYS, MAX_RECORD_TTL_MS, signRecord, type PeerRecord } from './records.js';
import { signingKeyFromX25519, type SigningKey } from './sign.js';

// Serverless discovery through the DHT (`weft up --serverless --discovery dht|both`):
// - we publish our signed record (our advertised endpoints, and the relay members we
//   know, so a finder that cannot reach us directly can join through one) at the k nodes
//   closest to our id, again at half its lifetime and at once when the endpoints change;
//   its sequence is max(last + 1, Unix ms), so it also rises across restarts;
// - we look up the records of the trust-set members SWIM does not know alive, a few
//   each tick, and hand their endpoints to SWIM as seeds (SwimNode.addSeed, the path
//   `--seed` and mDNS take): the membership and netmap come from SWIM as before;
// - SWIM members we know become DHT contacts, so the two help each other in `both`.

/** `--discovery`: how serverless members find each other beyond mDNS. */
export type DiscoveryMode = 'swim' | 'dht' | 'both';
export const DISCOVERY_MODES: readonly DiscoveryMode[] = ['swim', 'dht', 'both'];

export interface DhtDiscoveryConfig {
  /** Between ticks (publish check, lookups). */
  intervalMs: number;
  /** Lifetime of our record; republished at half of it. */
  recordTtlMs: number;
  /** Member lookups per tick. */
  lookupsPerTick: number;
  /** Request timeout. */
  timeoutMs: number;
}

export const DEFAULT_DHT_DISCOVERY: DhtDiscoveryConfig = { intervalMs: 10_000, recordTtlMs: 30 * 60_000, lookupsPerTick: 4, timeoutMs: 1000 };
/** SWIM members made DHT contacts per tick. */
const CONTACTS_PER_TICK = 8;

export interface DhtDiscoveryOptions {
  privateKey: PrivateKey;
  publicKey: Uint8Array;
  trust: TrustSet;
  swim: SwimNode;
  transport: GossipTransport;
  clock: Clock;
  config?: Partial<DhtDiscoveryConfig>;
}

export interface DhtDiscoveryCounters {
  published: number;
  lookups: number;
  found: number;
}

/** The DHT in `weft status --json` (`dht`). */
export interface DhtStatus {
  /** Nodes in our routing table. */
  contacts: number;
  /** Records we hold for others (and ours). */
  records: number;
  /** Our signed record: its sequence, expiry, and how many times some node took it. */
  published: { seq: number; expiresAt: string; stores: number } | null;
  /** Lookups of members SWIM does not have alive, and how many found a record. */
  lookups: number;
  found: number;
  rx: number;
  tx: number;
  /** Malformed, untrusted, unauthenticated, replayed messages and records failing their checks. */
  dropped: number;
}

export class DhtDiscovery {
  readonly node: DhtNode;
  readonly counters: DhtDiscoveryCounters = { published: 0, lookups: 0, found: 0 };
  private readonly config: DhtDiscoveryConfig;
  private readonly signer: SigningKey;
  private record: PeerRecord | null = null;
  private timer: TimerHandle | null = null;
  private cursor = 0;
  private contactCursor = 0;
  private readonly inFlight = new Set<string>();
  private bootstrap: readonly Endpoint[] = [];

  constructor(private readonly o: DhtDiscoveryOptions) {
    this.config = { ...DEFAULT_DHT_DISCOVERY, ...o.config };
    this.config.recordTtlMs = Math.min(this.config.recordTtlMs, MAX_RECORD_TTL_MS);
    this.signer = signingKeyFromX25519(o.privateKey);
    this.node = new DhtNode({ privateKey: o.privateKey, publicKey: o.publicKey, transport: o.transport, trusted: (id) => o.trust.isMember(id), clock: o.clock, timeoutMs: this.config.timeoutMs });
  }

  start(bootstrap: readonly Endpoint[]): void {
    this.bootstrap = bootstrap;
    this.node.bootstrap(bootstrap);
    this.schedule(Math.min(1000, this.config.intervalMs));
  }

  stop(): void {
    if (this.timer) this.o.clock.clearTimeout(this.timer);
    this.timer = null;
    this.node.stop();
  }

  /** What `weft status` shows: the table, the records we hold, ours, and the lookups. */
  status(): DhtStatus {
    const n = this.node;
    return {
      contacts: n.table.size,
      records: n.store.size,
      published: this.record ? { seq: this.record.seq, expiresAt: new Date(this.record.expiresAt).toISOString(), stores: this.counters.published } : null,
      lookups: this.counters.lookups,
      found: this.counters.found,
      rx: n.counters.rx,
      tx: n.counters.tx,
      dropped: n.counters.malformed + n.counters.untrusted + n.counters.unauthenticated + n.counters.replayed + n.counters.badRecords,
    };
  }

  /** Our current record (for status and tests). */
  get published(): PeerRecord | null {
    return this.record;
  }

  private schedule(ms: number): void {
    this.timer = this.o.clock.setTimeout(() => {
      this.tick();
      this.schedule(this.config.intervalMs);
    }, ms);
  }

  private tick(): void {
    // Nobody answered yet (the bootstrap member may start after us): ask again.
    if (this.node.table.size === 0) this.node.bootstrap(this.bootstrap);
    const m = this.o.swim.membership;
    const others = m.others.filter((x) => x.state === 'alive' && x.addr);
    for (let i = 0; i < Math.min(CONTACTS_PER_TICK, others.length); i++) {
      const x = others[(this.contactCursor + i) % others.length];
      if (!this.node.table.get(this.node.idOf(x.key))) this.node.addContact(x.key, x.addr!);
    }
    this.contactCursor += CONTACTS_PER_TICK;
    this.maybePublish(m.self.endpoints, others.filter((x) => x.relay).map((x) => x.addr!));
    this.findMissing();
  }

  private maybePublish(endpoints: readonly Endpoint[], relays: readonly Endpoint[]): void {
    if (endpoints.length === 0) return;
    const now = this.o.clock.wallNow();
    const eps = endpoints.slice(0, MAX_RECORD_ENDPOINTS);
    const rel = relays.slice(0, MAX_RECORD_RELAYS);
    const r = this.record;
    const same = (a: readonly Endpoint[], b: readonly Endpoint[]): boolean => a.length === b.length && a.every((e, i) => e.equals(b[i]));
    const changed = !r || !same(r.endpoints, eps) || !same(r.relays, rel);
    const ageing = !r || r.expiresAt - now <= this.config.recordTtlMs / 2;
    // Until some node took it (we may have been alone at start), every tick tries again.
    if (!changed && !ageing && this.counters.published > 0) return;
    const rec = signRecord(this.signer, this.o.publicKey, { seq: Math.max((r?.seq ?? 0) + 1, now), expiresAt: now + this.config.recordTtlMs, endpoints: eps, relays: rel });
    this.record = rec;
    this.node.publish(rec, (accepted) => {
      if (accepted > 0) this.counters.published++;
    });
  }

  /** A few lookups per tick, round robin over the trust set members SWIM does not have alive. */
  private findMissing(): void {
    const { membership } = this.o.swim;
    const missing = this.o.trust.nodes().filter((e) => {
      const id = keyId(e.key);
      return id !== this.node.keyId && this.o.trust.isMember(id) && membership.members.get(id)?.state !== 'alive' && !this.inFlight.has(id);
    });
    for (let i = 0; i < Math.min(this.config.lookupsPerTick, missing.length); i++) {
      const e = missing[(this.cursor + i) % missing.length];
      const id = keyId(e.key);
      this.inFlight.add(id);
      this.counters.lookups++;
      this.node.findRecord(e.key, (rec) => {
        this.inFlight.delete(id);
        if (!rec) return;
        this.counters.found++;
        for (const ep of [...rec.endpoints, ...rec.relays]) this.o.swim.addSeed(ep);
      });
    }
    this.cursor += this.config.lookupsPerTick;
  }
}
