import type { WebSocket } from 'ws';
import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log.js';
import { ChangeLog, type ResumePoint } from './change-log.js';
import { Coalescer, UPDATE_INTERVAL_MS } from './coalesce.js';
import { ControlError } from './errors.js';
import { parseEndpoints } from './endpoints.js';
import { parseRoutes } from './routes.js';
import { parseStatusReport, type NodeReport } from './node-reports.js';
import type { Registry, RegistryListener } from './registry.js';
import type { NodeRecord } from './store/index.js';
import { filtersEqual } from '../policy/index.js';
import { Frame, Outbox } from './stream-outbox.js';
import type { PolicyEngine } from './policy-engine.js';
import { openFrame, sealFrame, type SessionKeys } from '../wire/node-auth.js';
import type { DnsConfig, FilterRule, NetMap, NodeView, RelayInfo, ServerMessage } from '../wire/control.js';
import { CONTROL_PROTOCOL_VERSION, FORWARD_RULES_VERSION } from '../wire/version.js';
import { newDecodeStats, parseClientMessage, type DecodeStats } from '../wire/decode.js';

// A peer that cannot keep up is cut off; it reconnects and gets a fresh full map,
// which is cheaper than buffering an unbounded backlog of deltas for it.
const MAX_BUFFERED_BYTES = 4 << 20;
export const MAX_CLIENT_MESSAGE_BYTES = 64 * 1024;
/** Map streams one node may hold; a new one closes its oldest (a reconnect whose old TCP path died). */
export const MAX_STREAMS_PER_NODE = 4;
/**
 * Policy edits within this window fan out once: the policy is compiled at each edit (to
 * check it), but the diff against what the nodes were last sent is computed and sent
 * when the window closes, so an operator (or a script) saving ten edits in a row costs
 * one delta per node.
 */
export const POLICY_FANOUT_WINDOW_MS = 50;

/** What one connected node is sent about one change. */
interface Outgoing {
  upserts: NodeView[];
  removals: string[];
  /** Its filter may have changed: compare and send if so. */
  filter: boolean;
  self: boolean;
}

/** What the agent proved on the upgrade request. */
export interface StreamSession {
  version: number;
  /** v7: every frame is sealed (node-auth.ts sealFrame) under these keys, counted per direction. */
  keys: SessionKeys | null;
}

interface Sealing {
  keys: SessionKeys;
  sent: number;
  received: number;
}

export interface StreamStats {
  /** Streams closed because their node opened more than MAX_STREAMS_PER_NODE. */
  evicted: number;
  /** v8: streams that resumed with the changes they missed instead of a full netmap. */
  resumed: number;
  /** Client frames whose MAC failed (the stream is closed). */
  badFrames: number;
  /** Endpoint and route updates replaced by a newer one before they were written. */
  readonly coalesced: number;
  /** Deltas folded into another one for the same stream within an event-loop turn (stream-outbox.ts). */
  readonly folded: number;
  /** Client messages dropped as malformed (each answered with ERR_BAD_MESSAGE). */
  readonly decode: DecodeStats;
}

/**
 * The live map streams of this instance, indexed by node. A change is serialized once
 * and written to each connected stream that can see it: an endpoint change costs
 * O(its peers), a join, leave or membership change O(its peers before and after + the
 * nodes whose filter it moves); no netmap is rebuilt except the one full map a stream
 * gets when it connects without a resumable gap (v8).
 */
export class StreamHub implements RegistryListener {
  private readonly streams = new Map<number, Set<WebSocket>>();
  /** Per connected node: the filter its streams were last sent (its peers are the compiled policy's). */
  private readonly sent = new Map<number, FilterRule[]>();
  /** Per stream: whether its agent understands forwarding (`dsts`) rules (v5). */
  private readonly forwardRules = new WeakMap<WebSocket, boolean>();
  private readonly sealing = new WeakMap<WebSocket, Sealing>();
  private readonly updates: Coalescer;
  private readonly outbox = new Outbox((ws, data) => this.write(ws, data));
  readonly stats: StreamStats;
  private seq = 0;
  private policyTimer: TimerHandle | null = null;
  /** Policy edits folded into a fan-out already scheduled. */
  policyEditsBatched = 0;
  /** v8: what each seq was about, for streams that resume. */
  readonly changes = new ChangeLog();

  /** Times each change's fan-out to the streams (metrics); returns the stop function. */
  fanoutTimer: (() => () => void) | null = null;
  /** Told of a node's `status` report (version, paths), at most once per update interval. */
  onStatus: ((nodeId: number, report: NodeReport) => void) | null = null;

  constructor(
    private readonly registry: Registry,
    private readonly log: Logger,
    private readonly policy: PolicyEngine,
    /** The current MagicDNS config (dns-records.ts), read for each full netmap. */
    private readonly dns: () => DnsConfig,
    private readonly clock: Clock,
    updateIntervalMs = UPDATE_INTERVAL_MS,
    private readonly policyWindowMs = POLICY_FANOUT_WINDOW_MS,
  ) {
    const updates = (this.updates = new Coalescer(clock, updateIntervalMs, (err) => this.log.error({ err: String(err) }, 'storing a node update failed')));
    const outbox = this.outbox;
    this.stats = {
      evicted: 0,
      resumed: 0,
      badFrames: 0,
      decode: newDecodeStats(),
      get coalesced() {
        return updates.coalesced;
      },
      get folded() {
        return outbox.folded;
      },
    };
  }

  /**
   * `session`: the version the agent announced and, from v7, the keys its frames are sealed with;
   * `relays`: the relay map (protocol v3) for this stream's full netmap, as this device can reach it;
   * `resume` (v8): the last change the agent saw on an earlier stream, to send only what it missed.
   */
  attach(ws: WebSocket, node: NodeRecord, session: StreamSession = { version: CONTROL_PROTOCOL_VERSION, keys: null }, relays: RelayInfo[] = [], resume: ResumePoint | null = null): void {
    if (this.policy.stale(node)) this.fanMembership(node, false);
    const set = this.streams.get(node.id) ?? new Set<WebSocket>();
    this.streams.set(node.id, set);
    if (set.size >= MAX_STREAMS_PER_NODE) {
      const oldest = set.values().next().value!;
      set.delete(oldest);
      this.stats.evicted++;
      this.log.warn({ node: node.name, max: MAX_STREAMS_PER_NODE }, 'too many map streams for one node; closing its oldest');
      this.closeAll(new Set([oldest]), 'ERR_TOO_MANY_STREAMS', `at most ${MAX_STREAMS_PER_NODE} map streams per node`);
    }
    set.add(ws);
    this.forwardRules.set(ws, session.version >= FORWARD_RULES_VERSION);
    if (session.keys) this.sealing.set(ws, { keys: session.keys, sent: 0, received: 0 });
    const missed = resume ? this.changes.since(resume, this.seq, node.publicKey, this.clock.wallNow()) : null;
    if (missed) {
      this.stats.resumed++;
      this.send(ws, new Frame(this.resumeDelta(node, ws, missed)));
    } else this.send(ws, new Frame({ type: 'full', netmap: this.netmap(node, ws, relays) }));
    this.registry.streamOpened(node.id);
    ws.on('message', (data, isBinary) => this.onFrame(ws, node.id, data as Buffer, isBinary));
    ws.on('error', (err) => this.log.debug({ err: err.message, node: node.name }, 'map stream error'));
    ws.on('close', () => {
      set.delete(ws);
      if (set.size === 0 && this.streams.get(node.id) === set) {
        this.streams.delete(node.id);
        this.sent.delete(node.id);
      }
      this.registry.streamClosed(node.id);
    });
  }

  private visible(self: NodeRecord): { keys: string[]; filter: FilterRule[] } {
    const c = this.policy.compiled;
    if (!c.has(self.publicKey)) return { keys: [], filter: [] };
    return { keys: c.peers(self.publicKey), filter: c.filter(self.publicKey) };
  }

  /**
   * The filter as `ws`'s agent may see it: an agent before v5 would read a forwarding
   * rule as one about its own addresses, so it gets none (its forwarding stays governed
   * by peer visibility alone, as before v5).
   */
  private filterFor(ws: WebSocket, filter: FilterRule[]): FilterRule[] {
    return this.forwardRules.get(ws) || !filter.some((r) => r.dsts) ? filter : filter.filter((r) => !r.dsts);
  }

  private views(keys: Iterable<string>): NodeView[] {
    const out: NodeView[] = [];
    for (const k of keys) {
      const n = this.registry.byPublicKey(k);
      if (n) out.push(this.registry.view(n));
    }
    return out;
  }

  private netmap(self: NodeRecord, ws: WebSocket, relays: RelayInfo[]): NetMap {
    const { keys, filter } = this.visible(self);
    this.sent.set(self.id, filter);
    return {
      version: CONTROL_PROTOCOL_VERSION,
      seq: this.seq,
      epoch: this.changes.epoch,
      domain: this.registry.domain,
      ipv4Range: this.registry.ipam.v4.text,
      ipv6Range: this.registry.ipam.v6Text,
      self: this.registry.view(self),
      peers: this.views(keys),
      packetFilter: this.filterFor(ws, filter),
      dns: this.dns(),
      ...(relays.length > 0 ? { relays } : {}),
      statusReports: true,
    };
  }

  /** v8: what a resuming stream missed: each changed node upserted if visible, else removed. */
  private resumeDelta(self: NodeRecord, ws: WebSocket, missed: Set<string>): ServerMessage {
    const c = this.policy.compiled;
    const { filter } = this.visible(self);
    this.sent.set(self.id, filter);
    const upserts: string[] = [];
    const removals: string[] = [];
    for (const k of missed) {
      if (k === self.publicKey) continue;
      if (c.has(k) && c.has(self.publicKey) && c.canSee(self.publicKey, k)) upserts.push(k);
      else removals.push(k);
    }
    return { type: 'delta', seq: this.seq, upserts: this.views(upserts), removals, self: this.registry.view(self), packetFilter: this.filterFor(ws, filter) };
  }

  /** The next change's seq, logged for resuming streams (`key` null: a policy edit). */
  private next(key: string | null, wide: boolean): number {
    this.changes.record(++this.seq, key, wide, this.clock.wallNow());
    return this.seq;
  }

  /**
   * A node joined, left or changed its policy membership: update the compiled policy in
   * place, then tell exactly the nodes that can notice: its peers before and after, the
   * destinations of rules whose sources it moved (new filter), and itself.
   */
  private fanMembership(node: NodeRecord, gone: boolean): void {
    const key = node.publicKey;
    const c = this.policy.compiled;
    const before = c.has(key) ? c.peers(key) : [];
    const filters = gone ? this.policy.drop(node) : this.policy.apply(node);
    const after = gone ? [] : c.peers(key);
    const seq = this.next(key, true);
    const out = new Map<number, Outgoing>();
    const to = (k: string): Outgoing | null => {
      const id = this.registry.byPublicKey(k)?.id;
      if (id === undefined || !this.streams.has(id)) return null;
      let o = out.get(id);
      if (!o) out.set(id, (o = { upserts: [], removals: [], filter: false, self: false }));
      return o;
    };
    const afterSet = new Set(after);
    const beforeSet = new Set(before);
    const view = gone ? null : this.registry.view(node);
    for (const k of after) to(k)?.upserts.push(view!);
    for (const k of before) if (!afterSet.has(k)) to(k)?.removals.push(key);
    for (const k of filters) {
      const o = to(k);
      if (o) o.filter = true;
    }
    if (!gone && this.streams.has(node.id)) {
      const own = to(key)!;
      own.self = own.filter = true;
      own.upserts.push(...this.views(after.filter((k) => !beforeSet.has(k))));
      own.removals.push(...before.filter((k) => !afterSet.has(k)));
    }
    for (const [id, o] of out) this.deliver(id, seq, o);
  }

  /** Sends node `id` one delta with `o` (and its filter, if `o.filter` and it differs from the last sent). */
  private deliver(id: number, seq: number, o: Outgoing): void {
    const n = this.registry.get(id);
    const set = this.streams.get(id);
    if (!n || !set) return;
    let filter: FilterRule[] | null = null;
    if (o.filter) {
      const c = this.policy.compiled;
      const f = c.has(n.publicKey) ? c.filter(n.publicKey) : [];
      if (!filtersEqual(this.sent.get(id) ?? [], f)) this.sent.set(id, (filter = f));
    }
    if (!o.upserts.length && !o.removals.length && !filter && !o.self) return;
    const msg: ServerMessage = { type: 'delta', seq, upserts: o.upserts, removals: o.removals, ...(o.self ? { self: this.registry.view(n) } : {}) };
    // Serialized once per filter variant (streams of one node may run different versions).
    const frames = new Map<boolean, Frame>();
    for (const ws of set) {
      const variant = this.forwardRules.get(ws) === true;
      let f = frames.get(variant);
      if (f === undefined) frames.set(variant, (f = new Frame(filter ? { ...msg, packetFilter: this.filterFor(ws, filter) } : msg)));
      this.send(ws, f);
    }
    if (o.self && this.registry.view(n).expired) this.closeAll(set, 'ERR_NODE_EXPIRED', 'node key has expired');
  }

  /**
   * After the access policy changed (compiled once by the engine): each connected node the
   * edit can affect is sent the peers that became visible, those that no longer are, and
   * its filter if it differs. Affected: the members of the rules that changed (every node
   * when the groups or the number of rules did; policy-engine.ts takeChanges), so an
   * edit costs O(its rules' members), not O(nodes x rules).
   */
  private fanPolicy(): void {
    const prev = this.policy.previous;
    const c = this.policy.compiled;
    const seq = this.next(null, true);
    const changed = this.policy.takeChanges();
    const ids = changed === null ? [...this.streams.keys()] : [...changed].map((k) => this.registry.byPublicKey(k)?.id).filter((id): id is number => id !== undefined && this.streams.has(id));
    for (const id of ids) {
      const n = this.registry.get(id);
      if (!n) continue;
      const before = new Set(prev.has(n.publicKey) ? prev.peers(n.publicKey) : []);
      const after = c.has(n.publicKey) ? c.peers(n.publicKey) : [];
      const afterSet = new Set(after);
      this.deliver(id, seq, { upserts: this.views(after.filter((k) => !before.has(k))), removals: [...before].filter((k) => !afterSet.has(k)), filter: true, self: false });
    }
    this.policy.previous = c;
  }

  /**
   * The MagicDNS config changed (records, v9): every connected node gets it in one delta.
   * Logged like a policy edit, so a resuming stream gets a full netmap with it.
   */
  dnsChanged(): void {
    this.timed(() => {
      const seq = this.next(null, true);
      const data = new Frame({ type: 'delta', seq, upserts: [], removals: [], dns: this.dns() });
      for (const set of this.streams.values()) for (const ws of set) this.send(ws, data);
    });
  }

  /** Open streams on this instance. */
  get streamCount(): number {
    let n = 0;
    for (const set of this.streams.values()) n += set.size;
    return n;
  }

  private timed(fn: () => void): void {
    const done = this.fanoutTimer?.();
    try {
      fn();
    } finally {
      done?.();
    }
  }

  /** The admin changed the access policy: fanned out when the window closes (0: at once). */
  policyChanged(): void {
    if (this.policyWindowMs <= 0) return this.timed(() => this.fanPolicy());
    if (this.policyTimer) {
      this.policyEditsBatched++;
      return;
    }
    this.policyTimer = this.clock.setTimeout(() => {
      this.policyTimer = null;
      this.timed(() => this.fanPolicy());
    }, this.policyWindowMs);
  }

  upsert(node: NodeRecord): void {
    this.timed(() => this.fanUpsert(node));
  }

  private fanUpsert(node: NodeRecord): void {
    if (this.policy.stale(node)) return this.fanMembership(node, false);
    const seq = this.next(node.publicKey, false);
    const view = this.registry.view(node);
    const c = this.policy.compiled;
    const forPeers = new Frame({ type: 'delta', seq, upserts: [view], removals: [] });
    for (const k of c.has(node.publicKey) ? c.peers(node.publicKey) : []) {
      const id = this.registry.byPublicKey(k)?.id;
      const set = id === undefined ? undefined : this.streams.get(id);
      if (set) for (const ws of set) this.send(ws, forPeers);
    }
    const own = this.streams.get(node.id);
    if (!own) return;
    const forSelf = new Frame({ type: 'delta', seq, upserts: [], removals: [], self: view });
    for (const ws of own) this.send(ws, forSelf);
    // After the self delta, so the agent knows when its key expired (weft status says so).
    if (view.expired) this.closeAll(own, 'ERR_NODE_EXPIRED', 'node key has expired');
  }

  remove(node: NodeRecord): void {
    this.timed(() => this.fanRemove(node));
  }

  private fanRemove(node: NodeRecord): void {
    this.fanMembership(node, true);
    const own = this.streams.get(node.id);
    this.streams.delete(node.id);
    this.sent.delete(node.id);
    if (own) this.closeAll(own, 'ERR_NODE_REMOVED', 'node was deregistered');
  }

  private closeAll(set: Set<WebSocket>, code: string, message: string): void {
    for (const ws of set) this.close(ws, { type: 'error', code, message }, 4403, code);
  }

  /** Sends `last` (not a delta: written at once, after the delta queued for `ws`), then closes it. */
  private close(ws: WebSocket, last: Extract<ServerMessage, { type: 'error' }>, code: number, reason: string): void {
    this.send(ws, new Frame(last));
    ws.close(code, reason);
  }

  /** A delta waits for the end of this event-loop turn (folded with the turn's others); anything else goes now (stream-outbox.ts). */
  private send(ws: WebSocket, f: Frame): void {
    this.outbox.push(ws, f);
  }

  private write(ws: WebSocket, data: string | Buffer): void {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.log.warn({ buffered: ws.bufferedAmount }, 'map stream too slow; closing it');
      ws.terminate();
      return;
    }
    const sealing = this.sealing.get(ws);
    if (sealing) ws.send(sealFrame(sealing.keys.down, sealing.sent++, data));
    else ws.send(data, { binary: false });
  }

  private onFrame(ws: WebSocket, nodeId: number, data: Buffer, isBinary: boolean): void {
    const sealing = this.sealing.get(ws);
    if (!sealing) return this.onMessage(ws, nodeId, isBinary ? null : String(data));
    const text = isBinary ? openFrame(sealing.keys.up, sealing.received++, data) : null;
    if (text === null) {
      // Forged, replayed or reordered: nothing on this stream can be trusted any more.
      this.stats.badFrames++;
      this.close(ws, { type: 'error', code: 'ERR_BAD_FRAME_MAC', message: 'a frame failed authentication' }, 4401, 'ERR_BAD_FRAME_MAC');
      return;
    }
    this.onMessage(ws, nodeId, text);
  }

  // Untrusted input: every failure becomes an `error` message on the stream, never a throw.
  private onMessage(ws: WebSocket, nodeId: number, text: string | null): void {
    const reply = (code: string, message: string): void => this.send(ws, new Frame({ type: 'error', code, message }));
    const m = parseClientMessage(text, this.stats.decode);
    if ('error' in m) return reply(m.error.code, m.error.message);
    if (m.type === 'ping') return this.send(ws, new Frame({ type: 'pong', id: m.id }));
    try {
      if (m.type === 'endpoints') {
        const endpoints = parseEndpoints(m.endpoints);
        this.updates.submit(`endpoints:${nodeId}`, () => this.registry.setEndpoints(nodeId, endpoints));
      } else if (m.type === 'status') {
        const report = parseStatusReport(m.version, m.paths);
        // Spaced like endpoint writes: a node flapping paths costs one update per interval.
        this.updates.submit(`status:${nodeId}`, async () => this.onStatus?.(nodeId, report));
      } else {
        const routes = parseRoutes(m.routes);
        this.updates.submit(`routes:${nodeId}`, () => this.registry.setAdvertisedRoutes(nodeId, routes));
      }
    } catch (err) {
      if (err instanceof ControlError) return reply(err.code, err.message);
      throw err;
    }
  }

  /** Closes every stream (coordinator shutdown). */
  stop(): void {
    this.updates.stop();
    this.outbox.clear();
    if (this.policyTimer) this.clock.clearTimeout(this.policyTimer);
    this.policyTimer = null;
    for (const set of this.streams.values()) for (const ws of set) ws.terminate();
    this.streams.clear();
    this.sent.clear();
  }
}
