// Over 500 lines, on purpose for now: this file is split by job in the architecture
// issue (#13: bind and demux; per-peer path state on the fake clock; relay set; birthday
// method; handshake resend), which also moves the agent onto a NetmapSource. Splitting it
// here, while the hardening and first-packet changes landed in the same round, would have
// been that refactor done twice.
import { randomFillSync, randomInt } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { keyFromBase64, keyToBase64, publicKeyFromPrivate, type PrivateKey, type PublicKey } from '../crypto/keys.js';
import { silentLogger, type Logger } from '../log.js';
import { PacketBatch } from '../io/batch.js';
import type { Bind, BindEvents } from '../io/bind.js';
import { ENDPOINT_BYTES, Endpoint } from '../io/endpoint.js';
import { RelayClient } from '../relay/client.js';
import { DiscoFreshness, DiscoKeys, DiscoStamper, discoSender, isDiscoPacket, openDisco, sealDisco, type DiscoBody } from './disco.js';
import { StunClient, stunSendOverBind } from './stun-client.js';
import { isStunPacket } from './stun.js';

// MagicBind (Tailscale's magicsock, simplified): the engine's Bind around the real UDP
// socket. It gives every peer a synthetic endpoint (fd7a:7765:6674::<index>, port 1), so
// WireGuard roaming never pins a raw address; on send it picks the peer's current best
// path (a direct UDP endpoint confirmed by an authenticated disco pong, else the relay);
// on receive it demultiplexes STUN (to the StunClient), disco (to the path manager) and
// WireGuard (source rewritten to the sending peer's synthetic endpoint).
//
// Per peer: candidates (netmap endpoints, CallMeMaybe endpoints, sources of its pings);
// every heartbeat the best path is pinged, a path without a pong for `trustMs` is
// dropped (traffic falls back to the relay); without a direct path every candidate is
// pinged and a CallMeMaybe sent through the relay, so the peer pings back at the same
// time (hole punching): quickly a few times, then every `retryMs`.

const SYNTH_PREFIX = [0xfd, 0x7a, 0x77, 0x65, 0x66, 0x74];
const RELAY_PSEUDO = Endpoint.of('::', 0);
const MAX_CANDIDATES = 64;
/**
 * Source addresses (per socket) mapped to one peer; past it the oldest that is not the
 * best path is forgotten. Above the birthday method's 256 sockets, each with its own
 * mapping at the peer's NAT.
 */
const MAX_ADDRS_PER_PEER = 512;
const QUICK_ATTEMPTS = 5;
/** Initiations relayed from keys not (yet) in the netmap are held this long, this many at most. */
const EARLY_INIT_MS = 5000;
const MAX_EARLY_INITS = 16;

export type RelayLike = Pick<RelayClient, 'send' | 'connect' | 'stop' | 'state'>;

export interface MagicRelay {
  id: string;
  url: string;
}

export interface MagicPeer {
  /** base64 WireGuard public key */
  publicKey: string;
  endpoints: string[];
  homeRelay: string | null;
}

export interface PathInfo {
  path: 'direct' | 'relay' | 'none';
  endpoint: string | null;
  relay: string | null;
  rttMs: number | null;
  reason: string | null;
}

export interface MagicBindOptions {
  inner: Bind;
  privateKey: PrivateKey;
  clock?: Clock;
  logger?: Logger;
  heartbeatMs?: number;
  /** A direct path without a pong for this long is dropped (default 3500 ms). */
  trustMs?: number;
  /** Direct retry interval once the quick attempts failed (default 30 s). */
  retryMs?: number;
  /** Our own candidate endpoints, sent in CallMeMaybe. */
  ownEndpoints?: () => Endpoint[];
  /** Facts from netcheck for the "why not direct" reason. */
  natInfo?: () => { udp: boolean | null; hard: boolean | null };
  createRelayClient?: (url: string, onPacket: (src: PublicKey, pkt: Uint8Array) => void) => RelayLike;
  /**
   * Extra UDP sockets for the birthday-paradox method (we are behind an endpoint-dependent
   * NAT, the peer is not): absent = the method is off.
   */
  createExtraBind?: () => Bind;
  /** Birthday method: extra sockets (default 256) and the easy side's probes (default 2048). */
  birthdaySockets?: number;
  birthdayProbes?: number;
}

interface Confirmed {
  ep: Endpoint;
  /** 0 = the main socket, k = extra socket k (birthday method). */
  sock: number;
  lastPong: number;
  rttMs: number;
}

interface PeerState {
  key: Uint8Array;
  b64: string;
  synth: Endpoint;
  netmapEndpoints: string[];
  candidates: Map<string, Endpoint>;
  /** Our byAddr keys pointing at this peer, oldest first (bounded by MAX_ADDRS_PER_PEER). */
  addrs: Set<string>;
  best: Confirmed | null;
  pending: Map<string, { ep: Endpoint; sentAt: number; sock: number }>;
  lastBirthday: number;
  lastSpray: number;
  homeRelay: string | null;
  lastFull: number;
  attempts: number;
  lastPingBack: number;
  lostAt: number;
  firstDirectAt: number | null;
  /**
   * The engine's latest handshake message to this peer (an initiation, or a response to
   * the peer's initiation) while no answer has come: sent again when a path appears.
   */
  lastHandshake: { pkt: Uint8Array; at: number; type: 1 | 2 } | null;
  /** When the peer's latest handshake initiation reached us (a replay then would cross it). */
  lastInitRx: number;
  /** When a WireGuard packet other than an initiation (response, data) last came from the peer. */
  lastWgRx: number;
}

export interface MagicStats {
  stunRx: number;
  discoRx: number;
  discoTx: number;
  discoBad: number;
  /** Authentic disco messages refused as replayed or outside the clock window. */
  discoStale: number;
  wgUnknownSource: number;
  malformed: number;
  directTx: number;
  relayTx: number;
  relayRx: number;
  relayDrops: number;
  noPathDrops: number;
  birthdayAttempts: number;
  sprays: number;
}

function isLanAddress(ep: Endpoint): boolean {
  try {
    const r = ipaddr.parse(ep.ip).range();
    return r === 'private' || r === 'uniqueLocal' || r === 'carrierGradeNat';
  } catch {
    return false;
  }
}

export function isSyntheticEndpoint(ep: Endpoint | Uint8Array, off = 0): boolean {
  const b = ep instanceof Endpoint ? ep.bytes : ep;
  for (let i = 0; i < SYNTH_PREFIX.length; i++) if (b[off + i] !== SYNTH_PREFIX[i]) return false;
  return true;
}

function synthIndex(b: Uint8Array, off = 0): number {
  return ((b[off + 12] << 24) | (b[off + 13] << 16) | (b[off + 14] << 8) | b[off + 15]) >>> 0;
}

function synthFor(index: number): Endpoint {
  const b = new Uint8Array(ENDPOINT_BYTES);
  b.set(SYNTH_PREFIX);
  b[12] = index >>> 24;
  b[13] = (index >>> 16) & 0xff;
  b[14] = (index >>> 8) & 0xff;
  b[15] = index & 0xff;
  b[17] = 1;
  return Endpoint.fromBytes(b);
}

export class MagicBind implements Bind {
  readonly stun: StunClient;
  readonly stats: MagicStats = { stunRx: 0, discoRx: 0, discoTx: 0, discoBad: 0, discoStale: 0, wgUnknownSource: 0, malformed: 0, directTx: 0, relayTx: 0, relayRx: 0, relayDrops: 0, noPathDrops: 0, birthdayAttempts: 0, sprays: 0 };
  /** Extra sockets of the birthday method, index k-1 for socket k. */
  private extra: (Bind | null)[] = [];
  /** The engine's fwmark, also on the birthday sockets (an exit node must not route them into the tunnel). */
  private mark = 0;
  private birthday: { peers: Set<PeerState>; until: number; ready: boolean } | null = null;
  readonly publicKey: PublicKey;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly keys: DiscoKeys;
  private readonly stamps = new DiscoStamper();
  private readonly freshness = new DiscoFreshness();
  private events: BindEvents | null = null;
  private readonly peers = new Map<string, PeerState>();
  private readonly byIndex = new Map<number, PeerState>();
  private readonly byAddr = new Map<string, PeerState>();
  /**
   * A peer may learn of us (and initiate) before our netmap names it: its initiation,
   * relayed (so its key is proven to the relay), waits here and is answered when it does.
   */
  private readonly earlyInits = new Map<string, { pkt: Uint8Array; at: number }>();
  private nextIndex = 1;
  private relays = new Map<string, MagicRelay>();
  private readonly relayClients = new Map<string, RelayLike>();
  private home: string | null = null;
  private timer: TimerHandle | null = null;
  private readonly one = new PacketBatch(1, 2048);
  private readonly relayIn = new PacketBatch(1, 65536 + 64);
  private readonly relaySrc = new Uint8Array(ENDPOINT_BYTES);
  private lastEp: Endpoint | null = null;
  private lastPeer: PeerState | null = null;
  private closed = false;
  /** Fires when a peer's path changes (direct found or lost). */
  onPathChange?: (peerKey: string, info: PathInfo) => void;

  constructor(private readonly opts: MagicBindOptions) {
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
    this.publicKey = publicKeyFromPrivate(opts.privateKey);
    this.keys = new DiscoKeys(opts.privateKey, this.publicKey);
    this.stun = new StunClient({ send: stunSendOverBind(opts.inner), clock: this.clock });
  }

  get port(): number {
    return this.opts.inner.port;
  }

  get homeRelay(): string | null {
    return this.home;
  }

  async open(port: number, events: BindEvents): Promise<number> {
    this.events = events;
    this.closed = false;
    const bound = await this.opts.inner.open(port, {
      onReceive: (batch, sources) => this.onInner(batch, sources),
      onClose: (err) => events.onClose?.(err),
    });
    this.scheduleTick();
    return bound;
  }

  setMark(mark: number): void {
    this.mark = mark;
    this.opts.inner.setMark(mark);
    for (const b of this.extra) b?.setMark(mark);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.birthday = null;
    await this.closeExtras(new Set());
    await this.opts.inner.close();
  }

  /** Stops relay connections and timers for good (the agent stopping). */
  async shutdown(): Promise<void> {
    this.stun.close();
    await this.close();
    await Promise.all([...this.relayClients.values()].map((c) => c.stop().catch(() => {})));
    this.relayClients.clear();
  }

  // --- configuration --------------------------------------------------------------------

  setRelays(relays: MagicRelay[], home: string | null): void {
    this.relays = new Map(relays.map((r) => [r.id, r]));
    for (const [id, c] of this.relayClients) {
      if (!this.relays.has(id) || this.relays.get(id)!.url !== (c as { url?: string }).url) {
        void c.stop().catch(() => {});
        this.relayClients.delete(id);
      }
    }
    this.home = home && this.relays.has(home) ? home : (relays[0]?.id ?? null);
    if (this.home) this.relayClient(this.home);
  }

  /** Replaces the peer set; returns each peer's synthetic endpoint. */
  setPeers(list: MagicPeer[]): Map<string, Endpoint> {
    const seen = new Set<string>();
    const added: PeerState[] = [];
    const out = new Map<string, Endpoint>();
    for (const p of list) {
      seen.add(p.publicKey);
      let s = this.peers.get(p.publicKey);
      if (!s) {
        const index = this.nextIndex++;
        s = {
          key: keyFromBase64(p.publicKey),
          b64: p.publicKey,
          synth: synthFor(index),
          netmapEndpoints: [],
          candidates: new Map(),
          addrs: new Set(),
          best: null,
          pending: new Map(),
          homeRelay: null,
          lastFull: -Infinity,
          attempts: 0,
          lastPingBack: -Infinity,
          lostAt: -Infinity,
          firstDirectAt: null,
          lastHandshake: null,
          lastInitRx: -Infinity,
          lastWgRx: -Infinity,
          lastBirthday: -Infinity,
          lastSpray: -Infinity,
        };
        this.peers.set(p.publicKey, s);
        this.byIndex.set(index, s);
        added.push(s);
      }
      s.homeRelay = p.homeRelay;
      const eps = p.endpoints.flatMap((e) => {
        try {
          return [Endpoint.parse(e)];
        } catch {
          return [];
        }
      });
      const text = eps.map((e) => e.key).join(',');
      if (text !== s.netmapEndpoints.join(',')) {
        s.netmapEndpoints = eps.map((e) => e.key);
        for (const e of eps) this.addCandidate(s, e);
        s.attempts = 0;
        s.lastFull = -Infinity;
      }
      out.set(p.publicKey, s.synth);
    }
    for (const [k, s] of this.peers) {
      if (seen.has(k)) continue;
      this.peers.delete(k);
      this.byIndex.delete(synthIndex(s.synth.bytes));
      for (const a of s.addrs) this.byAddr.delete(a);
      if (this.lastPeer === s) this.lastPeer = this.lastEp = null;
    }
    const now = this.clock.now();
    for (const s of added) {
      const early = this.earlyInits.get(s.b64);
      this.earlyInits.delete(s.b64);
      // After the caller has finished configuring the engine for the new peers.
      if (early && now - early.at < EARLY_INIT_MS) this.clock.setTimeout(() => this.peers.get(s.b64) === s && this.relayPacket(s, early.pkt), 0);
    }
    this.freshness.retain(this.peers);
    if (!this.closed && this.events) this.tick();
    return out;
  }

  /**
   * Our network changed (address added or removed): direct paths and relay connections
   * may be dead without anything telling us, so drop them all and rediscover at once.
   */
  linkChange(): void {
    for (const s of this.peers.values()) {
      if (s.best) s.lostAt = this.clock.now();
      s.best = null;
      s.attempts = 0;
      s.lastFull = -Infinity;
    }
    this.byAddr.clear();
    for (const s of this.peers.values()) s.addrs.clear();
    this.lastEp = this.lastPeer = null;
    for (const c of this.relayClients.values()) void c.stop().catch(() => {});
    this.relayClients.clear();
    if (this.home) this.relayClient(this.home);
    if (!this.closed && this.events) this.tick();
  }

  synthetic(peerKey: string): Endpoint | null {
    return this.peers.get(peerKey)?.synth ?? null;
  }

  path(peerKey: string): PathInfo {
    const s = this.peers.get(peerKey);
    if (!s) return { path: 'none', endpoint: null, relay: null, rttMs: null, reason: 'unknown peer' };
    const now = this.clock.now();
    if (s.best && now - s.best.lastPong <= this.trustMs) return { path: 'direct', endpoint: s.best.ep.key, relay: null, rttMs: Math.round(s.best.rttMs * 100) / 100, reason: null };
    const relay = this.relayIdFor(s);
    const c = relay ? this.relayClients.get(relay) : undefined;
    const reason = this.whyNotDirect(s);
    if (!relay) return { path: 'none', endpoint: null, relay: null, rttMs: null, reason: `no relay; ${reason}` };
    if (c && c.state !== 'connected') return { path: 'none', endpoint: null, relay, rttMs: null, reason: `relay ${relay} not connected; ${reason}` };
    return { path: 'relay', endpoint: null, relay, rttMs: null, reason };
  }

  /** Time (clock ms) the first direct path to the peer was confirmed, or null. */
  directSince(peerKey: string): number | null {
    return this.peers.get(peerKey)?.firstDirectAt ?? null;
  }

  private whyNotDirect(s: PeerState): string {
    const nat = this.opts.natInfo?.() ?? { udp: null, hard: null };
    if (nat.udp === false) return 'UDP blocked here';
    const n = s.candidates.size;
    if (n === 0) return 'peer has no direct candidates';
    if (s.best || this.clock.now() - s.lostAt < this.retryMs) return 'direct path stopped answering; retrying later';
    if (s.attempts === 0) return 'probing candidates';
    const hard = nat.hard ? ' (we are behind endpoint-dependent NAT; peer probably too)' : '';
    return `no reply to probes of ${n} candidate${n === 1 ? '' : 's'}${hard}`;
  }

  /** Sizes of the state peers' probes grow (all bounded: per peer, or by the peer set). */
  stateSizes(): { byAddr: number; candidates: number; discoKeys: number } {
    let candidates = 0;
    for (const s of this.peers.values()) candidates += s.candidates.size;
    return { byAddr: this.byAddr.size, candidates, discoKeys: this.keys.size };
  }

  private get trustMs(): number {
    return this.opts.trustMs ?? 3500;
  }

  private get retryMs(): number {
    return this.opts.retryMs ?? 30_000;
  }

  private addCandidate(s: PeerState, ep: Endpoint): void {
    if (isSyntheticEndpoint(ep) || ep.port === 0 || s.candidates.has(ep.key)) return;
    if (s.candidates.size >= MAX_CANDIDATES) {
      const first = s.candidates.keys().next().value as string;
      s.candidates.delete(first);
    }
    s.candidates.set(ep.key, ep);
  }

  // --- relays ---------------------------------------------------------------------------

  private relayIdFor(s: PeerState): string | null {
    if (s.homeRelay && this.relays.has(s.homeRelay)) return s.homeRelay;
    return this.home;
  }

  private relayClient(id: string): RelayLike | null {
    let c = this.relayClients.get(id);
    if (c) return c;
    const r = this.relays.get(id);
    if (!r || this.closed) return null;
    const onPacket = (src: PublicKey, pkt: Uint8Array): void => this.fromRelay(src, pkt);
    const onStateChange = (st: string): void => {
      if (st === 'connected') this.flushBacklog(id);
    };
    c = this.opts.createRelayClient
      ? this.opts.createRelayClient(r.url, onPacket)
      : new RelayClient({ url: r.url, privateKey: this.opts.privateKey, onPacket, onStateChange, clock: this.clock, logger: this.logger, backoffMaxMs: 2000 });
    this.relayClients.set(id, c);
    c.connect().catch((err: Error) => this.logger.debug({ relay: id, err: err.message }, 'relay connect failed'));
    return c;
  }

  relayState(id: string): string | null {
    return this.relayClients.get(id)?.state ?? null;
  }

  // Packets for a relay still connecting wait here (bounded), so the first handshake is
  // not lost to a connection that is about to come up.
  private backlog: { id: string; key: Uint8Array; pkt: Uint8Array; at: number }[] = [];

  private flushBacklog(id: string): void {
    const now = this.clock.now();
    const items = this.backlog.filter((b) => b.id === id);
    this.backlog = this.backlog.filter((b) => b.id !== id);
    const c = this.relayClients.get(id);
    for (const b of items) if (c && now - b.at < 5000 && c.send(b.key, b.pkt)) this.stats.relayTx++;
  }

  private sendRelay(s: PeerState, pkt: Uint8Array): boolean {
    const id = this.relayIdFor(s);
    const c = id ? this.relayClient(id) : null;
    if (c && id && c.state === 'connecting' && this.backlog.length < 64) {
      this.backlog.push({ id, key: s.key, pkt: Uint8Array.prototype.slice.call(pkt) as Uint8Array, at: this.clock.now() });
      return true;
    }
    if (!c || !c.send(s.key, pkt)) {
      this.stats.relayDrops++;
      return false;
    }
    this.stats.relayTx++;
    return true;
  }

  private fromRelay(src: PublicKey, pkt: Uint8Array): void {
    this.stats.relayRx++;
    const s = this.peers.get(keyToBase64(src));
    if (!s) return this.holdEarlyInit(src, pkt);
    this.relayPacket(s, pkt);
  }

  private relayPacket(s: PeerState, pkt: Uint8Array): void {
    if (isDiscoPacket(pkt)) return this.onDisco(pkt, RELAY_PSEUDO, s);
    if (!this.events || this.closed || pkt.length === 0 || pkt[0] < 1 || pkt[0] > 4) {
      this.stats.malformed++;
      return;
    }
    if (pkt[0] === 1) s.lastInitRx = this.clock.now();
    else s.lastWgRx = this.clock.now();
    const b = this.relayIn;
    b.reset();
    if (!b.push(pkt)) return;
    this.relaySrc.set(s.synth.bytes);
    try {
      this.events.onReceive(b, this.relaySrc);
    } finally {
      b.reset();
    }
  }

  private holdEarlyInit(src: PublicKey, pkt: Uint8Array): void {
    if (pkt.length !== 148 || pkt[0] !== 1) return;
    const now = this.clock.now();
    for (const [k, e] of this.earlyInits) if (now - e.at >= EARLY_INIT_MS) this.earlyInits.delete(k);
    const key = keyToBase64(src);
    this.earlyInits.delete(key);
    if (this.earlyInits.size >= MAX_EARLY_INITS) this.earlyInits.delete(this.earlyInits.keys().next().value as string);
    this.earlyInits.set(key, { pkt: Uint8Array.prototype.slice.call(pkt) as Uint8Array, at: now });
  }

  // --- data path ------------------------------------------------------------------------

  send(batch: PacketBatch, to: Endpoint): number {
    if (!isSyntheticEndpoint(to)) return this.opts.inner.send(batch, to);
    const s = this.byIndex.get(synthIndex(to.bytes));
    if (!s) {
      this.stats.noPathDrops += batch.count;
      return 0;
    }
    if (batch.count === 1) this.noteHandshake(s, batch);
    if (s.best && this.clock.now() - s.best.lastPong <= this.trustMs) {
      const n = this.sock(s.best.sock)?.send(batch, s.best.ep) ?? 0;
      this.stats.directTx += n;
      return n;
    }
    let n = 0;
    for (let i = 0; i < batch.count; i++) if (this.sendRelay(s, batch.packet(i))) n++;
    return n;
  }

  private sock(k: number): Bind | null {
    return k === 0 ? this.opts.inner : (this.extra[k - 1] ?? null);
  }

  private addrKey(sock: number, ep: Endpoint): string {
    return sock === 0 ? ep.key : `${sock}|${ep.key}`;
  }

  /** Maps a source (proven by a fresh ping or a pong) to its peer, bounded per peer. */
  private learnAddr(s: PeerState, sock: number, from: Endpoint): void {
    const a = this.addrKey(sock, from);
    const prev = this.byAddr.get(a);
    prev?.addrs.delete(a);
    if (s.addrs.size >= MAX_ADDRS_PER_PEER) {
      const best = s.best ? this.addrKey(s.best.sock, s.best.ep) : null;
      const old = [...s.addrs].find((x) => x !== best);
      if (old !== undefined) {
        s.addrs.delete(old);
        this.byAddr.delete(old);
        if (this.lastPeer === s) this.lastEp = this.lastPeer = null;
      }
    }
    s.addrs.add(a);
    this.byAddr.set(a, s);
  }

  private onInner(batch: PacketBatch, sources: Uint8Array, sock = 0): void {
    let w = 0;
    const count = batch.count;
    for (let i = 0; i < count; i++) {
      const pkt = batch.packet(i);
      const off = i * ENDPOINT_BYTES;
      let keep = false;
      if (pkt.length >= 32 && pkt[0] >= 1 && pkt[0] <= 4 && pkt[1] === 0 && pkt[2] === 0 && pkt[3] === 0) {
        let s: PeerState | null | undefined = null;
        if (sock === 0 && this.lastEp && this.lastEp.equals(sources, off)) s = this.lastPeer;
        else {
          const ep = Endpoint.fromBytes(sources, off);
          s = this.byAddr.get(this.addrKey(sock, ep));
          if (s && sock === 0) {
            this.lastEp = ep;
            this.lastPeer = s;
          }
        }
        if (s) {
          if (pkt[0] === 1) s.lastInitRx = this.clock.now();
          else s.lastWgRx = this.clock.now();
          sources.set(s.synth.bytes, w * ENDPOINT_BYTES);
          keep = true;
        } else this.stats.wgUnknownSource++;
      } else if (isStunPacket(pkt)) {
        this.stats.stunRx++;
        this.stun.handlePacket(pkt);
      } else if (isDiscoPacket(pkt)) {
        this.onDisco(pkt, Endpoint.fromBytes(sources, off), null, sock);
      } else this.stats.malformed++;
      if (keep) {
        if (w !== i) {
          const from = batch.start(i);
          batch.offsets[w] = batch.offsets[i];
          batch.lengths[w] = batch.lengths[i];
          batch.data.copyWithin(batch.start(w), from, from + batch.lengths[i]);
        }
        w++;
      }
    }
    batch.count = w;
    if (w > 0 && this.events) this.events.onReceive(batch, sources);
  }

  /** Remembers the engine's handshake initiation (type 1) or response (type 2) to `s`. */
  private noteHandshake(s: PeerState, batch: PacketBatch): void {
    const len = batch.lengths[0];
    const type = batch.data[batch.start(0)];
    if ((type === 1 && len === 148) || (type === 2 && len === 92)) {
      s.lastHandshake = { pkt: Uint8Array.prototype.slice.call(batch.packet(0)) as Uint8Array, at: this.clock.now(), type };
    }
  }

  /**
   * Sends the remembered handshake message again on the best path while it is unanswered,
   * for at most 4.5 s (then WireGuard's own retransmission takes over with a fresh one).
   * Unanswered: nothing but initiations came from the peer since. An initiation of the
   * peer's also ends our initiation (the engine answered it instead), but not our response:
   * that may be the peer resending the very initiation we answered (a newer one would
   * have replaced the response).
   */
  private replayHandshake(s: PeerState, now: number): void {
    const h = s.lastHandshake;
    if (!h) return;
    const answered = s.lastWgRx >= h.at || (h.type === 1 && s.lastInitRx >= h.at);
    if (answered || now - h.at >= 4500) {
      s.lastHandshake = null;
      return;
    }
    if (s.best && now - s.best.lastPong <= this.trustMs) {
      const b = this.one;
      b.reset();
      b.push(h.pkt);
      this.sock(s.best.sock)?.send(b, s.best.ep);
    } else this.sendRelay(s, h.pkt);
  }

  // --- disco ----------------------------------------------------------------------------

  private sendDisco(s: PeerState, msg: DiscoBody, to: Endpoint | null, sock = 0): void {
    const pkt = sealDisco(this.keys, s.key, { ...msg, stamp: this.stamps.next(this.clock.wallNow()) });
    if (!pkt) return;
    this.stats.discoTx++;
    if (to === null) {
      this.sendRelay(s, pkt);
      return;
    }
    const b = this.one;
    b.reset();
    b.push(pkt);
    try {
      this.sock(sock)?.send(b, to);
    } catch {
      // unreachable family etc.: the probe is just lost
    }
  }

  private ping(s: PeerState, ep: Endpoint, sock = 0, track = true): void {
    const txid = randomFillSync(new Uint8Array(12));
    if (track) {
      const id = Buffer.from(txid).toString('hex');
      if (s.pending.size > 1024) s.pending.clear();
      s.pending.set(id, { ep, sentAt: this.clock.now(), sock });
    }
    this.sendDisco(s, { type: 'ping', txid }, ep, sock);
  }

  private pingAll(s: PeerState, callMeMaybe: boolean): void {
    s.lastFull = this.clock.now();
    for (const ep of s.candidates.values()) this.ping(s, ep);
    if (callMeMaybe) {
      const own = this.opts.ownEndpoints?.() ?? [];
      if (own.length > 0) this.sendDisco(s, { type: 'callMeMaybe', endpoints: own }, null);
    }
  }

  private onDisco(pkt: Uint8Array, from: Endpoint, relayPeer: PeerState | null, sock = 0): void {
    this.stats.discoRx++;
    // The named sender must be a current peer before any X25519 (a stranger costs a lookup).
    const s = this.peers.get(keyToBase64(discoSender(pkt)));
    const opened = s && (relayPeer === null || relayPeer === s) ? openDisco(this.keys, pkt) : null;
    if (!s || !opened) {
      this.stats.discoBad++;
      return;
    }
    if (!this.freshness.accept(s.b64, opened.msg.stamp, this.clock.wallNow())) {
      this.stats.discoStale++;
      return;
    }
    const viaRelay = relayPeer !== null;
    const m = opened.msg;
    const now = this.clock.now();
    switch (m.type) {
      case 'ping': {
        this.sendDisco(s, { type: 'pong', txid: m.txid, src: from }, viaRelay ? null : from, sock);
        if (viaRelay) return;
        if (sock === 0) this.addCandidate(s, from);
        this.learnAddr(s, sock, from);
        // Ping back on a path we have not confirmed: this is the simultaneous send that
        // opens our NAT's mapping towards the peer.
        if ((!s.best || !s.best.ep.equals(from) || s.best.sock !== sock) && now - s.lastPingBack > 500) {
          s.lastPingBack = now;
          this.ping(s, from, sock);
        }
        return;
      }
      case 'pong': {
        const id = Buffer.from(m.txid).toString('hex');
        const p = s.pending.get(id);
        if (!p || viaRelay || !p.ep.equals(from) || p.sock !== sock) {
          if (!p) this.stats.discoBad++;
          return;
        }
        s.pending.delete(id);
        const rtt = now - p.sentAt;
        const valid = s.best && now - s.best.lastPong <= this.trustMs;
        this.learnAddr(s, sock, from);
        if (s.best && s.best.ep.equals(from) && s.best.sock === sock) {
          s.best.lastPong = now;
          s.best.rttMs = rtt;
        } else if (!valid || rtt < s.best!.rttMs * 0.8 - 0.5 || (isLanAddress(from) && !isLanAddress(s.best!.ep) && rtt < s.best!.rttMs * 2 + 5)) {
          // lower latency wins; a LAN address beats a public one of similar latency (same NAT)
          const was = valid ? s.best!.ep.key : null;
          s.best = { ep: from, sock, lastPong: now, rttMs: rtt };

          s.firstDirectAt ??= now;
          s.attempts = 0;
          this.logger.info({ peer: s.b64.slice(0, 8), endpoint: from.key, sock, rttMs: Math.round(rtt * 100) / 100, was }, 'direct path confirmed');
          this.onPathChange?.(s.b64, this.path(s.b64));
          // A handshake message sent moments ago may have been lost on the way to a relay
          // the peer had not joined yet: send it again on the new path at once.
          if (!valid) this.replayHandshake(s, now);
        }
        return;
      }
      case 'callMeMaybe': {
        if (!viaRelay) return; // only meaningful through the relay
        if (m.endpoints.length === 0) {
          this.spray(s); // an empty CallMeMaybe: the peer runs the birthday method, spray its public IPs
          return;
        }
        for (const ep of m.endpoints) this.addCandidate(s, ep);
        if (now - s.lastFull > 300) this.pingAll(s, false);
        return;
      }
    }
  }

  // --- periodic path maintenance --------------------------------------------------------

  private scheduleTick(): void {
    if (this.closed) return;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.tick();
      this.scheduleTick();
    }, this.opts.heartbeatMs ?? 1500);
  }

  private tick(): void {
    const now = this.clock.now();
    const hb = this.opts.heartbeatMs ?? 1500;
    for (const s of this.peers.values()) {
      if (s.best && now - s.best.lastPong > this.trustMs) {
        this.logger.info({ peer: s.b64.slice(0, 8), endpoint: s.best.ep.key }, 'direct path lost: falling back to the relay');
        s.best = null;
        s.lostAt = now;
        s.attempts = QUICK_ATTEMPTS - 1; // one immediate retry, then every retryMs
        s.lastFull = -Infinity;
        this.onPathChange?.(s.b64, this.path(s.b64));
      }
      for (const [id, p] of s.pending) if (now - p.sentAt > this.trustMs * 2) s.pending.delete(id);
      // A handshake message that got no answer (e.g. sent to a relay the peer had not
      // joined yet) goes again on the current path instead of waiting for WireGuard's 5 s
      // retry. A duplicate that did arrive is harmless: the responder's timestamp check
      // refuses a second initiation, and a consumed handshake ignores a second response.
      if (s.lastHandshake && now - s.lastHandshake.at > 400) this.replayHandshake(s, now);
      if (s.best) {
        this.ping(s, s.best.ep, s.best.sock);
        if (now - s.lastFull >= this.retryMs) this.pingAll(s, false);
        continue;
      }
      const interval = s.attempts < QUICK_ATTEMPTS ? hb : this.retryMs;
      if (now - s.lastFull >= interval) {
        s.attempts++;
        this.pingAll(s, true);
      }
      if (s.attempts >= 2 && now - s.lastBirthday >= this.retryMs) this.birthdayFor(s);
    }
    const bd = this.birthday;
    if (bd) {
      const open = [...bd.peers].filter((p) => !p.best && this.peers.get(p.b64) === p);
      if (now >= bd.until || (bd.ready && open.length === 0)) {
        this.birthday = null;
        void this.closeExtras(this.socksInUse());
      } else if (bd.ready) for (const p of open) this.birthdayPings(p);
    }
  }

  private socksInUse(): Set<number> {
    const set = new Set<number>();
    for (const p of this.peers.values()) if (p.best && p.best.sock !== 0) set.add(p.best.sock);
    return set;
  }

  private birthdayFor(s: PeerState): void {
    const nat = this.opts.natInfo?.();
    if (!this.opts.createExtraBind || nat?.hard !== true || this.closed || this.publicCandidates(s).length === 0) return;
    const now = this.clock.now();
    s.lastBirthday = now;
    if (this.birthday) {
      if (this.birthday.peers.has(s)) return;
      this.birthday.peers.add(s);
      this.birthday.until = Math.max(this.birthday.until, now + 20_000);
      if (this.birthday.ready) this.askSpray(s);
      return;
    }
    this.birthday = { peers: new Set([s]), until: now + 20_000, ready: false };
    void this.startBirthday();
  }

  private askSpray(s: PeerState): void {
    this.stats.birthdayAttempts++;
    this.birthdayPings(s);
    this.sendDisco(s, { type: 'callMeMaybe', endpoints: [] }, null);
  }

  // --- birthday paradox (endpoint-dependent NAT here, endpoint-independent there) ---------

  private publicCandidates(s: PeerState): Endpoint[] {
    return [...s.candidates.values()].filter((e) => {
      try {
        const r = ipaddr.parse(e.ip).range();
        return r !== 'private' && r !== 'carrierGradeNat' && r !== 'loopback' && r !== 'linkLocal' && r !== 'uniqueLocal';
      } catch {
        return false;
      }
    });
  }

  private birthdayPings(s: PeerState): void {
    const targets = this.publicCandidates(s);
    this.extra.forEach((b, i) => {
      if (b) for (const ep of targets) this.ping(s, ep, i + 1);
    });
  }

  /**
   * We are behind an endpoint-dependent NAT: open many sockets and ping the peer's public
   * endpoint from each (many mappings towards it), then ask the peer (an empty
   * CallMeMaybe via the relay) to spray random ports on our public IP. One hit opens a path.
   */
  private async startBirthday(): Promise<void> {
    const n = this.opts.birthdaySockets ?? 256;
    await this.closeExtras(this.socksInUse());
    const opened: (Bind | null)[] = [...this.extra];
    for (let i = 0; i < n && !this.closed; i++) {
      if (opened[i]) continue; // an extra socket still carrying a direct path
      const b = this.opts.createExtraBind!();
      const k = i + 1;
      try {
        await b.open(0, { onReceive: (batch, sources) => this.onInner(batch, sources, k) });
        opened[i] = b;
      } catch {
        opened[i] = null;
        continue;
      }
      try {
        if (this.mark) b.setMark(this.mark);
      } catch {
        // as on the main socket, where the agent already warned
      }
    }
    this.extra = opened;
    const bd = this.birthday;
    if (this.closed || !bd) return void this.closeExtras(this.socksInUse());
    bd.ready = true;
    this.logger.info({ peers: [...bd.peers].map((p) => p.b64.slice(0, 8)), sockets: opened.filter(Boolean).length }, 'birthday method: extra sockets open, asking the peers to spray');
    for (const p of bd.peers) this.askSpray(p);
  }

  private async closeExtras(keep: Set<number>): Promise<void> {
    const list = this.extra;
    this.extra = list.map((b, i) => (keep.has(i + 1) ? b : null));
    for (const [a, s] of [...this.byAddr]) {
      const bar = a.indexOf('|');
      if (bar > 0 && !keep.has(Number(a.slice(0, bar)))) {
        this.byAddr.delete(a);
        s.addrs.delete(a);
      }
    }
    await Promise.all(list.map((b, i) => (b && !keep.has(i + 1) ? b.close().catch(() => {}) : undefined)));
  }

  /** The easy side of the birthday method: pings to random ports on the peer's public IPs (bounded). */
  private spray(s: PeerState): void {
    const nat = this.opts.natInfo?.();
    const now = this.clock.now();
    if (nat?.hard === true || now - s.lastSpray < 5000 || (s.best && now - s.best.lastPong <= this.trustMs)) return;
    const ips = [...new Set(this.publicCandidates(s).map((e) => e.ip))];
    if (ips.length === 0) return;
    s.lastSpray = now;
    this.stats.sprays++;
    const total = this.opts.birthdayProbes ?? 2048;
    const chunk = 256;
    let sent = 0;
    const burst = (): void => {
      if (this.closed || (s.best && this.clock.now() - s.best.lastPong <= this.trustMs)) return;
      for (let i = 0; i < chunk && sent < total; i++, sent++) this.ping(s, Endpoint.of(ips[sent % ips.length], randomInt(1024, 65536)), 0, false);
      if (sent < total) this.clock.setTimeout(burst, 50);
    };
    burst();
  }
}
