import type { Clock, TimerHandle } from '../clock.js';
import { remainingSuspicionTime } from './config.js';

// Lifeguard's dynamic suspicion ("LHA-Suspicion"): the timer starts at max and shrinks
// toward min as independent members confirm the suspicion, so a member suspected by
// many is declared dead sooner, one suspected by a lone (maybe slow) node later.

export class Suspicion {
  private readonly confirmers = new Set<string>();
  private readonly start: number;
  private timer: TimerHandle;

  /** `from` (the first suspecter) never counts as a confirmation. */
  constructor(
    private readonly clock: Clock,
    from: string,
    private readonly k: number,
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly onTimeout: () => void,
  ) {
    this.confirmers.add(from);
    this.start = clock.now();
    this.timer = clock.setTimeout(onTimeout, maxMs);
  }

  get confirmations(): number {
    return this.confirmers.size - 1;
  }

  /** Counts `from` once; true when this was new information worth re-gossiping. */
  confirm(from: string): boolean {
    if (this.confirmations >= this.k || this.confirmers.has(from)) return false;
    this.confirmers.add(from);
    this.clock.clearTimeout(this.timer);
    const remaining = remainingSuspicionTime(this.confirmations, this.k, this.clock.now() - this.start, this.minMs, this.maxMs);
    this.timer = this.clock.setTimeout(this.onTimeout, Math.max(0, remaining));
    return true;
  }

  cancel(): void {
    this.clock.clearTimeout(this.timer);
  }
}
