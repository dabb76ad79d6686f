import ipaddr from 'ipaddr.js';
import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log.js';
import { resolveAuthKey } from './auth-keys.js';
import { badRequest, conflict, forbidden, notFound, unauthorized } from './errors.js';
import { generateUla48, Ipam } from './ipam.js';
import { generatedName, NameAllocator, sanitizeHostname } from './names.js';
import { withExitPair } from './routes.js';
import { StoreConflictError, type NodeRecord, type Store, type StoreChange } from './store/index.js';
import type { NodeView, RegisterRequest } from '../wire/control.js';
import { nodeView } from './node-view.js';

export const ONLINE_WINDOW_MS = 120_000;
export const MAGIC_DNS_IPV4 = '100.100.100.100';
export const MAGIC_DNS_IPV6 = 'fd7a:115c:a1e0::53';

export interface RegistryOptions {
  store: Store;
  clock: Clock;
  log: Logger;
  domain: string;
  ipv4Range: string;
  /** 0 = node keys never expire. */
  nodeExpiryMs: number;
  ephemeralTimeoutMs: number;
  sweepIntervalMs: number;
  /** How often nodes with a live stream are recorded as seen (for other instances). */
  heartbeatMs: number;
}

/** Told about every node change, local or from another instance, after it is applied. */
export interface RegistryListener {
  upsert(node: NodeRecord): void;
  remove(node: NodeRecord): void;
}

interface Shown {
  online: boolean;
  expired: boolean;
  view: NodeView | null;
}

const MAX_ALLOCATION_ATTEMPTS = 32;
/** Node key lifetime unless configured; also how far `extend` goes when keys never expire. */
export const DEFAULT_NODE_EXPIRY_MS = 180 * 86_400_000;

/**
 * The coordinator's in-memory view of all nodes (loaded once, then kept current from
 * its own writes and other instances' announcements), so netmaps and deltas never
 * re-read the database. The store stays the authority: every write goes there first.
 */
export class Registry {
  ipam!: Ipam;
  private readonly names = new NameAllocator();
  private readonly byId = new Map<number, NodeRecord>();
  private readonly byKey = new Map<string, NodeRecord>();
  private readonly byAddrOrName = new Map<string, NodeRecord>();
  private readonly shown = new Map<number, Shown>();
  private readonly localStreams = new Map<number, number>();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly deleting = new Set<number>();
  private remoteQueue: Promise<void> = Promise.resolve();
  private unsubscribe: (() => void) | null = null;
  private timer: TimerHandle | null = null;
  private lastHeartbeat = 0;
  listener: RegistryListener = { upsert: () => {}, remove: () => {} };
  /** Read by /metrics. */
  readonly stats = { registrations: 0 };
  /** Routes the access policy's autoApprovers approve for a node (set by the coordinator). */
  autoApprove: (n: NodeRecord, routes: string[]) => string[] = () => [];
  /** Another instance changed the access policy (PostgreSQL). */
  onRemotePolicy: (() => Promise<void>) | undefined = undefined;
  /** Another instance changed the admin-set MagicDNS records (PostgreSQL). */
  onRemoteDns: (() => Promise<void>) | undefined = undefined;

  constructor(private readonly o: RegistryOptions) {}

  get domain(): string {
    return this.o.domain;
  }

  async start(): Promise<void> {
    const ula = await this.o.store.getOrCreateMeta('ipv6_ula48', generateUla48);
    this.ipam = new Ipam(this.o.ipv4Range, ula);
    // MagicDNS answers on 100.100.100.100 on every node (as Tailscale's quad-100).
    this.ipam.markUsed(MAGIC_DNS_IPV4);
    this.unsubscribe = this.o.store.subscribe((c) => {
      this.remoteQueue = this.remoteQueue.then(() => this.applyRemote(c)).catch((err) => this.o.log.error({ err: String(err) }, 'applying remote change failed'));
    });
    for (const n of await this.o.store.listNodes()) this.put(n);
    this.lastHeartbeat = this.o.clock.wallNow();
    this.arm();
  }

  async stop(): Promise<void> {
    if (this.timer) this.o.clock.clearTimeout(this.timer);
    this.timer = null;
    this.unsubscribe?.();
    await this.settled();
  }

  private now(): number {
    return this.o.clock.wallNow();
  }

  isOnline(n: NodeRecord): boolean {
    return (this.localStreams.get(n.id) ?? 0) > 0 || (n.lastSeen !== null && this.now() - n.lastSeen < ONLINE_WINDOW_MS);
  }

  isExpired(n: NodeRecord): boolean {
    return n.expiresAt !== null && this.now() >= n.expiresAt;
  }

  nodes(): IterableIterator<NodeRecord> {
    return this.byId.values();
  }

  get(id: number): NodeRecord | undefined {
    return this.byId.get(id);
  }

  byPublicKey(publicKey: string): NodeRecord | undefined {
    return this.byKey.get(publicKey);
  }

  get size(): number {
    return this.byId.size;
  }

  /** The NodeView as of now; cached until the node or its online/expired state changes. */
  view(n: NodeRecord): NodeView {
    const s = this.shown.get(n.id);
    const online = this.isOnline(n), expired = this.isExpired(n);
    if (s?.view && s.view.online === online && s.view.expired === expired) return s.view;
    const view = nodeView(n, this.o.domain, online, expired);
    if (s) s.view = view;
    return view;
  }

  /** A node by name, IPv4 or IPv6 address (any textual form). */
  find(nameOrIp: string): NodeRecord {
    const isIp = ipaddr.IPv4.isValidFourPartDecimal(nameOrIp) || ipaddr.IPv6.isValid(nameOrIp);
    const ref = isIp ? ipaddr.parse(nameOrIp).toString() : nameOrIp.toLowerCase();
    const n = this.byAddrOrName.get(ref);
    if (!n) throw notFound('ERR_NODE_NOT_FOUND', `no node named or addressed ${JSON.stringify(nameOrIp)}`, 'node');
    return n;
  }

  /** True when `publicKey` (base64) is a registered, unexpired node (relay admission). */
  isActiveKey(publicKey: string): boolean {
    const n = this.byKey.get(publicKey);
    return n !== undefined && !this.isExpired(n);
  }

  /** The registered, unexpired node holding `publicKey`, for node-authenticated calls. */
  activeNode(publicKey: string): NodeRecord {
    const n = this.byKey.get(publicKey);
    if (!n) throw forbidden('ERR_NODE_NOT_REGISTERED', 'this node key is not registered', 'authorization');
    if (this.isExpired(n)) throw forbidden('ERR_NODE_EXPIRED', 'node key has expired; register with a new key', 'authorization');
    return n;
  }

  /** Whether `publicKey` is a registered node (even expired), as register() would see it. */
  async isKnown(publicKey: string): Promise<boolean> {
    return this.byKey.has(publicKey) || (await this.o.store.getNodeByKey(publicKey)) !== null;
  }

  /**
   * A new node key needs a pre-auth key, or `loggedIn`: the user who completed an
   * interactive (OIDC) login for it; a known key re-registers idempotently.
   */
  async register(publicKey: string, req: RegisterRequest, endpoints: string[] | undefined, loggedIn?: string): Promise<NodeRecord> {
    const known = this.byKey.get(publicKey) ?? (await this.o.store.getNodeByKey(publicKey));
    if (known) return req.reauth ? this.reauth(known, req.authKey, endpoints) : this.reregister(known, endpoints);
    if (!req.authKey && !loggedIn) throw unauthorized('ERR_AUTHKEY_REQUIRED', 'a pre-auth key is required to register a new node', 'authKey');
    const now = this.now();
    const key = req.authKey ? await resolveAuthKey(this.o.store, req.authKey, now) : { id: null, ephemeral: false, tags: [] as string[], user: loggedIn! };
    const base = sanitizeHostname(req.hostname) ?? generatedName();
    for (let attempt = 0; attempt < MAX_ALLOCATION_ATTEMPTS; attempt++) {
      const name = this.names.allocate(base);
      const addrs = this.ipam.allocate();
      let keepName = false, keepAddr = false;
      try {
        const node = await this.o.store.insertNode(
          {
            publicKey,
            name,
            hostname: req.hostname ?? null,
            ...addrs,
            endpoints: endpoints ?? [],
            createdAt: now,
            lastSeen: now,
            expiresAt: this.expiryFrom(now),
            ephemeral: key.ephemeral,
            tags: key.tags,
            // Tagged nodes lose their user identity (as in Tailscale).
            user: key.tags.length ? null : (key.user ?? null),
            authKeyId: key.id,
          },
          key.id,
          now,
        );
        keepName = keepAddr = true;
        this.stats.registrations++;
        this.put(node);
        this.o.log.info({ node: node.name, ipv4: node.ipv4 }, 'node registered');
        this.listener.upsert(node);
        return node;
      } catch (err) {
        if (!(err instanceof StoreConflictError)) throw err;
        // Another instance took it: keep it marked used here and try the next one.
        keepName = err.column === 'name';
        keepAddr = err.column === 'ipv4' || err.column === 'ipv6';
        if (err.column === 'public_key') {
          const winner = await this.o.store.getNodeByKey(publicKey);
          if (winner) return this.reregister(winner, endpoints);
        }
      } finally {
        if (!keepName) this.names.release(name);
        if (!keepAddr) this.ipam.release(addrs.ipv4);
      }
    }
    throw new StoreConflictError('allocation');
  }

  // Same addresses and name; only the endpoints and check-in time move.
  private async reregister(known: NodeRecord, endpoints: string[] | undefined): Promise<NodeRecord> {
    if (this.isExpired(known)) throw forbidden('ERR_NODE_EXPIRED', 'node key has expired; register with a new key', 'authorization');
    const updated = await this.o.store.updateNode(known.id, { lastSeen: this.now(), ...(endpoints ? { endpoints } : {}) });
    if (!updated) throw notFound('ERR_NODE_NOT_FOUND', 'node was removed concurrently', 'authorization');
    this.put(updated);
    this.listener.upsert(updated);
    return updated;
  }

  // A known key with a new pre-auth key (also once expired): same name and addresses, a fresh expiry.
  private async reauth(known: NodeRecord, authKey: string | undefined, endpoints: string[] | undefined): Promise<NodeRecord> {
    if (!authKey) throw unauthorized('ERR_AUTHKEY_REQUIRED', 're-authentication needs a pre-auth key', 'authKey');
    const now = this.now();
    const key = await resolveAuthKey(this.o.store, authKey, now);
    const renewed = await this.o.store.reauthNode(known.id, key.id, this.expiryFrom(now), now);
    if (!renewed) throw notFound('ERR_NODE_NOT_FOUND', 'node was removed concurrently', 'authorization');
    this.o.log.info({ node: renewed.name, expiresAt: renewed.expiresAt }, 'node re-authenticated');
    this.put(renewed);
    if (endpoints) return this.reregister(renewed, endpoints);
    this.listener.upsert(renewed);
    return renewed;
  }

  private expiryFrom(now: number): number | null {
    return this.o.nodeExpiryMs === 0 ? null : now + this.o.nodeExpiryMs;
  }

  /** `weft nodes expire`: the key stops being accepted now; its streams are closed. */
  expire(n: NodeRecord): Promise<NodeRecord> {
    return this.setExpiry(n, this.now());
  }

  /**
   * `weft nodes extend`: `byMs` (default: the configured key lifetime, or 180 days when
   * keys never expire) past the current expiry, or past now once expired. A node whose
   * key never expires keeps it so.
   */
  extend(n: NodeRecord, byMs = this.o.nodeExpiryMs || DEFAULT_NODE_EXPIRY_MS): Promise<NodeRecord> {
    if (n.expiresAt === null) return Promise.resolve(n);
    return this.setExpiry(n, Math.max(n.expiresAt, this.now()) + byMs);
  }

  private async setExpiry(n: NodeRecord, expiresAt: number): Promise<NodeRecord> {
    const updated = await this.o.store.updateNode(n.id, { expiresAt });
    if (!updated) throw notFound('ERR_NODE_NOT_FOUND', 'node was removed concurrently', 'node');
    this.o.log.info({ node: n.name, expiresAt: new Date(expiresAt).toISOString() }, 'node key expiry changed');
    this.put(updated);
    this.listener.upsert(updated);
    return updated;
  }

  async setEndpoints(id: number, endpoints: string[]): Promise<void> {
    const n = this.byId.get(id);
    if (!n || (n.endpoints.length === endpoints.length && n.endpoints.every((e, i) => e === endpoints[i]))) return;
    const updated = await this.o.store.updateNode(id, { endpoints, lastSeen: this.now() });
    if (!updated) return;
    this.put(updated);
    this.listener.upsert(updated);
  }

  /** The node's advertised routes (canonical, sorted); autoApprovers may approve some at once. */
  async setAdvertisedRoutes(id: number, routes: string[]): Promise<void> {
    const n = this.byId.get(id);
    if (!n) return;
    const auto = withExitPair(this.autoApprove(n, routes)).filter((r) => !n.approvedRoutes.includes(r));
    if (n.advertisedRoutes.join(',') === routes.join(',') && auto.length === 0) return;
    const approvedRoutes = auto.length ? [...n.approvedRoutes, ...auto].sort() : undefined;
    const updated = await this.o.store.updateNode(id, { advertisedRoutes: routes, ...(approvedRoutes ? { approvedRoutes } : {}) });
    if (!updated) return;
    this.o.log.info({ node: n.name, routes, autoApproved: auto }, 'advertised routes changed');
    this.put(updated);
    this.listener.upsert(updated);
  }

  /** Renames a node (its DNS label); 409 when another node has the name. */
  async rename(n: NodeRecord, name: string): Promise<NodeRecord> {
    if (sanitizeHostname(name) !== name) throw badRequest('ERR_VALIDATION', 'name must be a DNS label: lowercase letters, digits and dashes, at most 63', 'name');
    if (name === n.name) return n;
    if (this.names.has(name)) throw conflict('ERR_NAME_TAKEN', `another node is named ${name}`, 'name');
    let updated: NodeRecord | null;
    try {
      updated = await this.o.store.updateNode(n.id, { name });
    } catch (err) {
      // Another coordinator on the same database took the name first.
      if (err instanceof StoreConflictError) throw conflict('ERR_NAME_TAKEN', `another node is named ${name}`, 'name');
      throw err;
    }
    if (!updated) throw notFound('ERR_NODE_NOT_FOUND', 'node was removed concurrently', 'node');
    this.o.log.info({ node: n.name, name }, 'node renamed');
    this.put(updated);
    this.listener.upsert(updated);
    return updated;
  }

  /** Approves (or withdraws approval of) routes of a node; returns the updated node. */
  async setApproval(n: NodeRecord, routes: string[], approve: boolean): Promise<NodeRecord> {
    const set = new Set(n.approvedRoutes);
    for (const r of withExitPair(routes)) approve ? set.add(r) : set.delete(r);
    const approvedRoutes = [...set].sort();
    if (approvedRoutes.join(',') === n.approvedRoutes.join(',')) return n;
    const updated = await this.o.store.updateNode(n.id, { approvedRoutes });
    if (!updated) throw notFound('ERR_NODE_NOT_FOUND', 'node was removed concurrently', 'node');
    this.o.log.info({ node: n.name, routes, approve }, 'route approval changed');
    this.put(updated);
    this.listener.upsert(updated);
    return updated;
  }

  /** After a policy change: apply autoApprovers to every node's advertised routes. */
  async reapplyAutoApprovers(): Promise<void> {
    for (const n of [...this.byId.values()]) {
      const auto = withExitPair(this.autoApprove(n, n.advertisedRoutes)).filter((r) => !n.approvedRoutes.includes(r));
      if (auto.length) await this.setApproval(n, auto, true);
    }
  }

  /** Re-reads nodes the store changed behind the registry (a user rename) and announces them. */
  async reload(ids: number[]): Promise<void> {
    for (const id of ids) {
      const n = await this.o.store.getNode(id);
      if (!n) continue;
      this.put(n);
      this.listener.upsert(n);
    }
  }

  async remove(n: NodeRecord, why: string): Promise<NodeRecord | null> {
    const deleted = await this.o.store.deleteNode(n.id);
    if (!deleted) return null;
    this.drop(deleted);
    this.o.log.info({ node: deleted.name, why }, 'node removed');
    this.listener.remove(deleted);
    return deleted;
  }

  streamOpened(id: number): void {
    const count = (this.localStreams.get(id) ?? 0) + 1;
    this.localStreams.set(id, count);
    // Peers hear of a new stream only if it made the node come online: a node that just
    // registered is online already, and announcing every connect would be O(n²) at startup.
    if (count === 1) this.track(this.touch(id, false));
  }

  streamClosed(id: number): void {
    const count = (this.localStreams.get(id) ?? 1) - 1;
    if (count > 0) return void this.localStreams.set(id, count);
    this.localStreams.delete(id);
    if (this.byId.has(id)) this.track(this.touch(id, true));
  }

  // Records a check-in; tells peers when `always` or when the node's online state flipped.
  private async touch(id: number, always: boolean): Promise<void> {
    const updated = await this.o.store.updateNode(id, { lastSeen: this.now() });
    if (!updated || !this.byId.has(id)) return;
    const flipped = this.shown.get(id)?.online !== this.isOnline(updated);
    this.put(updated);
    if (always || flipped) this.listener.upsert(updated);
  }

  private track(p: Promise<unknown>): void {
    const t = p.catch((err) => this.o.log.error({ err: String(err) }, 'background store write failed')).finally(() => this.inflight.delete(t));
    this.inflight.add(t);
  }

  private put(n: NodeRecord): void {
    const old = this.byId.get(n.id);
    if (old) for (const k of [old.name, old.ipv4, old.ipv6]) this.byAddrOrName.delete(k);
    // A rename (here or by another coordinator) frees the old name.
    if (old && old.name !== n.name) this.names.release(old.name);
    this.byId.set(n.id, n);
    this.byKey.set(n.publicKey, n);
    for (const k of [n.name, n.ipv4, n.ipv6]) this.byAddrOrName.set(k, n);
    this.names.markUsed(n.name);
    this.ipam.markUsed(n.ipv4);
    this.shown.set(n.id, { online: this.isOnline(n), expired: this.isExpired(n), view: null });
  }

  private drop(n: NodeRecord): void {
    if (!this.byId.delete(n.id)) return;
    this.byKey.delete(n.publicKey);
    for (const k of [n.name, n.ipv4, n.ipv6]) this.byAddrOrName.delete(k);
    this.names.release(n.name);
    this.ipam.release(n.ipv4);
    this.shown.delete(n.id);
  }

  private async applyRemote(c: StoreChange): Promise<void> {
    if (c.kind === 'seen') {
      for (const id of c.ids) {
        const n = this.byId.get(id);
        if (n) n.lastSeen = c.at;
      }
      return;
    }
    if (c.kind === 'policy') return this.onRemotePolicy?.();
    if (c.kind === 'dns') return this.onRemoteDns?.();
    if (c.kind === 'resync') {
      await this.onRemotePolicy?.();
      return this.resync();
    }
    if (c.kind === 'node-remove') {
      if (!this.byId.has(c.node.id)) return;
      this.drop(c.node);
      this.listener.remove(c.node);
      return;
    }
    const n = await this.o.store.getNode(c.id);
    if (!n) return;
    this.put(n);
    this.listener.upsert(n);
  }

  private async resync(): Promise<void> {
    const fresh = new Map((await this.o.store.listNodes()).map((n) => [n.id, n]));
    for (const n of [...this.byId.values()]) {
      if (fresh.has(n.id)) continue;
      this.drop(n);
      this.listener.remove(n);
    }
    for (const n of fresh.values()) {
      const old = this.byId.get(n.id);
      if (old && JSON.stringify(old) === JSON.stringify(n)) continue;
      this.put(n);
      this.listener.upsert(n);
    }
  }

  private arm(): void {
    this.timer = this.o.clock.setTimeout(() => {
      this.sweep();
      this.arm();
    }, this.o.sweepIntervalMs);
  }

  /**
   * Flips online/expired as time passes, deletes ephemeral nodes offline too long, and
   * records streams as seen. Decisions are synchronous (so a FakeClock advance sees each
   * sweep at its own time); the resulting writes run in the background.
   */
  sweep(): void {
    const now = this.now();
    for (const n of this.byId.values()) {
      const s = this.shown.get(n.id);
      const online = this.isOnline(n), expired = this.isExpired(n);
      if (s && (s.online !== online || s.expired !== expired)) {
        this.shown.set(n.id, { online, expired, view: null });
        this.listener.upsert(n);
      }
      if (n.ephemeral && !online && !this.deleting.has(n.id) && now - (n.lastSeen ?? n.createdAt) >= this.o.ephemeralTimeoutMs) {
        this.deleting.add(n.id);
        this.track(this.remove(n, 'ephemeral node offline').finally(() => this.deleting.delete(n.id)));
      }
    }
    if (now - this.lastHeartbeat >= this.o.heartbeatMs && this.localStreams.size > 0) {
      this.lastHeartbeat = now;
      const ids = [...this.localStreams.keys()];
      for (const id of ids) {
        const n = this.byId.get(id);
        if (n) n.lastSeen = now;
      }
      this.track(this.o.store.touchNodes(ids, now));
    }
  }

  /** Resolves when background writes started so far have finished (tests). */
  async settled(): Promise<void> {
    await this.remoteQueue;
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }
}
