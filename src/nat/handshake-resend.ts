import type { PacketBatch } from '../io/batch.js';

// Handshake resend (the first-packet fix): a handshake message the engine sent before
// either path worked may have been lost to a relay the peer had not joined yet. MagicBind
// remembers the latest one per peer and sends it again when a direct path appears or on
// the heartbeat, instead of waiting for WireGuard's 5 s retransmission. A duplicate that
// did arrive is harmless: the responder's timestamp check refuses a second initiation,
// and a consumed handshake ignores a second response.

/** Initiations relayed from keys not (yet) in the netmap are held this long, this many at most. */
export const EARLY_INIT_MS = 5000;
const MAX_EARLY_INITS = 16;
/** A remembered message goes again for at most this long; then WireGuard's own retry takes over. */
const RESEND_FOR_MS = 4500;

const INITIATION = 1;
const RESPONSE = 2;

/** One peer's handshake bookkeeping. */
export class HandshakeMemo {
  /**
   * The engine's latest handshake message to this peer (an initiation, or a response to
   * the peer's initiation) while no answer has come.
   */
  private last: { pkt: Uint8Array; at: number; type: 1 | 2 } | null = null;
  /** When the peer's latest handshake initiation reached us (a resend then would cross it). */
  private lastInitRx = -Infinity;
  /** When a WireGuard packet other than an initiation (response, data) last came from the peer. */
  private lastWgRx = -Infinity;

  /** A WireGuard packet of type `type` (its first byte) came from the peer. */
  received(type: number, now: number): void {
    if (type === INITIATION) this.lastInitRx = now;
    else this.lastWgRx = now;
  }

  /** Remembers the engine's handshake initiation or response in a one-packet batch. */
  sent(batch: PacketBatch, now: number): void {
    const len = batch.lengths[0];
    const type = batch.data[batch.start(0)];
    if ((type === INITIATION && len === 148) || (type === RESPONSE && len === 92)) {
      this.last = { pkt: Uint8Array.prototype.slice.call(batch.packet(0)) as Uint8Array, at: now, type };
    }
  }

  /** Whether a message older than `ms` is remembered (the heartbeat resends those). */
  olderThan(ms: number, now: number): boolean {
    return this.last !== null && now - this.last.at > ms;
  }

  /**
   * The message to send again now, or null. Unanswered: nothing but initiations came from
   * the peer since. An initiation of the peer's also ends our initiation (the engine
   * answered it instead), but not our response: that may be the peer resending the very
   * initiation we answered (a newer one would have replaced the response). An answered
   * or expired message is forgotten.
   */
  due(now: number): Uint8Array | null {
    const h = this.last;
    if (!h) return null;
    const answered = this.lastWgRx >= h.at || (h.type === INITIATION && this.lastInitRx >= h.at);
    if (answered || now - h.at >= RESEND_FOR_MS) {
      this.last = null;
      return null;
    }
    return h.pkt;
  }
}

/**
 * A peer may learn of us (and initiate) before our netmap names it: its initiation,
 * relayed (so its key is proven to the relay), waits here and is answered when it does.
 */
export class EarlyInits {
  private readonly held = new Map<string, { pkt: Uint8Array; at: number }>();

  /** Holds a relayed initiation from `key` (base64), bounded in count and age. */
  hold(key: string, pkt: Uint8Array, now: number): void {
    if (pkt.length !== 148 || pkt[0] !== INITIATION) return;
    for (const [k, e] of this.held) if (now - e.at >= EARLY_INIT_MS) this.held.delete(k);
    this.held.delete(key);
    if (this.held.size >= MAX_EARLY_INITS) this.held.delete(this.held.keys().next().value as string);
    this.held.set(key, { pkt: Uint8Array.prototype.slice.call(pkt) as Uint8Array, at: now });
  }

  /** The initiation held for `key` if still fresh; it is forgotten either way. */
  take(key: string, now: number): Uint8Array | null {
    const e = this.held.get(key);
    this.held.delete(key);
    return e && now - e.at < EARLY_INIT_MS ? e.pkt : null;
  }
}
