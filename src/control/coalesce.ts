import type { Clock, TimerHandle } from '../clock.js';

// Insider floods: a node may send endpoint or route updates as fast as it likes, and
// each is a durable write and a fan-out to its peers. Per key, the first update runs at
// once and later ones at most every `intervalMs`; while one waits, a newer one replaces
// it (the latest wins), so the cost per node is bounded by the interval, not the sender.

/** Default spacing of durable writes per node and kind of update. */
export const UPDATE_INTERVAL_MS = 1_000;

interface Pending {
  run: () => Promise<void>;
  timer: TimerHandle;
}

export class Coalescer {
  private readonly lastRun = new Map<string, number>();
  private readonly pending = new Map<string, Pending>();
  /** Updates replaced by a newer one before they ran. */
  coalesced = 0;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly onError: (err: unknown) => void,
  ) {}

  submit(key: string, run: () => Promise<void>): void {
    const p = this.pending.get(key);
    if (p) {
      p.run = run;
      this.coalesced++;
      return;
    }
    const now = this.clock.now();
    const wait = (this.lastRun.get(key) ?? -Infinity) + this.intervalMs - now;
    if (wait <= 0) return this.fire(key, run, now);
    const timer = this.clock.setTimeout(() => {
      const due = this.pending.get(key);
      this.pending.delete(key);
      if (due) this.fire(key, due.run, this.clock.now());
    }, wait);
    this.pending.set(key, { run, timer });
  }

  /** Drops pending updates (shutdown). */
  stop(): void {
    for (const p of this.pending.values()) this.clock.clearTimeout(p.timer);
    this.pending.clear();
    this.lastRun.clear();
  }

  private fire(key: string, run: () => Promise<void>, now: number): void {
    // Entries older than the interval no longer delay anything.
    if (this.lastRun.size >= 4096) for (const [k, t] of this.lastRun) if (now - t >= this.intervalMs) this.lastRun.delete(k);
    this.lastRun.set(key, now);
    run().catch(this.onError);
  }
}
