import type { Clock, TimerHandle } from '../clock.js';
import type { NetMap } from '../wire/control.js';
import type { Logger } from '../log.js';
import { saveNetmapCache } from './state.js';

// Writes netmap.json (state.ts) a moment after a change, so a burst of deltas writes
// once, and a restart while the source is away brings the tunnels back.

export const NETMAP_SAVE_DELAY_MS = 1_000;

export class NetmapCacheWriter {
  private timer: TimerHandle | null = null;

  constructor(
    private readonly o: {
      clock: Clock;
      logger: Logger;
      stateDir: string;
      serverUrl: () => string | null;
      /** What to write; null when there is nothing worth saving (e.g. peers still from the cache). */
      netmap: () => NetMap | null;
    },
  ) {}

  schedule(): void {
    if (this.timer) return;
    this.timer = this.o.clock.setTimeout(() => {
      this.timer = null;
      void this.save();
    }, NETMAP_SAVE_DELAY_MS);
  }

  /** Writes now what a pending schedule() would have written; no-op when none is pending. */
  async flush(): Promise<void> {
    if (!this.timer) return;
    this.o.clock.clearTimeout(this.timer);
    this.timer = null;
    await this.save();
  }

  private async save(): Promise<void> {
    const url = this.o.serverUrl();
    const netmap = this.o.netmap();
    if (!url || !netmap) return;
    await saveNetmapCache(this.o.stateDir, url, netmap).catch((err: Error) => this.o.logger.warn({ err: err.message }, 'saving the netmap cache failed'));
  }
}
