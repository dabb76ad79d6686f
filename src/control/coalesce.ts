import type { Clock, TimerHandle } from '../clock.js';

// Insider floods: a node may send endpoint or route updates as fast as it likes, and
// each is a durable write and a fan-out to its peers. Per key, a token bucket lets a
// short burst through at once (an agent coming up reports local endpoints, then STUN
// results, then its home relay) and then one write per `intervalMs`; while an update
// waits for its token, a newer one replaces it (the latest wins), so the cost per node
// is bounded by the rate, not by the sender.

/** Default spacing of durable writes per node and kind of update, after the burst. */
export const UPDATE_INTERVAL_MS = 1_000;
export const UPDATE_BURST = 5;

interface Bucket {
  tokens: number;
  at: number;
  pending: { run: () => Promise<void>; timer: TimerHandle } | null;
}

export class Coalescer {
  private readonly buckets = new Map<string, Bucket>();
  /** Updates replaced by a newer one before they ran. */
  coalesced = 0;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
    private readonly burst = UPDATE_BURST,
  ) {}

  submit(key: string, run: () => Promise<void>): void {
    const now = this.clock.now();
    let b = this.buckets.get(key);
    if (b?.pending) {
      b.pending.run = run;
      this.coalesced++;
      return;
    }
    if (!b) {
      this.collect(now);
      b = { tokens: this.burst, at: now, pending: null };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + (now - b.at) / this.intervalMs);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return this.fire(run);
    }
    const bucket = b;
    const timer = this.clock.setTimeout(() => {
      const due = bucket.pending!;
      bucket.pending = null;
      // The token this wait earned is spent at once.
      bucket.tokens = 0;
      bucket.at = this.clock.now();
      this.fire(due.run);
    }, Math.ceil((1 - b.tokens) * this.intervalMs));
    b.pending = { run, timer };
  }

  /** Drops pending updates (shutdown). */
  stop(): void {
    for (const b of this.buckets.values()) if (b.pending) this.clock.clearTimeout(b.pending.timer);
    this.buckets.clear();
  }

  private fire(run: () => Promise<void>): void {
    run().catch(this.onError);
  }

  // Buckets refilled to the burst and idle cost nothing to forget.
  private collect(now: number): void {
    if (this.buckets.size < 4096) return;
    for (const [k, b] of this.buckets) if (!b.pending && now - b.at >= this.burst * this.intervalMs) this.buckets.delete(k);
  }
}
