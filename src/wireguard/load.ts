import { UNDER_LOAD_AFTER_TIME, UNDER_LOAD_CPU_SHARE, UNDER_LOAD_QUEUE_LEN } from './constants.js';

// "Under load" (WP §5.3): a responder demands cookies (mac2) and applies per-source
// rate limits only while handshakes come faster than it can handle them. wireguard-go
// looks at its handshake queue (1/8 full) and keeps the state UNDER_LOAD_AFTER_TIME.
// Weft handles handshakes inline on its one JavaScript thread, which the data plane
// shares, so it measures capacity two ways; either puts it under load:
// - backlog: the handshake messages delivered in one burst, i.e. one turn of the event
//   loop (the Linux bind reads up to 8 batches of 128 per readable event, draining the
//   kernel's queue; the relay delivers all frames of one TCP read), reach 1/8 of
//   wireguard-go's queue. Idle, each message wakes the loop on its own;
// - CPU share: the handshakes that arrived in the last second would take at least
//   UNDER_LOAD_CPU_SHARE of the thread at their measured cost (an average over the
//   handshakes actually processed), whether or not they were processed. So a flood
//   keeps it under load although cookies make the flood cheap, and a closed loop of
//   honest peers below capacity, however many, never is.
// It was a fixed rate (128 handshakes in a second), which put a busy hub's honest peers
// through cookies.

/** Cost of one handshake before any was measured (ms of CPU; a responder's on these machines). */
export const INITIAL_HANDSHAKE_COST_MS = 0.4;

export interface HandshakeLoadOptions {
  threshold?: number;
  /** Runs its callback once the current burst of deliveries is over (default: a microtask). */
  endOfTurn?: (fn: () => void) => void;
}

export class HandshakeLoad {
  private burst = 0;
  private until = -Infinity;
  private windowStart = -Infinity;
  private arrivals = 0;
  private costMs = INITIAL_HANDSHAKE_COST_MS;
  private readonly threshold: number;
  private readonly endOfTurn: (fn: () => void) => void;

  constructor(o: HandshakeLoadOptions = {}) {
    this.threshold = o.threshold ?? UNDER_LOAD_QUEUE_LEN;
    this.endOfTurn = o.endOfTurn ?? queueMicrotask;
  }

  /** Counts one arriving handshake message at `now` (ms); true while under load. */
  arrived(now: number): boolean {
    if (this.burst++ === 0) this.endOfTurn(() => (this.burst = 0));
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.arrivals = 0;
    }
    this.arrivals++;
    if (this.burst >= this.threshold || this.arrivals * this.costMs >= UNDER_LOAD_CPU_SHARE * 1000) this.until = now + UNDER_LOAD_AFTER_TIME;
    return now < this.until;
  }

  /** Records the CPU time one processed handshake took (a moving average of 1/16). */
  spent(ms: number): void {
    if (ms >= 0 && Number.isFinite(ms)) this.costMs += (ms - this.costMs) / 16;
  }

  /** Handshake messages in the current burst (the backlog). */
  get backlog(): number {
    return this.burst;
  }

  /** The average CPU cost of a handshake, in ms. */
  get handshakeCostMs(): number {
    return this.costMs;
  }
}
