import { randomFillSync } from 'node:crypto';
import type { Clock } from '../clock.js';
import { keyToBase64, type PrivateKey, type PublicKey } from '../crypto/keys.js';
import { PacketBatch } from '../io/batch.js';
import type { Bind } from '../io/bind.js';
import type { Endpoint } from '../io/endpoint.js';
import type { Logger } from '../log.js';
import type { AddrTable } from './addr-table.js';
import { DiscoFreshness, DiscoKeys, DiscoStamper, discoSender, openDisco, sealDisco, type DiscoBody } from './disco.js';
import type { ExtraSockets } from './extra-sockets.js';
import { OpenPunch } from './open-punch.js';
import type { PeerPath } from './peer-path.js';

// Path discovery over disco: pings to a peer's candidates, pongs that confirm a direct
// path, CallMeMaybe through the relay so both sides ping at once (hole punching). Only
// a current peer's authentic, fresh message changes anything; a stranger costs a lookup.

/** Pings from one address are pinged back at most this often. */
const PING_BACK_MS = 500;
/** A CallMeMaybe starts a full probe round unless one ran this recently. */
const CALL_ME_MAYBE_GAP_MS = 300;

export interface DiscoveryHost {
  privateKey: PrivateKey;
  publicKey: PublicKey;
  clock: Clock;
  logger: Logger;
  stats: { discoRx: number; discoTx: number; discoBad: number; discoStale: number };
  addrs: AddrTable<PeerPath>;
  /** Our own candidate endpoints, sent in CallMeMaybe. */
  ownEndpoints?: () => Endpoint[];
  /** Netcheck's facts about our NAT (the open-router punch needs an endpoint-independent one). */
  natInfo?: () => { udp: boolean | null; hard: boolean | null };
  peer(b64: string): PeerPath | undefined;
  sock(k: number): Bind | null;
  sendRelay(p: PeerPath, pkt: Uint8Array): boolean;
  /** Extra sockets (the open-router punch opens one per peer); absent: no punch. */
  pool?: ExtraSockets;
  /** An empty CallMeMaybe came: the peer runs the birthday method. */
  spray(p: PeerPath): void;
  /** A pong made a new best path for `p`; `was` the trusted one before, if any. */
  confirmed(p: PeerPath, was: Endpoint | null, now: number): void;
}

export class PathDiscovery {
  readonly keys: DiscoKeys;
  /** The slow schedule for open routers (open-punch.ts); the heartbeat calls its `consider`. */
  readonly punch: OpenPunch;
  private readonly stamps = new DiscoStamper();
  private readonly freshness = new DiscoFreshness();
  private readonly one = new PacketBatch(1, 2048);

  constructor(private readonly host: DiscoveryHost) {
    this.keys = new DiscoKeys(host.privateKey, host.publicKey);
    this.punch = new OpenPunch({
      clock: host.clock,
      logger: host.logger,
      ownKey: host.publicKey,
      natInfo: host.natInfo,
      // Extra sockets are the main one's kind: the same TTL support.
      canPunch: () => typeof host.sock(0)?.sendTtl === 'function' && host.pool?.available === true,
      isCurrent: (p) => host.peer(p.b64) === p,
      signal: (p, m) => this.send(p, { type: 'punch', ...m }, null),
      openSocket: async (k) => (await host.pool?.open(k))?.port ?? null,
      closeSockets: (ks) => {
        const set = new Set(ks);
        void host.pool?.close((k) => set.has(k));
      },
      probe: (p, ep, sock, ttl) => (ttl === null ? this.ping(p, ep, sock) : this.send(p, { type: 'ping', txid: randomFillSync(new Uint8Array(12)) }, ep, sock, ttl)),
    });
  }

  /** The peer set changed: replay windows of peers gone are forgotten. */
  retain(peers: { has(b64: string): boolean }): void {
    this.freshness.retain(peers);
    this.punch.retain();
  }

  /**
   * Sends a disco message to `p` at `to` from socket `sock`, or through the relay when `to`
   * is null; with `ttl`, as a packet that dies after that many hops.
   */
  send(p: PeerPath, msg: DiscoBody, to: Endpoint | null, sock = 0, ttl?: number): void {
    const host = this.host;
    const pkt = sealDisco(this.keys, p.key, { ...msg, stamp: this.stamps.next(host.clock.wallNow()) });
    if (!pkt) return;
    host.stats.discoTx++;
    if (to === null) {
      host.sendRelay(p, pkt);
      return;
    }
    const b = this.one;
    b.reset();
    b.push(pkt);
    try {
      const bind = host.sock(sock);
      if (ttl === undefined) bind?.send(b, to);
      else bind?.sendTtl?.(b, to, ttl);
    } catch {
      // unreachable family etc.: the probe is just lost
    }
  }

  /** Pings `ep`; a tracked ping's pong can confirm the path. */
  ping(p: PeerPath, ep: Endpoint, sock = 0, track = true): void {
    const txid = randomFillSync(new Uint8Array(12));
    if (track) p.probeSent(txid, ep, sock, this.host.clock.now());
    this.send(p, { type: 'ping', txid }, ep, sock);
  }

  /** Pings every candidate, with a CallMeMaybe through the relay so the peer pings back at once. */
  pingAll(p: PeerPath, callMeMaybe: boolean): void {
    p.lastFull = this.host.clock.now();
    for (const ep of p.candidates.values()) this.ping(p, ep);
    if (callMeMaybe) {
      const own = this.host.ownEndpoints?.() ?? [];
      if (own.length > 0) this.send(p, { type: 'callMeMaybe', endpoints: own }, null);
    }
  }

  /** A disco packet from `from` on socket `sock`, or through the relay from `relayPeer`. */
  receive(pkt: Uint8Array, from: Endpoint, relayPeer: PeerPath | null, sock: number): void {
    const host = this.host;
    host.stats.discoRx++;
    // The named sender must be a current peer before any X25519 (a stranger costs a lookup).
    const s = host.peer(keyToBase64(discoSender(pkt)));
    const opened = s && (relayPeer === null || relayPeer === s) ? openDisco(this.keys, pkt) : null;
    if (!s || !opened) {
      host.stats.discoBad++;
      return;
    }
    if (!this.freshness.accept(s.b64, opened.msg.stamp, host.clock.wallNow())) {
      host.stats.discoStale++;
      return;
    }
    const viaRelay = relayPeer !== null;
    const m = opened.msg;
    const now = host.clock.now();
    switch (m.type) {
      case 'ping': {
        this.send(s, { type: 'pong', txid: m.txid, src: from }, viaRelay ? null : from, sock);
        if (viaRelay) return;
        if (sock === 0) s.addCandidate(from);
        this.learnAddr(s, sock, from);
        // Ping back on a path we have not confirmed: this is the simultaneous send that
        // opens our NAT's mapping towards the peer.
        if (!s.isBest(from, sock) && now - s.lastPingBack > PING_BACK_MS) {
          s.lastPingBack = now;
          this.ping(s, from, sock);
        }
        return;
      }
      case 'pong': {
        const p = s.takeProbe(m.txid, from, sock, viaRelay);
        if (p === 'unknown') host.stats.discoBad++;
        if (typeof p === 'string') return;
        const rtt = now - p.sentAt;
        this.learnAddr(s, sock, from);
        const change = s.confirm(from, sock, rtt, now);
        this.punch.confirmed(s);
        if (!change) return;
        host.logger.info({ peer: s.b64.slice(0, 8), endpoint: from.key, sock, rttMs: Math.round(rtt * 100) / 100, was: change.was?.key ?? null }, 'direct path confirmed');
        host.confirmed(s, change.was, now);
        return;
      }
      case 'callMeMaybe': {
        if (!viaRelay) return; // only meaningful through the relay
        if (m.endpoints.length === 0) {
          host.spray(s); // an empty CallMeMaybe: the peer runs the birthday method, spray its public IPs
          return;
        }
        for (const ep of m.endpoints) s.addCandidate(ep);
        if (now - s.lastFull > CALL_ME_MAYBE_GAP_MS) this.pingAll(s, false);
        return;
      }
      case 'punch':
        if (viaRelay) this.punch.receive(s, m, now); // a schedule is agreed through the relay only
        return;
    }
  }

  /** Maps a source (proven by a fresh ping or a pong) to its peer; the best path's address is kept. */
  private learnAddr(s: PeerPath, sock: number, from: Endpoint): void {
    this.host.addrs.learn(s, sock, from, (e) => s.isBest(e.ep, e.sock));
  }
}
