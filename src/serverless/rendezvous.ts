import type { Clock } from '../clock.js';
import type { Endpoint } from '../io/endpoint.js';
import { isDiscoPacket } from '../nat/disco.js';
import type { Member } from './members.js';
import type { RendezvousMessage, SwimNode } from './swim.js';
import { keyId, type TrustSet } from './trust.js';
import { encodeMessage, MAX_FORWARD_PAYLOAD } from './wire.js';

// Rendezvous through a mutual member, for members behind NAT when no `--relay` member
// exists: disco's call-me-maybe (and its pings through "the relay") go as a gossip
// FORWARD to a member both can reach, which passes it on as FORWARDED. The payload is a
// disco packet, sealed end to end with the two node keys, so the mutual member can read
// or forge nothing; only disco packets are carried (no WireGuard data: that is a relay's
// job). Every sender has a small token bucket at the mutual member and at the receiver,
// so a member cannot make another one send without limit.
//
// Members also tell each other where their pings come from (OBSERVED, swim.ts); the
// address most members report is our NAT's mapping, which we advertise, so that
// call-me-maybe and the peer's pings aim at it. Ties keep the current one, so a hard NAT
// (a different mapping per member) does not make our endpoints churn.

/** Forwards a member may ask of us, and deliveries from one source, per window. */
export const RENDEZVOUS_BURST = 20;
export const RENDEZVOUS_WINDOW_MS = 10_000;
/** Mutual members asked to pass each packet on. */
const VIA = 2;

export interface RendezvousOptions {
  node: SwimNode;
  trust: TrustSet;
  clock: Clock;
  /** A disco packet from `src` that came through a mutual member. */
  deliver(src: Uint8Array, pkt: Uint8Array): void;
  /** Our NAT's mapping as most members see it changed. */
  onObserved(addr: Endpoint): void;
}

export class Rendezvous {
  readonly counters = { sent: 0, forwarded: 0, delivered: 0, limited: 0, refused: 0 };
  /** Bounded by the trust set: only authenticated members get an entry. */
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly observers = new Map<string, Endpoint>();
  private current: Endpoint | null = null;
  private readonly onMessage = (m: RendezvousMessage, from: string): void => this.receive(m, from);

  constructor(private readonly o: RendezvousOptions) {
    o.node.on('rendezvous', this.onMessage);
  }

  stop(): void {
    this.o.node.off('rendezvous', this.onMessage);
  }

  /** Sends disco packet `pkt` to `peer` through mutual members; false when none. */
  send(peer: Uint8Array, pkt: Uint8Array): boolean {
    if (!isDiscoPacket(pkt) || pkt.length > MAX_FORWARD_PAYLOAD) return false;
    const msg = encodeMessage({ type: 'forward', peer, payload: pkt });
    let sent = 0;
    for (const m of this.mutual(keyId(peer))) if (this.o.node.sendTo(m.id, msg)) sent++;
    this.counters.sent += sent;
    return sent > 0;
  }

  /** Live members other than us and the peer, those reachable where they advertise first. */
  private mutual(peer: string): Member[] {
    const { membership } = this.o.node;
    const live = membership.others.filter((m) => m.id !== peer && m.state !== 'dead' && m.addr !== null);
    const open = (m: Member): number => (m.endpoints.some((e) => e.equals(m.addr!)) ? 0 : 1);
    return live.sort((a, b) => open(a) - open(b)).slice(0, VIA);
  }

  private receive(m: RendezvousMessage, from: string): void {
    if (m.type === 'observed') return this.observe(from, m.addr);
    const peer = keyId(m.peer);
    if (peer === from || !this.o.trust.isMember(peer) || !isDiscoPacket(m.payload)) {
      this.counters.refused++;
      return;
    }
    // The budget is the originating member's: the asker at a mutual member, the source at the receiver.
    if (!this.allow(m.type === 'forward' ? from : peer)) {
      this.counters.limited++;
      return;
    }
    if (m.type === 'forwarded') {
      this.counters.delivered++;
      return this.o.deliver(m.peer, m.payload);
    }
    const sender = this.o.node.membership.members.get(from);
    if (sender && this.o.node.sendTo(peer, encodeMessage({ type: 'forwarded', peer: sender.key, payload: m.payload }))) this.counters.forwarded++;
  }

  private allow(id: string): boolean {
    const now = this.o.clock.now();
    const b = this.buckets.get(id) ?? { tokens: RENDEZVOUS_BURST, at: now };
    b.tokens = Math.min(RENDEZVOUS_BURST, b.tokens + ((now - b.at) * RENDEZVOUS_BURST) / RENDEZVOUS_WINDOW_MS);
    b.at = now;
    this.buckets.set(id, b);
    if (b.tokens < 1) return false;
    b.tokens--;
    return true;
  }

  private observe(from: string, addr: Endpoint): void {
    this.observers.set(from, addr);
    const count = (e: Endpoint): number => [...this.observers.values()].filter((x) => x.equals(e)).length;
    let best = this.current;
    for (const e of this.observers.values()) if (!best || count(e) > count(best)) best = e;
    if (best && (this.current === null || !best.equals(this.current))) {
      this.current = best;
      this.o.onObserved(best);
    }
  }
}
