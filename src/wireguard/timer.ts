import type { Clock, TimerHandle } from '../clock.js';

// A re-armable one-shot timer on an injected clock (wireguard-go's Timer with Mod/Del).
//
// Pushing a pending timer later keeps its clock handle: the handle fires at the old time
// and re-arms for the rest. Timers are pushed later on every handshake and packet (the
// zero-key-material timer on every session: 540 s away, re-armed every few hundred ms
// in a handshake storm), and a new clock handle per push was garbage that lived for
// seconds: promoted out of V8's young generation, it made the device thread's GC pauses
// that delayed established sessions' packets.
export class Timer {
  private handle: TimerHandle | null = null;
  /** When `handle` fires (clock ms). */
  private firesAt = 0;
  /** When `fn` is due (clock ms); null when not armed. */
  private due: number | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly fn: () => void,
  ) {}

  get pending(): boolean {
    return this.due !== null;
  }

  mod(ms: number): void {
    const due = this.clock.now() + ms;
    this.due = due;
    if (this.handle !== null && this.firesAt <= due) return;
    this.arm(ms);
  }

  del(): void {
    this.due = null;
    if (this.handle) {
      this.clock.clearTimeout(this.handle);
      this.handle = null;
    }
  }

  private arm(ms: number): void {
    if (this.handle) this.clock.clearTimeout(this.handle);
    this.firesAt = this.clock.now() + ms;
    this.handle = this.clock.setTimeout(this.expired, ms);
  }

  private readonly expired = (): void => {
    this.handle = null;
    if (this.due === null) return;
    // Node's timers count whole milliseconds from a cached loop time: less than one left
    // is due now, as it would have been without the early handle.
    const left = this.due - this.clock.now();
    if (left >= 1) return this.arm(left);
    this.due = null;
    this.fn();
  };
}
