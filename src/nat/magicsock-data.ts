import type { Clock } from '../clock.js';
import { keyToBase64, type PublicKey } from '../crypto/keys.js';
import { PacketBatch } from '../io/batch.js';
import type { Bind, BindEvents } from '../io/bind.js';
import { ENDPOINT_BYTES, Endpoint } from '../io/endpoint.js';
import type { AddrTable } from './addr-table.js';
import { isDiscoPacket } from './disco.js';
import type { ExtraSockets } from './extra-sockets.js';
import { EarlyInits } from './handshake-resend.js';
import type { Heartbeat } from './heartbeat.js';
import type { PathDiscovery } from './path-discovery.js';
import type { PeerPath } from './peer-path.js';
import type { RelaySet } from './relay-set.js';
import type { StunClient } from './stun-client.js';
import { isStunPacket } from './stun.js';
import { isSyntheticEndpoint, synthIndex } from './synthetic.js';

// MagicBind's data path (magicsock.ts keeps the peers' path state and its wiring): the
// send side puts the engine's packets for a synthetic endpoint on the peer's chosen path
// (direct UDP, else its relay); the receive side demultiplexes the sockets' datagrams
// (foreign protocol, STUN, disco, WireGuard from a known source rewritten to the peer's
// synthetic endpoint) and hands relay frames up the same way.

const RELAY_PSEUDO = Endpoint.of('::', 0);

/** Another protocol on the same socket (serverless gossip), recognised by its first bytes. */
export interface ForeignProtocol {
  accepts(pkt: Uint8Array): boolean;
  /** Must not throw (a throw is caught and counted as malformed). */
  receive(pkt: Uint8Array, from: Endpoint): void;
}

/** What the bind's owner hooks onto the socket at runtime (MagicBind's fields of these names), read per datagram. */
export interface SocketHooks {
  readonly foreign: ForeignProtocol | null;
  readonly stunResponder: ((pkt: Uint8Array, from: Endpoint) => boolean) | null;
  readonly rendezvous: ((key: Uint8Array, pkt: Uint8Array) => boolean) | null;
}

export interface DataPathHost {
  inner: Bind;
  clock: Clock;
  stats: { stunRx: number; wgUnknownSource: number; malformed: number; directTx: number; relayRx: number; noPathDrops: number };
  natInfo?: () => { udp: boolean | null; hard: boolean | null };
  peers: ReadonlyMap<string, PeerPath>;
  byIndex: ReadonlyMap<number, PeerPath>;
  addrs: AddrTable<PeerPath>;
  extra: ExtraSockets;
  stun: StunClient;
  discovery: PathDiscovery;
  relays: RelaySet;
  heartbeat: Heartbeat;
  hooks: SocketHooks;
  /** The engine's side while the bind is open. */
  events(): BindEvents | null;
  closed(): boolean;
}

export class DataPath {
  private plainSources = new Set<string>();
  private readonly earlyInits = new EarlyInits();
  private readonly one = new PacketBatch(1, 2048);
  private readonly relayIn = new PacketBatch(1, 65536 + 64);
  private readonly relaySrc = new Uint8Array(ENDPOINT_BYTES);

  constructor(private readonly host: DataPathHost) {}

  /** Peers without disco (external engines): their WireGuard keeps its real source; send() passes it through. */
  setPlainSources(endpoints: readonly string[]): void {
    this.plainSources = new Set(endpoints);
  }

  send(batch: PacketBatch, to: Endpoint): number {
    const h = this.host;
    if (!isSyntheticEndpoint(to)) return h.inner.send(batch, to);
    const s = h.byIndex.get(synthIndex(to.bytes));
    if (!s) {
      h.stats.noPathDrops += batch.count;
      return 0;
    }
    const now = h.clock.now();
    h.heartbeat.touch(s, now);
    if (batch.count === 1) s.handshake.sent(batch, now);
    const best = s.best;
    if (best && s.direct(now)) {
      const n = this.sock(best.sock)?.send(batch, s.wgEndpoint(best, h.natInfo)) ?? 0;
      h.stats.directTx += n;
      return n;
    }
    // A direct path not confirmed lately (the peer was idle, or it stopped answering and
    // the heartbeat has not dropped it yet) gets a copy too: it likely still works.
    if (best) h.stats.directTx += this.sock(best.sock)?.send(batch, s.wgEndpoint(best, h.natInfo)) ?? 0;
    let n = 0;
    for (let i = 0; i < batch.count; i++) if (this.sendRelay(s, batch.packet(i))) n++;
    return n;
  }

  /** Datagrams from socket `sock`: WireGuard (from a known address) on to the engine, STUN and disco here. */
  receive(batch: PacketBatch, sources: Uint8Array, sock: number): void {
    const h = this.host;
    let w = 0;
    const count = batch.count;
    const d = batch.data;
    const now = h.clock.now();
    for (let i = 0; i < count; i++) {
      const start = batch.start(i);
      const len = batch.lengths[i];
      const off = i * ENDPOINT_BYTES;
      let keep = false;
      // WireGuard: type 1..4 then three zero bytes; tested in place (no view per datagram).
      if (len >= 32 && d[start] >= 1 && d[start] <= 4 && d[start + 1] === 0 && d[start + 2] === 0 && d[start + 3] === 0) {
        const s = h.addrs.lookup(sources, off, sock)?.peer;
        if (s) {
          h.heartbeat.touch(s, now);
          s.handshake.received(d[start], now);
          sources.set(s.synth.bytes, w * ENDPOINT_BYTES);
          keep = true;
        } else if (this.plainSources.size > 0 && this.plainSources.has(Endpoint.fromBytes(sources, off).key)) keep = true;
        else h.stats.wgUnknownSource++;
      } else {
        const pkt = batch.packet(i);
        const hooks = h.hooks;
        if (hooks.foreign?.accepts(pkt)) {
          try {
            hooks.foreign.receive(pkt, Endpoint.fromBytes(sources, off));
          } catch {
            h.stats.malformed++;
          }
        } else if (isStunPacket(pkt)) {
          h.stats.stunRx++;
          if (!hooks.stunResponder?.(pkt, Endpoint.fromBytes(sources, off))) h.stun.handlePacket(pkt);
        } else if (isDiscoPacket(pkt)) {
          h.discovery.receive(pkt, Endpoint.fromBytes(sources, off), null, sock);
        } else h.stats.malformed++;
      }
      if (keep) {
        if (w !== i) {
          batch.offsets[w] = batch.offsets[i];
          batch.lengths[w] = len;
          d.copyWithin(batch.start(w), start, start + len);
        }
        w++;
      }
    }
    batch.count = w;
    const events = h.events();
    if (w > 0 && events) events.onReceive(batch, sources);
  }

  /** A packet from `src` through a relay (or passed on by a rendezvous member). */
  fromRelay(src: PublicKey, pkt: Uint8Array): void {
    this.host.stats.relayRx++;
    const key = keyToBase64(src);
    const s = this.host.peers.get(key);
    if (!s) return this.earlyInits.hold(key, pkt, this.host.clock.now());
    this.relayPacket(s, pkt);
  }

  /** A newly configured peer: what its relay sent before we knew it goes up now. */
  releaseEarly(s: PeerPath, now: number): void {
    const early = this.earlyInits.take(s.b64, now);
    // After the caller has finished configuring the engine for the new peers.
    if (early) this.host.clock.setTimeout(() => this.host.peers.get(s.b64) === s && this.relayPacket(s, early), 0);
  }

  private relayPacket(s: PeerPath, pkt: Uint8Array): void {
    const h = this.host;
    if (isDiscoPacket(pkt)) return h.discovery.receive(pkt, RELAY_PSEUDO, s, 0);
    const events = h.events();
    if (!events || h.closed() || pkt.length === 0 || pkt[0] < 1 || pkt[0] > 4) {
      h.stats.malformed++;
      return;
    }
    const now = h.clock.now();
    h.heartbeat.touch(s, now);
    s.handshake.received(pkt[0], now);
    const b = this.relayIn;
    b.reset();
    if (!b.push(pkt)) return;
    this.relaySrc.set(s.synth.bytes);
    try {
      events.onReceive(b, this.relaySrc);
    } finally {
      b.reset();
    }
  }

  sock(k: number): Bind | null {
    return k === 0 ? this.host.inner : this.host.extra.get(k);
  }

  sendRelay(s: PeerPath, pkt: Uint8Array): boolean {
    const { relays, hooks } = this.host;
    const id = relays.idFor(s.homeRelay);
    if (id === null && hooks.rendezvous && isDiscoPacket(pkt)) return hooks.rendezvous(s.key, pkt);
    return relays.send(id, s.key, pkt);
  }

  /** Sends the peer's unanswered handshake message again on its current path (handshake-resend.ts). */
  resendHandshake(s: PeerPath, now: number): void {
    const pkt = s.handshake.due(now);
    if (!pkt) return;
    if (s.best && s.direct(now)) {
      const b = this.one;
      b.reset();
      b.push(pkt);
      this.sock(s.best.sock)?.send(b, s.wgEndpoint(s.best, this.host.natInfo));
    } else this.sendRelay(s, pkt);
  }
}
