import type { Clock, TimerHandle } from '../clock.js';

// A re-armable one-shot timer on an injected clock (wireguard-go's Timer with Mod/Del).
export class Timer {
  private handle: TimerHandle | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly fn: () => void,
  ) {}

  get pending(): boolean {
    return this.handle !== null;
  }

  mod(ms: number): void {
    this.del();
    this.handle = this.clock.setTimeout(() => {
      this.handle = null;
      this.fn();
    }, ms);
  }

  del(): void {
    if (this.handle) {
      this.clock.clearTimeout(this.handle);
      this.handle = null;
    }
  }
}
