import type { Clock, TimerHandle } from '../clock.js';
import type { ClientMessage, PeerPath } from '../wire/control.js';
import { VERSION } from '../version.js';
import type { StatusJson } from './status.js';

// Tells the coordinator this agent's version and how it reaches each peer (`status`
// messages), for the admin console. Only to a coordinator that asked for them (netmap
// `statusReports`; an older one would answer with an error). The paths are compared on
// a NAT path change (shortly after, so a burst is one message) and every `intervalMs`,
// for changes no event signals (a relay connection going up or down); a message goes
// out only when they changed, and on every new stream.

/** 30 s: building the status costs an idle agent CPU; path changes come sooner via changed(). */
export const DEFAULT_STATUS_REPORT_MS = 30_000;
const SOON_MS = 500;

export class StatusReporter {
  private enabled = false;
  private last = '';
  private timer: TimerHandle | null = null;
  private soon: TimerHandle | null = null;

  constructor(
    private readonly send: (m: ClientMessage) => boolean,
    private readonly paths: () => Record<string, PeerPath>,
    private readonly clock: Clock,
    private readonly intervalMs = DEFAULT_STATUS_REPORT_MS,
  ) {}

  /** A full netmap arrived (a new stream): report now if this coordinator takes reports. */
  streamStarted(accepts: boolean): void {
    this.enabled = accepts;
    this.last = '';
    if (accepts) this.check();
    if (accepts && !this.timer) this.tick();
  }

  /** A path changed: report soon. */
  changed(): void {
    if (this.enabled && !this.soon) this.soon = this.clock.setTimeout(() => ((this.soon = null), this.check()), SOON_MS);
  }

  stop(): void {
    this.enabled = false;
    for (const t of [this.timer, this.soon]) if (t) this.clock.clearTimeout(t);
    this.timer = this.soon = null;
  }

  private tick(): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      if (!this.enabled) return;
      this.check();
      this.tick();
    }, this.intervalMs);
  }

  private check(): void {
    const paths = this.paths();
    const key = JSON.stringify(paths);
    if (key === this.last) return;
    if (this.send({ type: 'status', version: VERSION, paths })) this.last = key;
  }
}

/** Peer public key -> direct|relay, for peers reached either way (as `weft status` shows them). */
export function reportedPaths(status: StatusJson): Record<string, PeerPath> {
  const out: Record<string, PeerPath> = {};
  for (const p of status.peers) if (p.path !== 'none') out[p.publicKey] = p.path;
  return out;
}
