import { EventEmitter } from 'node:events';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import type { PrivateKey } from '../crypto/keys.js';
import type { Endpoint } from '../io/endpoint.js';
import { Awareness } from './awareness.js';
import { BroadcastQueue } from './broadcast-queue.js';
import { DEFAULT_SWIM_CONFIG, pushPullScale, type SwimConfig } from './config.js';
import { Membership, type Member, type MemberEvent } from './members.js';
import { GossipSealer, parseIam, whoisPacket } from './seal.js';
import { keyId, type TrustSet } from './trust.js';
import type { GossipTransport } from './transport.js';
import { Kind, MESSAGE_BUDGET, encodeMessage, packetKind, type GossipMessage } from './wire.js';

// One SWIM member (failure detection by probing, dissemination by piggybacking, plus
// memberlist's gossip and push/pull timers and Lifeguard's nacks and local health).
// All timers use the injected clock and all traffic the injected transport, so a
// simulation runs hundreds of members in one process under a fake clock.

/** Outstanding probes and indirect probes we serve; past it new ones are refused. */
export const MAX_PENDING_ACKS = 4096;
/** Members told directly of a graceful leave or an arrival; the rest learn it by gossip. */
export const DIRECT_FANOUT = 16;

export interface SwimNodeOptions {
  privateKey: PrivateKey;
  publicKey: Uint8Array;
  trust: TrustSet;
  transport: GossipTransport;
  /** Advertised endpoints; the first is where gossip reaches us. */
  endpoints: Endpoint[];
  relay?: boolean;
  clock?: Clock;
  config?: Partial<SwimConfig>;
  random?: () => number;
}

export interface SwimCounters {
  rxDatagrams: number;
  rxMalformed: number;
  rxUntrusted: number;
  rxUnauthenticated: number;
  rxReplayed: number;
  rxMisdirected: number;
  pendingFull: number;
  txDatagrams: number;
  txBytes: number;
}

/** Whom a datagram goes to: the key seals it, the address carries it. */
interface Target {
  key: Uint8Array;
  id: string;
  addr: Endpoint | null;
}

interface Pending {
  onAck(): void;
  onNack(): void;
  timer: TimerHandle;
}

/** The rendezvous messages (rendezvous.ts), with the authenticated sender's id. */
export type RendezvousMessage = Extract<GossipMessage, { type: 'forward' | 'forwarded' | 'observed' }>;

export class SwimNode extends EventEmitter<{ member: [MemberEvent]; rendezvous: [RendezvousMessage, string] }> {
  readonly config: SwimConfig;
  readonly membership: Membership;
  readonly awareness: Awareness;
  readonly counters: SwimCounters = { rxDatagrams: 0, rxMalformed: 0, rxUntrusted: 0, rxUnauthenticated: 0, rxReplayed: 0, rxMisdirected: 0, pendingFull: 0, txDatagrams: 0, txBytes: 0 };
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly queue: BroadcastQueue;
  private readonly sealer: GossipSealer;
  private readonly pending = new Map<number, Pending>();
  /** When we last synced with a member we hold dead but heard from (bounded by the trust set). */
  private readonly resyncedAt = new Map<string, number>();
  private readonly timers = new Set<TimerHandle>();
  private seeds: Endpoint[] = [];
  private seq = 0;
  private probeOrder: string[] = [];
  private probeIndex = 0;
  private stopped = false;

  constructor(private readonly o: SwimNodeOptions) {
    super();
    this.config = { ...DEFAULT_SWIM_CONFIG, ...o.config };
    this.clock = o.clock ?? systemClock;
    this.random = o.random ?? Math.random;
    this.queue = new BroadcastQueue(this.config.retransmitMult);
    this.awareness = new Awareness(this.config.awarenessMaxMultiplier);
    this.sealer = new GossipSealer(o.privateKey, o.publicKey);
    this.membership = new Membership({
      self: { key: o.publicKey, endpoints: o.endpoints, relay: o.relay ?? false },
      trust: o.trust,
      clock: this.clock,
      config: this.config,
      queue: this.queue,
      awareness: this.awareness,
      emit: (e) => this.emit('member', e),
    });
    o.transport.onReceive((data, from) => this.receive(data, from));
  }

  /** Starts the timers and asks each seed (HOST:PORT) who it is, then syncs with it. */
  start(seeds: Endpoint[] = []): void {
    this.seeds = seeds;
    this.askSeeds();
    this.every(() => this.config.gossipIntervalMs, () => this.gossip());
    this.every(() => this.awareness.scale(this.config.probeIntervalMs), () => this.probeNext());
    this.every(() => pushPullScale(this.config.pushPullIntervalMs, this.membership.count), () => this.pushPull());
  }

  /** More addresses to join through (mDNS finds them on the LAN). */
  addSeed(addr: Endpoint): void {
    if (!this.seeds.some((s) => s.equals(addr))) this.seeds.push(addr);
    this.o.transport.send(addr, whoisPacket(Kind.Whois));
  }

  /**
   * `weft down`: our leave goes straight to (up to DIRECT_FANOUT) live members, who drop us
   * at once and gossip it on, instead of suspecting us for seconds; then we stop.
   */
  leave(): void {
    if (this.stopped) return;
    const msg = this.membership.leave();
    for (const m of this.pick(DIRECT_FANOUT, (x) => x.state !== 'dead')) this.send(m, [msg]);
    this.stop();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) this.clock.clearTimeout(t);
    for (const p of this.pending.values()) this.clock.clearTimeout(p.timer);
    this.timers.clear();
    this.pending.clear();
    this.membership.stop();
    this.o.transport.close();
  }

  private every(interval: () => number, fn: () => void): void {
    const tick = (): void => {
      this.timers.delete(t);
      if (this.stopped) return;
      fn();
      t = this.clock.setTimeout(tick, interval());
      this.timers.add(t);
    };
    let t = this.clock.setTimeout(tick, interval() * this.random());
    this.timers.add(t);
  }

  private after(ms: number, fn: () => void): TimerHandle {
    const t = this.clock.setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  private askSeeds(): void {
    for (const s of this.seeds) this.o.transport.send(s, whoisPacket(Kind.Whois));
  }

  /** Seals `primary` plus as many pending broadcasts as fit, and sends it. */
  private send(to: Target, primary: Uint8Array[]): void {
    if (!to.addr) return;
    const used = primary.reduce((n, m) => n + m.length, 0);
    const msgs = [...primary, ...this.queue.take(MESSAGE_BUDGET - used, this.membership.count)];
    const pkt = this.sealer.seal(to.key, to.id, msgs, this.clock.wallNow());
    if (!pkt) return;
    this.counters.txDatagrams++;
    this.counters.txBytes += pkt.length;
    this.o.transport.send(to.addr, pkt);
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  private expect(seq: number, ttl: number, onAck: () => void, onNack: () => void = () => {}): boolean {
    if (this.pending.size >= MAX_PENDING_ACKS) {
      this.counters.pendingFull++;
      return false;
    }
    const timer = this.after(ttl, () => this.pending.delete(seq));
    this.pending.set(seq, { onAck, onNack, timer });
    return true;
  }

  /**
   * Up to `count` distinct random members (not us) passing `ok`: random draws first (the
   * common case, no allocation of the whole list), then a shuffle of the rest.
   */
  private pick(count: number, ok: (m: Member) => boolean): Member[] {
    const list = this.membership.others;
    const out = new Set<Member>();
    for (let tries = 0; tries < 3 * count && out.size < count && tries < list.length; tries++) {
      const m = list[Math.floor(this.random() * list.length)];
      if (ok(m)) out.add(m);
    }
    if (out.size < count) {
      const rest = list.filter((m) => !out.has(m) && ok(m));
      for (let i = 0; i < rest.length && out.size < count; i++) {
        const j = i + Math.floor(this.random() * (rest.length - i));
        [rest[i], rest[j]] = [rest[j], rest[i]];
        out.add(rest[i]);
      }
    }
    return [...out];
  }

  /** Round robin over a shuffled list (bounds worst-case detection), skipping the dead. */
  private probeNext(): void {
    for (let tries = 0; tries <= this.membership.count; tries++) {
      if (this.probeIndex >= this.probeOrder.length) {
        this.probeOrder = this.pick(Infinity, () => true).map((m) => m.id);
        this.probeIndex = 0;
        // Alone (the join was lost, or everyone left): keep asking the seeds.
        if (this.probeOrder.length === 0) return this.askSeeds();
      }
      const m = this.membership.members.get(this.probeOrder[this.probeIndex++]);
      if (m && m.state !== 'dead') return this.probe(m);
    }
  }

  private probe(m: Member): void {
    const self = this.membership.self;
    const seq = this.nextSeq();
    const interval = this.awareness.scale(this.config.probeIntervalMs);
    let acked = false;
    let nacks = 0;
    let expectedNacks = 0;
    if (!this.expect(seq, interval, () => void (acked = true), () => void nacks++)) return;
    const incarnation = m.incarnation;
    const ping = [encodeMessage({ type: 'ping', seq, target: m.key })];
    // Lifeguard's buddy system: tell a suspect it is suspected so it can refute now. The
    // accusation goes first, so the refutation is queued before the ack and rides on it
    // (a NATed member's own gossip may not reach us).
    if (m.state === 'suspect') ping.unshift(encodeMessage({ type: 'suspect', incarnation, node: m.key, from: self.key }));
    this.send(m, ping);
    this.after(this.awareness.scale(this.config.probeTimeoutMs), () => {
      if (acked || !m.addr) return;
      const helpers = this.pick(this.config.indirectChecks, (h) => h.state === 'alive' && h !== m);
      expectedNacks = helpers.length;
      const req = encodeMessage({ type: 'indirectPing', seq, target: m.key, addr: m.addr, wantNack: true });
      for (const h of helpers) this.send(h, [req]);
    });
    this.after(interval, () => {
      if (acked) return this.awareness.applyDelta(-1);
      // Missing nacks mean our own network is the problem: slow down (Lifeguard).
      this.awareness.applyDelta(expectedNacks > 0 ? expectedNacks - nacks : 1);
      this.membership.suspectNode({ incarnation, node: m.key, from: self.key });
    });
  }

  private gossip(): void {
    if (this.queue.size === 0) return;
    const now = this.clock.now();
    const targets = this.pick(this.config.gossipNodes, (m) => m.state !== 'dead' || now - m.stateChangeAt < this.config.gossipToTheDeadMs);
    for (const t of targets) if (this.queue.size > 0) this.send(t, []);
  }

  private pushPull(): void {
    const [peer] = this.pick(1, (m) => m.state === 'alive');
    if (peer) this.sync(peer, true);
    this.reconnect();
  }

  /**
   * Serf's reconnect: the seeds we do not hold alive, and one random failed (not left)
   * member, are asked who they are, a small datagram each; an answer (Iam) starts a sync.
   * Without it a seed that left and restarted, or the far side of a healed partition,
   * stays dead to members that still have someone else alive and so never feel alone.
   */
  private reconnect(): void {
    const live = this.membership.others.filter((m) => m.state === 'alive');
    const known = (s: Endpoint): boolean => live.some((m) => m.addr?.equals(s) || m.endpoints.some((e) => e.equals(s)));
    for (const s of this.seeds) if (!known(s)) this.o.transport.send(s, whoisPacket(Kind.Whois));
    const [failed] = this.pick(1, (m) => m.state === 'dead' && !m.left && m.addr !== null);
    if (failed) this.o.transport.send(failed.addr!, whoisPacket(Kind.Whois));
  }

  /** Our full state in as many datagrams as it takes; only the first asks for a reply. */
  private sync(to: Target, wantReply: boolean): void {
    const head = (w: boolean): Uint8Array => encodeMessage({ type: 'sync', wantReply: w });
    let batch = [head(wantReply)];
    let size = batch[0].length;
    for (const m of this.membership.stateMessages().map(encodeMessage)) {
      if (size + m.length > MESSAGE_BUDGET) {
        this.send(to, batch);
        batch = [head(false)];
        size = batch[0].length;
      }
      batch.push(m);
      size += m.length;
    }
    this.send(to, batch);
  }

  /**
   * An authenticated datagram from a member: we probe it where it was heard from. An
   * address it does not advertise (its NAT's mapping of its socket) is news for the
   * agent, which adds it to the member's endpoints (view.ts): a path through that NAT.
   */
  private heardFrom(id: string, from: Endpoint): void {
    const m = this.membership.members.get(id);
    if (!m || m === this.membership.self) return;
    m.heardAt = this.clock.now();
    if (m.addr?.equals(from)) return;
    m.addr = from;
    if (!m.endpoints.some((e) => e.equals(from))) this.emit('member', { type: 'update', id });
  }

  /** The packet handler: drops and counts anything bad; nothing thrown escapes. */
  private receive(data: Uint8Array, from: Endpoint): void {
    if (this.stopped) return;
    this.counters.rxDatagrams++;
    try {
      const kind = packetKind(data);
      if (kind === Kind.Whois) return this.o.transport.send(from, whoisPacket(Kind.Iam, this.o.publicKey));
      if (kind === Kind.Iam) {
        const key = parseIam(data);
        if (!key) this.counters.rxMalformed++;
        else if (!this.o.trust.isMember(keyId(key))) this.counters.rxUntrusted++;
        else if (!this.membership.isSelf(key)) this.sync({ key, id: keyId(key), addr: from }, true);
        return;
      }
      const r = this.sealer.open(data, (id) => this.o.trust.isMember(id), this.clock.wallNow());
      if (!r.ok) {
        const field = { malformed: 'rxMalformed', untrusted: 'rxUntrusted', unauthenticated: 'rxUnauthenticated', replayed: 'rxReplayed' } as const;
        this.counters[field[r.reason]]++;
        return;
      }
      const sender = { key: r.sender, id: r.senderId, addr: from };
      const before = this.membership.members.get(r.senderId);
      const arriving = !before || before.state === 'dead';
      const isSync = r.messages.find((m) => m.type === 'sync');
      for (const m of r.messages) {
        if (isSync) this.membership.mergeState(m);
        else this.handle(m, sender);
      }
      this.heardFrom(r.senderId, from);
      if (isSync?.type === 'sync' && isSync.wantReply) this.sync(sender, false);
      else this.resyncIfDead(sender);
      if (arriving) this.announceArrival(sender);
    } catch {
      this.counters.rxMalformed++;
    }
  }

  /**
   * A member we hold dead is talking to us: it restarted, or came back from a partition,
   * and its refutation may never reach us by gossip (it went out a few times, to whoever
   * it could reach). A sync tells it what we believe, so it refutes, and its reply
   * carries the refutation. At most once per probe interval per member.
   */
  private resyncIfDead(sender: Target): void {
    if (this.membership.members.get(sender.id)?.state !== 'dead') return;
    const now = this.clock.now();
    if (now - (this.resyncedAt.get(sender.id) ?? -Infinity) < this.config.probeIntervalMs) return;
    this.resyncedAt.set(sender.id, now);
    this.sync(sender, true);
  }

  /**
   * A member new to us, or one we held dead, proved first-hand that it is alive (it joined
   * or came back through us). Behind a NAT it may reach only us, and its `alive` is one
   * update among few members, where a handful of piggybacked copies easily misses someone
   * who then lacks it until a push/pull: tell the live members directly, as a leave is told.
   */
  private announceArrival(sender: Target): void {
    const m = this.membership.members.get(sender.id);
    if (m?.state !== 'alive') return;
    const msg = encodeMessage(this.membership.aliveMessage(m));
    for (const t of this.pick(DIRECT_FANOUT, (x) => x.state === 'alive' && x !== m)) this.send(t, [msg]);
  }

  private handle(m: GossipMessage, sender: Target): void {
    switch (m.type) {
      case 'ping':
        if (!this.membership.isSelf(m.target)) this.counters.rxMisdirected++;
        else this.send(sender, [encodeMessage({ type: 'ack', seq: m.seq }), ...this.observed(sender)]);
        return;
      case 'indirectPing':
        return this.probeFor(m, sender);
      case 'ack':
      case 'nack': {
        const p = this.pending.get(m.seq);
        if (p && m.type === 'ack') {
          this.pending.delete(m.seq);
          this.clock.clearTimeout(p.timer);
          this.timers.delete(p.timer);
          p.onAck();
        } else p?.onNack();
        return;
      }
      case 'alive':
        return this.membership.aliveNode(m);
      case 'suspect':
        this.correctStale(m, sender);
        return this.suspectAndTell(m);
      case 'dead':
        this.correctStale(m, sender);
        return this.membership.deadNode(m);
      case 'revoke':
        this.membership.revoke(m);
        return;
      case 'sync':
        return;
      case 'forward':
      case 'forwarded':
      case 'observed':
        this.emit('rendezvous', m, sender.id);
        return;
    }
  }

  /**
   * Someone else's accusation: when it makes us suspect a member we heard from lately, we
   * tell that member at once (Lifeguard's buddy, on receipt rather than at our next probe
   * of it). A member behind a NAT hears gossip only from the few members that reach it,
   * and must refute before the suspicion timeout, which independent accusers shorten.
   */
  private suspectAndTell(s: Extract<GossipMessage, { type: 'suspect' }>): void {
    const m = this.membership.members.get(keyId(s.node));
    const was = m?.state;
    this.membership.suspectNode(s);
    if (!m || was !== 'alive' || m.state !== 'suspect' || m === this.membership.self) return;
    if (this.clock.now() - m.heardAt < 2 * this.config.probeIntervalMs) this.send(m, [encodeMessage(s)]);
  }

  /**
   * The sender passed on an accusation older than the member's refutation we hold: it
   * missed the refutation (a NATed member's gossip reaches few), so send it the `alive`.
   */
  private correctStale(acc: { node: Uint8Array; incarnation: number }, sender: Target): void {
    const m = this.membership.members.get(keyId(acc.node));
    if (m && m !== this.membership.self && m.state === 'alive' && acc.incarnation < m.incarnation) this.send(sender, [encodeMessage(this.membership.aliveMessage(m))]);
  }

  /** Tells a member that does not advertise where its ping came from (its NAT's mapping). */
  private observed(sender: Target): Uint8Array[] {
    const m = this.membership.members.get(sender.id);
    return m && sender.addr && !m.endpoints.some((e) => e.equals(sender.addr!)) ? [encodeMessage({ type: 'observed', addr: sender.addr })] : [];
  }

  /** Sends one message to member `id` where we probe it; false when it has no address. */
  sendTo(id: string, msg: Uint8Array): boolean {
    const m = this.membership.members.get(id);
    if (!m?.addr || this.stopped) return false;
    this.send(m, [msg]);
    return true;
  }

  /** Probes `target` for a member that could not reach it; acks or nacks back. */
  private probeFor(req: Extract<GossipMessage, { type: 'indirectPing' }>, requester: Target): void {
    const targetId = keyId(req.target);
    if (!this.o.trust.isMember(targetId)) return void this.counters.rxUntrusted++;
    const seq = this.nextSeq();
    let acked = false;
    const ok = this.expect(seq, this.config.probeIntervalMs, () => {
      acked = true;
      // With our view of the target: a requester that holds it suspect may have missed its
      // refutation (a NATed member's own gossip reaches few), and this carries it.
      const t = this.membership.members.get(targetId);
      const view = t?.state === 'alive' ? [encodeMessage(this.membership.aliveMessage(t))] : [];
      this.send(requester, [encodeMessage({ type: 'ack', seq: req.seq }), ...view]);
    });
    if (!ok) return;
    // Also where we reach it ourselves: a member behind a NAT answers only at its mapping
    // towards each peer, and the requester's address for it may be one it cannot use.
    const own = this.membership.members.get(targetId)?.addr;
    for (const addr of own && !own.equals(req.addr) ? [req.addr, own] : [req.addr]) {
      this.send({ key: req.target, id: targetId, addr }, [encodeMessage({ type: 'ping', seq, target: req.target })]);
    }
    if (req.wantNack) {
      this.after(this.config.probeTimeoutMs, () => {
        if (!acked) this.send(requester, [encodeMessage({ type: 'nack', seq: req.seq })]);
      });
    }
  }
}
