import { systemClock, type Clock } from '../clock.js';
import { publicKeyFromPrivate, type PrivateKey, type PublicKey } from '../crypto/keys.js';
import { silentLogger, type Logger } from '../log.js';
import type { PacketBatch } from '../io/batch.js';
import type { Bind, BindEvents } from '../io/bind.js';
import type { Endpoint } from '../io/endpoint.js';
import { AddrTable } from './addr-table.js';
import { Birthday } from './birthday.js';
import { ExtraSockets } from './extra-sockets.js';
import { isDiscoPacket } from './disco.js';
import { ACTIVE_MS, Heartbeat } from './heartbeat.js';
import { DataPath, type ForeignProtocol } from './magicsock-data.js';
import { PathDiscovery } from './path-discovery.js';
import { PeerPath, type PathTiming } from './peer-path.js';
import { RelaySet, type MagicRelay, type RelayLike } from './relay-set.js';
import { StunClient, stunSendOverBind } from './stun-client.js';

export type { ForeignProtocol } from './magicsock-data.js';
export type { MagicRelay, RelayLike } from './relay-set.js';
export { isSyntheticEndpoint } from './synthetic.js';

// MagicBind (Tailscale's magicsock, simplified): the engine's Bind around the real UDP
// socket. It gives every peer a synthetic endpoint (synthetic.ts), so WireGuard roaming
// never pins a raw address; on send it picks the peer's current best path (a direct UDP
// endpoint confirmed by an authenticated disco pong, else the relay); on receive it
// demultiplexes STUN (to the StunClient), disco (to path-discovery.ts) and WireGuard
// (source rewritten to the sending peer's synthetic endpoint, found in the AddrTable).
//
// The parts: per-peer path state (peer-path.ts), source addresses (addr-table.ts), disco
// probing (path-discovery.ts), the relays (relay-set.ts), the birthday method
// (birthday.ts) and the open-router punch (open-punch.ts) with their extra sockets
// (extra-sockets.ts), the handshake resend that fixes the first packets (handshake-resend.ts).
// This file wires them to the socket (the data path, send and receive demux, is
// magicsock-data.ts); the heartbeat (heartbeat.ts) probes the paths of peers with recent
// traffic only. A foreign protocol (serverless gossip) may share the socket: it sees its
// datagrams first.

/**
 * Source addresses (per socket) mapped to one peer; past it the oldest that is not the
 * best path is forgotten. Above the birthday method's 256 sockets, each with its own
 * mapping at the peer's NAT.
 */
const MAX_ADDRS_PER_PEER = 512;

export interface MagicPeer {
  /** base64 WireGuard public key */
  publicKey: string;
  endpoints: string[];
  homeRelay: string | null;
  /** On an external engine: WireGuard goes to this port at the direct path's address. */
  wgPort?: number | null;
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
  /** A peer without WireGuard traffic for this long is no longer probed (default 45 s). */
  activeMs?: number;
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

export class MagicBind implements Bind {
  readonly stun: StunClient;
  readonly stats: MagicStats = { stunRx: 0, discoRx: 0, discoTx: 0, discoBad: 0, discoStale: 0, wgUnknownSource: 0, malformed: 0, directTx: 0, relayTx: 0, relayRx: 0, relayDrops: 0, noPathDrops: 0, birthdayAttempts: 0, sprays: 0 };
  readonly publicKey: PublicKey;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly timing: PathTiming;
  private readonly discovery: PathDiscovery;
  private readonly relays: RelaySet;
  private readonly birthday: Birthday;
  /** The birthday method's and the open-router punch's sockets beside the main one. */
  private readonly extra: ExtraSockets;
  private events: BindEvents | null = null;
  private readonly peers = new Map<string, PeerPath>();
  private readonly byIndex = new Map<number, PeerPath>();
  private readonly addrs = new AddrTable<PeerPath>(MAX_ADDRS_PER_PEER);
  private nextIndex = 1;
  /** The engine's fwmark, also on the birthday sockets. */
  private mark = 0;
  private readonly heartbeat: Heartbeat;
  /** Send, receive demux, relay frames (magicsock-data.ts). */
  private readonly data: DataPath;
  private closed = false;
  /** Datagrams it accepts go to it before STUN and disco (never to the engine). */
  foreign: ForeignProtocol | null = null;
  /** Answers STUN requests on this socket (a serverless relay member); true when it took `pkt`. */
  stunResponder: ((pkt: Uint8Array, from: Endpoint) => boolean) | null = null;
  /** With no relay, disco goes this way (serverless: gossip through a mutual member). */
  rendezvous: ((key: Uint8Array, pkt: Uint8Array) => boolean) | null = null;
  /** Fires when a peer's path changes (direct found or lost). */
  onPathChange?: (peerKey: string, info: PathInfo) => void;

  constructor(private readonly opts: MagicBindOptions) {
    const clock = (this.clock = opts.clock ?? systemClock);
    const logger = (this.logger = opts.logger ?? silentLogger);
    this.timing = { heartbeatMs: opts.heartbeatMs ?? 1500, trustMs: opts.trustMs ?? 3500, retryMs: opts.retryMs ?? 30_000, activeMs: opts.activeMs ?? ACTIVE_MS };
    this.publicKey = publicKeyFromPrivate(opts.privateKey);
    this.stun = new StunClient({ send: stunSendOverBind(opts.inner), clock });
    const closed = (): boolean => this.closed;
    this.extra = new ExtraSockets({ createBind: opts.createExtraBind, mark: () => this.mark, onReceive: (b, src, sock) => this.data.receive(b, src, sock), closed: (socks) => this.addrs.dropSockets((sock) => !socks.has(sock)) });
    this.discovery = new PathDiscovery({
      privateKey: opts.privateKey,
      publicKey: this.publicKey,
      clock,
      logger,
      stats: this.stats,
      addrs: this.addrs,
      ownEndpoints: opts.ownEndpoints,
      natInfo: opts.natInfo,
      peer: (b64) => this.peers.get(b64),
      sock: (k) => this.data.sock(k),
      pool: this.extra,
      sendRelay: (p, pkt) => this.data.sendRelay(p, pkt),
      spray: (p) => this.birthday.spray(p),
      confirmed: (p, was, now) => {
        // WireGuard from an external engine's own port at that address is the peer's too.
        if (p.wgPort !== null && p.best) this.addrs.learn(p, p.best.sock, p.wgPortAt(p.best), (e) => p.isBest(e.ep, e.sock));
        this.onPathChange?.(p.b64, this.path(p.b64));
        // A handshake message sent moments ago may have been lost on the way to a relay
        // the peer had not joined yet: send it again on the new path at once.
        if (was === null) this.data.resendHandshake(p, now);
      },
    });
    this.relays = new RelaySet({ privateKey: opts.privateKey, clock, logger, createRelayClient: opts.createRelayClient, onPacket: (src, pkt) => this.data.fromRelay(src, pkt), closed, stats: this.stats });
    this.birthday = new Birthday(
      {
        clock,
        logger,
        stats: this.stats,
        sockets: opts.birthdaySockets,
        probes: opts.birthdayProbes,
        pool: this.extra,
        natInfo: opts.natInfo,
        closed,
        peers: () => this.peers.values(),
        isCurrent: (p) => this.peers.get(p.b64) === p,
        ping: (p, ep, sock, track) => this.discovery.ping(p, ep, sock, track),
        askSpray: (p) => this.discovery.send(p, { type: 'callMeMaybe', endpoints: [] }, null),
      },
      this.timing.retryMs,
    );
    this.heartbeat = new Heartbeat({
      clock,
      logger,
      timing: this.timing,
      discovery: this.discovery,
      birthday: this.birthday,
      peers: () => this.peers.values(),
      running: () => !this.closed && this.events !== null,
      lost: (s, ep) => {
        logger.info({ peer: s.b64.slice(0, 8), endpoint: ep.key }, 'direct path lost: falling back to the relay');
        this.onPathChange?.(s.b64, this.path(s.b64));
      },
      resendHandshake: (s, now) => this.data.resendHandshake(s, now),
    });
    const { stun, extra, discovery, relays, heartbeat, peers, byIndex, addrs } = this;
    // hooks: this bind's foreign, stunResponder and rendezvous, read as they are set.
    this.data = new DataPath({ inner: opts.inner, clock, stats: this.stats, natInfo: opts.natInfo, peers, byIndex, addrs, extra, stun, discovery, relays, heartbeat, hooks: this, events: () => this.events, closed });
  }

  get port(): number {
    return this.opts.inner.port;
  }

  get homeRelay(): string | null {
    return this.relays.home;
  }

  /** The main UDP socket itself: a foreign protocol sends its datagrams with it. */
  get socket(): Bind {
    return this.opts.inner;
  }

  async open(port: number, events: BindEvents): Promise<number> {
    this.events = events;
    this.closed = false;
    const bound = await this.opts.inner.open(port, {
      onReceive: (batch, sources) => this.data.receive(batch, sources, 0),
      onClose: (err) => events.onClose?.(err),
    });
    this.heartbeat.schedule();
    return bound;
  }

  setMark(mark: number): void {
    this.mark = mark;
    this.opts.inner.setMark(mark);
    this.extra.setMark(mark);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.heartbeat.stop();
    this.birthday.stop();
    await this.extra.close();
    await this.opts.inner.close();
  }

  /** Stops relay connections and timers for good (the agent stopping). */
  async shutdown(): Promise<void> {
    this.stun.close();
    await this.close();
    await this.relays.stop();
  }

  // --- configuration --------------------------------------------------------------------

  setRelays(relays: MagicRelay[], home: string | null): void {
    this.relays.set(relays, home);
  }

  /** Replaces the peer set; returns each peer's synthetic endpoint. */
  setPeers(list: MagicPeer[]): Map<string, Endpoint> {
    const seen = new Set<string>();
    const added: PeerPath[] = [];
    const out = new Map<string, Endpoint>();
    for (const p of list) {
      seen.add(p.publicKey);
      let s = this.peers.get(p.publicKey);
      if (!s) {
        s = new PeerPath(p.publicKey, this.nextIndex++, this.timing);
        this.peers.set(p.publicKey, s);
        this.byIndex.set(s.index, s);
        added.push(s);
      }
      s.homeRelay = p.homeRelay;
      s.wgPort = p.wgPort ?? null;
      s.setNetmapEndpoints(p.endpoints);
      out.set(p.publicKey, s.synth);
    }
    for (const [k, s] of this.peers) {
      if (seen.has(k)) continue;
      this.peers.delete(k);
      this.byIndex.delete(s.index);
      this.addrs.forgetPeer(s);
    }
    const now = this.clock.now();
    for (const s of added) this.data.releaseEarly(s, now);
    this.discovery.retain(this.peers);
    if (!this.closed && this.events) this.heartbeat.beat();
    return out;
  }

  /**
   * Our network changed (address added or removed): direct paths and relay connections
   * may be dead without anything telling us, so drop them all and rediscover at once.
   */
  linkChange(): void {
    const now = this.clock.now();
    for (const s of this.peers.values()) s.linkChanged(now);
    this.addrs.clear();
    this.relays.reconnect();
    if (!this.closed && this.events) this.heartbeat.beat();
  }

  // --- queries --------------------------------------------------------------------------

  synthetic(peerKey: string): Endpoint | null {
    return this.peers.get(peerKey)?.synth ?? null;
  }

  path(peerKey: string): PathInfo {
    const s = this.peers.get(peerKey);
    if (!s) return { path: 'none', endpoint: null, relay: null, rttMs: null, reason: 'unknown peer' };
    const now = this.clock.now();
    // An idle peer's last direct path is not pinged, so not re-confirmed: it is still its path.
    if (s.best && s.kept(now)) return { path: 'direct', endpoint: s.best.ep.key, relay: null, rttMs: Math.round(s.best.rttMs * 100) / 100, reason: null };
    const relay = this.relays.idFor(s.homeRelay);
    const state = relay ? this.relays.state(relay) : null;
    const reason = s.whyNotDirect(this.opts.natInfo?.() ?? { udp: null, hard: null }, now);
    if (!relay) return { path: 'none', endpoint: null, relay: null, rttMs: null, reason: `no relay; ${reason}` };
    if (state !== null && state !== 'connected') return { path: 'none', endpoint: null, relay, rttMs: null, reason: `relay ${relay} not connected; ${reason}` };
    return { path: 'relay', endpoint: null, relay, rttMs: null, reason };
  }

  /**
   * Where WireGuard reaches the peer directly now (its WireGuard port at the best path's
   * address), or null. An external engine then sends around this bind, unseen: the peer
   * counts as active (its path stays probed) while it does.
   */
  directWireguard(peerKey: string): Endpoint | null {
    const s = this.peers.get(peerKey);
    if (!s) return null;
    // Only to a peer whose NAT maps alike: our engine's port is another source than the
    // disco socket the path was found from.
    const ep = s.best && s.kept(this.clock.now()) && s.reportedPath(s.best) ? s.wgPortAt(s.best) : null;
    s.bypassed = ep !== null;
    if (ep) this.heartbeat.schedule();
    return ep;
  }

  /** Time (clock ms) the first direct path to the peer was confirmed, or null. */
  directSince(peerKey: string): number | null {
    return this.peers.get(peerKey)?.firstDirectAt ?? null;
  }

  /** Sizes of the state peers' probes grow (all bounded: per peer, or by the peer set). */
  stateSizes(): { byAddr: number; candidates: number; discoKeys: number } {
    let candidates = 0;
    for (const s of this.peers.values()) candidates += s.candidates.size;
    return { byAddr: this.addrs.size, candidates, discoKeys: this.discovery.keys.size };
  }

  relayState(id: string): string | null {
    return this.relays.state(id);
  }

  // --- data path (magicsock-data.ts) -------------------------------------------------

  /** Peers without disco (external engines): their WireGuard keeps its real source; send() passes it through. */
  setPlainSources(endpoints: readonly string[]): void {
    this.data.setPlainSources(endpoints);
  }

  send(batch: PacketBatch, to: Endpoint): number {
    return this.data.send(batch, to);
  }

  /** A disco packet from `src` that a mutual member passed on (serverless rendezvous). */
  receiveRendezvous(src: PublicKey, pkt: Uint8Array): void {
    if (isDiscoPacket(pkt)) this.data.fromRelay(src, pkt);
  }
}
