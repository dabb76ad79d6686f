import { UNDER_LOAD_AFTER_TIME, UNDER_LOAD_QUEUE_LEN } from './constants.js';

// "Under load" (WP §5.3): a responder demands cookies (mac2) and applies per-source
// rate limits only while handshake messages arrive faster than it handles them.
// wireguard-go looks at its handshake queue: under load while it is 1/8 full, and for
// UNDER_LOAD_AFTER_TIME after. Weft handles handshakes inline on one thread, so its queue
// is what piled up while the thread was busy: the handshake messages delivered in one
// burst, i.e. one turn of the event loop (the Linux bind reads up to 8 batches of 128 per
// readable event, draining the kernel's backlog; the relay delivers all frames of one TCP
// read). Idle, each message wakes the loop on its own. So a closed loop of honest peers,
// however many, never builds the backlog; a flood builds it at once. (It was a rate, 128
// handshakes in a second, which put a busy hub's honest peers through cookies. A share
// of CPU time was tried too: a closed loop runs the thread at capacity for its first
// round, so honest peers got cookies; docs/BENCHMARKS.md.)

export class HandshakeLoad {
  private burst = 0;
  private until = -Infinity;

  /**
   * `endOfTurn` runs its callback once the current burst of deliveries is over (a
   * microtask: after the bind's or the relay's synchronous delivery loop).
   */
  constructor(
    private readonly threshold = UNDER_LOAD_QUEUE_LEN,
    private readonly endOfTurn: (fn: () => void) => void = queueMicrotask,
  ) {}

  /** Counts one arriving handshake message at `now` (ms); true while under load. */
  arrived(now: number): boolean {
    if (this.burst++ === 0) this.endOfTurn(() => (this.burst = 0));
    if (this.burst >= this.threshold) this.until = now + UNDER_LOAD_AFTER_TIME;
    return now < this.until;
  }

  /** Handshake messages in the current burst (the backlog). */
  get backlog(): number {
    return this.burst;
  }
}
