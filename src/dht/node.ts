import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { KEY_LEN, type PrivateKey } from '../crypto/keys.js';
import type { Endpoint } from '../io/endpoint.js';
import { PairSealer, parseIamDatagram, whoisDatagram } from '../serverless/seal.js';
import type { GossipTransport } from '../serverless/transport.js';
import { keyId } from '../serverless/trust.js';
import { idHex, nodeIdOf, randomIdInBucket, type NodeId } from './id.js';
import { lookup, type LookupContact, type LookupResult } from './lookup.js';
import { checkRecord, type PeerRecord } from './records.js';
import { RoutingTable, type Contact } from './routing.js';
import { Rpc, type Peer } from './rpc.js';
import { RecordStore } from './store.js';
import { Kind } from '../serverless/wire.js';
import { DHT_FRAMING, DHT_MAGIC, dhtPacketKind, encodeDhtMessage, K, type DhtMessage } from './wire.js';

// One DHT node: the wiring of sealing (serverless/seal.ts, trust set checked before any
// X25519), the routing table, requests, lookups and the record store, on an injected
// GossipTransport (the agent's UDP socket, or FakeGossipNetwork in simulations).
// Table entry only for nodes that answered us: a response puts its sender in; a request
// from a node we do not know gets a PING back first. Nothing thrown escapes receive().

export const ALPHA = 3;
const REFRESH_MS = 15 * 60_000;
/** Bootstrap WHOIS answers we wait for (a stranger's IAM is never asked for). */
const MAX_WHOIS = 64;
const ID_CACHE = 8192;
const LIVE_MS = 60_000;

export interface DhtNodeOptions {
  privateKey: PrivateKey;
  publicKey: Uint8Array;
  transport: GossipTransport;
  /** Keys (base64) allowed to talk to us and to have records: serverless mode's trust set. */
  trusted: (keyId: string) => boolean;
  clock?: Clock;
  random?: () => number;
  k?: number;
  alpha?: number;
  timeoutMs?: number;
  subnetLimit?: number;
  maxRecords?: number;
  maxPending?: number;
}

export interface DhtCounters {
  rx: number;
  tx: number;
  malformed: number;
  untrusted: number;
  unauthenticated: number;
  replayed: number;
  /** STORE or VALUE records that failed records.ts checks. */
  badRecords: number;
  /** Receive handler threw (a bug; counted, the packet dropped). */
  errors: number;
}

export class DhtNode {
  readonly id: NodeId;
  readonly keyId: string;
  readonly table: RoutingTable;
  readonly store: RecordStore;
  readonly rpc: Rpc;
  readonly counters: DhtCounters = { rx: 0, tx: 0, malformed: 0, untrusted: 0, unauthenticated: 0, replayed: 0, badRecords: 0, errors: 0 };
  readonly k: number;
  /** Settable: the benchmark compares α = 1 and α = 3 on one network. */
  alpha: number;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly sealer: PairSealer<Uint8Array, DhtMessage>;
  private readonly ids = new Map<string, NodeId>();
  private readonly whois = new Set<string>();
  /** Ids being pinged (eviction checks, unknown requesters): one ping each at a time. */
  private readonly pinging = new Set<string>();
  private refreshTimer: TimerHandle | null = null;
  private stopped = false;

  constructor(private readonly o: DhtNodeOptions) {
    this.clock = o.clock ?? systemClock;
    this.random = o.random ?? Math.random;
    this.k = o.k ?? K;
    this.alpha = o.alpha ?? ALPHA;
    this.id = nodeIdOf(o.publicKey);
    this.keyId = keyId(o.publicKey);
    this.table = new RoutingTable(this.id, { k: this.k, subnetLimit: o.subnetLimit });
    this.store = new RecordStore(o.maxRecords);
    this.sealer = new PairSealer(o.privateKey, o.publicKey, DHT_FRAMING);
    this.rpc = new Rpc({ clock: this.clock, timeoutMs: o.timeoutMs, maxPending: o.maxPending, random: this.random }, (to, m) => this.send(to, m));
    o.transport.onReceive((data, from) => this.receive(data, from));
  }

  /** Join through `HOST:PORT`s whose keys we do not know (WHOIS; again if called again); then refresh periodically. */
  bootstrap(endpoints: readonly Endpoint[]): void {
    for (const ep of endpoints) {
      if (this.whois.size >= MAX_WHOIS && !this.whois.has(ep.key)) break;
      this.whois.add(ep.key);
      this.o.transport.send(ep, whoisDatagram(DHT_MAGIC, Kind.Whois));
    }
    this.scheduleRefresh();
  }

  /** A node we know by key and endpoint (a gossip member, a test): pinged, and in the table once it answers. */
  addContact(key: Uint8Array, endpoint: Endpoint): void {
    const c = this.admit(key, endpoint);
    if (c) this.ping(c);
  }

  /** Iterative FIND_NODE for `target`. */
  findNode(target: NodeId, done: (r: LookupResult) => void): void {
    this.lookup(target, 'findNode', done);
  }

  /** The valid record of the node with X25519 key `key`, or null. */
  findRecord(key: Uint8Array, done: (r: PeerRecord | null, l: LookupResult) => void): void {
    const id = nodeIdOf(key);
    const local = this.store.get(id, this.clock.wallNow());
    this.lookup(
      id,
      'findValue',
      (l) => {
        // The one we hold may be newer; it is checked again (the trust set may have changed).
        const mine = local && this.validRecord(local) ? local : null;
        done(mine && (!l.record || mine.seq > l.record.seq) ? mine : l.record, l);
      },
      (r) => r.key.length === key.length && r.key.every((b, i) => b === key[i]),
    );
  }

  /** STOREs `record` at the k nodes closest to its id; `done(accepted)` counts the nodes that took it. */
  publish(record: PeerRecord, done: (accepted: number, l: LookupResult) => void = () => {}): void {
    const id = nodeIdOf(record.key);
    // We serve it too: a lookup passing through us, or a DHT of one, still finds it.
    this.store.put(record, this.clock.wallNow());
    this.findNode(id, (l) => {
      let left = l.closest.length;
      let accepted = 0;
      if (left === 0) return done(0, l);
      for (const c of l.closest) {
        this.rpc.request(c, { type: 'store', record }, (m) => {
          if (m?.type === 'stored' && m.accepted) accepted++;
          if (--left === 0) done(accepted, l);
        });
      }
    });
  }

  stop(): void {
    this.stopped = true;
    if (this.refreshTimer) this.clock.clearTimeout(this.refreshTimer);
    this.rpc.close();
    this.o.transport.close();
  }

  private lookup(target: NodeId, type: 'findNode' | 'findValue', done: (r: LookupResult) => void, accept?: (r: PeerRecord) => boolean): void {
    lookup(
      target,
      this.closest(target),
      type,
      {
        k: this.k,
        alpha: this.alpha,
        query: (to, t, tg, cb) =>
          this.rpc.request(to, { type: t, target: tg }, (m) => {
            if (!m) this.table.failed(to.id);
            cb(m);
          }),
        admit: (key, ep) => this.admit(key, ep),
        acceptRecord: (r) => (accept?.(r) ?? false) && this.validRecord(r),
      },
      done,
    );
  }

  /** The k closest contacts still in the trust set; those no longer in it (revoked, deauthorized) leave the table. */
  private closest(target: NodeId): Contact[] {
    for (;;) {
      const out = this.table.closest(target, this.k);
      const gone = out.filter((c) => !this.o.trusted(c.keyId));
      if (gone.length === 0) return out;
      for (const c of gone) this.table.remove(c.id);
    }
  }

  /** The id of `key` (cached: ids are looked up per datagram). */
  idOf(key: Uint8Array, id: string = keyId(key)): NodeId {
    let n = this.ids.get(id);
    if (!n) {
      if (this.ids.size >= ID_CACHE) this.ids.clear();
      this.ids.set(id, (n = nodeIdOf(key)));
    }
    return n;
  }

  /** A contact for a trusted key other than ours; null otherwise. */
  private admit(key: Uint8Array, endpoint: Endpoint): LookupContact | null {
    const id = keyId(key);
    if (id === this.keyId || !this.o.trusted(id)) return null;
    return { id: this.idOf(key, id), key, keyId: id, endpoint };
  }

  private validRecord(r: PeerRecord): boolean {
    const ok = checkRecord(r, this.o.trusted, this.clock.wallNow()) === 'ok';
    if (!ok) this.counters.badRecords++;
    return ok;
  }

  private ping(c: LookupContact | Contact, done: (alive: boolean) => void = () => {}): void {
    const h = idHex(c.id);
    if (this.pinging.has(h)) return done(false);
    this.pinging.add(h);
    this.rpc.request(c, { type: 'ping' }, (m) => {
      this.pinging.delete(h);
      if (!m) this.table.failed(c.id);
      done(m !== null);
    });
  }

  /** `c` answered a request: into the table, or behind a full bucket whose oldest we then ping. */
  private answered(c: LookupContact): void {
    const now = this.clock.now();
    const r = this.table.seen(c, now);
    // The oldest heard from within LIVE_MS counts as alive without a ping.
    if (r.status === 'full' && now - r.oldest.lastSeen > LIVE_MS) this.ping(r.oldest);
  }

  private send(to: Peer, m: DhtMessage): boolean {
    if (this.stopped) return false;
    const pkt = this.sealer.seal(to.key, to.keyId, encodeDhtMessage(m), this.clock.wallNow());
    if (!pkt) return false;
    this.counters.tx++;
    this.o.transport.send(to.endpoint, pkt);
    return true;
  }

  private receive(data: Uint8Array, from: Endpoint): void {
    if (this.stopped) return;
    this.counters.rx++;
    try {
      this.dispatch(data, from);
    } catch {
      this.counters.errors++;
    }
  }

  private dispatch(data: Uint8Array, from: Endpoint): void {
    const kind = dhtPacketKind(data);
    if (kind === Kind.Whois) {
      if (data.length === DHT_MAGIC.length + 1 + KEY_LEN) this.o.transport.send(from, whoisDatagram(DHT_MAGIC, Kind.Iam, this.o.publicKey));
      else this.counters.malformed++;
      return;
    }
    if (kind === Kind.Iam) {
      const key = parseIamDatagram(DHT_MAGIC, data);
      if (!key || !this.whois.delete(from.key)) return void this.counters.malformed++;
      const c = this.admit(key, from);
      if (!c) return void this.counters.untrusted++;
      return this.ping(c, (alive) => alive && this.join());
    }
    const r = this.sealer.open(data, this.o.trusted, this.clock.wallNow());
    if (!r.ok) return void this.counters[r.reason]++;
    const peer: LookupContact = { id: this.idOf(r.sender, r.senderId), key: r.sender, keyId: r.senderId, endpoint: from };
    const m = r.value;
    switch (m.type) {
      case 'pong':
      case 'nodes':
      case 'value':
      case 'stored':
        if (this.rpc.resolve(r.senderId, m)) this.answered(peer);
        return;
      case 'ping':
        this.send(peer, { type: 'pong', reqId: m.reqId });
        break;
      case 'findNode':
        this.send(peer, { type: 'nodes', reqId: m.reqId, contacts: this.closest(m.target) });
        break;
      case 'findValue': {
        const rec = this.store.get(m.target, this.clock.wallNow());
        this.send(peer, rec ? { type: 'value', reqId: m.reqId, record: rec } : { type: 'nodes', reqId: m.reqId, contacts: this.closest(m.target) });
        break;
      }
      case 'store': {
        const ok = this.validRecord(m.record) && this.store.put(m.record, this.clock.wallNow()) === 'stored';
        this.send(peer, { type: 'stored', reqId: m.reqId, accepted: ok });
        break;
      }
    }
    // A requester we do not know: in only after it answers a ping of ours. Not for a
    // PING itself: pinging back every pinger would chain (our ping of a full bucket's
    // oldest contact would make it ping us, fill its bucket, ping its oldest, …).
    if (m.type !== 'ping' && !this.table.get(peer.id)) this.ping(peer);
  }

  /**
   * Joining (Kademlia §2.3): a lookup of our own id fills the buckets near us, then one
   * lookup of a random id in each farther bucket fills those, so our first lookups do not
   * all funnel through the bootstrap node.
   */
  join(done: () => void = () => {}): void {
    this.findNode(this.id, () => {
      let left = this.table.bucketCount - 1;
      if (left <= 0) return done();
      for (let i = 0; i < this.table.bucketCount - 1; i++) this.findNode(randomIdInBucket(this.id, i, this.random), () => --left === 0 && done());
    });
  }

  private refreshSelf(): void {
    this.findNode(this.id, () => {});
  }

  /** Every REFRESH_MS: a lookup of our own id and of a random id in one bucket, so tables heal after churn. */
  private scheduleRefresh(): void {
    if (this.refreshTimer || this.stopped) return;
    this.refreshTimer = this.clock.setTimeout(() => {
      this.refreshTimer = null;
      this.refreshSelf();
      const i = Math.floor(this.random() * this.table.bucketCount);
      this.findNode(randomIdInBucket(this.id, i, this.random), () => {});
      this.scheduleRefresh();
    }, REFRESH_MS);
  }
}
