import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log.js';
import { endpointsFor, localAddresses, systemInterfaces, type InterfaceLister, type LocalAddresses } from './local-endpoints.js';
import type { AgentNat } from './nat.js';
import type { NetmapSource } from './netmap-source.js';

// Where this node can be reached, told to the NetmapSource: at connect (forced), when NAT
// traversal learns something new, and on a poll of the interface addresses.

export const DEFAULT_ENDPOINT_POLL_MS = 5_000;

export interface EndpointReporterOptions {
  clock: Clock;
  logger: Logger;
  /** Our mesh interface (its addresses are not endpoints). */
  iface: string;
  interfaces?: InterfaceLister;
  pollMs?: number;
  meshRanges: () => string[];
  /** The engine's UDP port; null before it listens. */
  port: () => number | null;
  nat: () => AgentNat | null;
  /** Pseudo-endpoints reported along (an external engine's WIREGUARD_ONLY_ENDPOINT). */
  extra?: () => readonly string[];
  source: () => NetmapSource | null;
}

export class EndpointReporter {
  /** The interface addresses as last read. */
  local: LocalAddresses = { prefixes: [] };
  private reported = '';
  private timer: TimerHandle | null = null;

  constructor(private readonly o: EndpointReporterOptions) {}

  refreshLocal(): void {
    this.local = localAddresses(this.o.interfaces ?? systemInterfaces, this.o.iface, this.o.meshRanges());
  }

  /** Interface addresses with `port` (before NAT traversal adds mapped and relay ones). */
  localEndpoints(port: number): string[] {
    this.refreshLocal();
    return endpointsFor(this.local, port);
  }

  current(port: number): string[] {
    const nat = this.o.nat();
    return [...(nat ? nat.endpoints() : endpointsFor(this.local, port)), ...(this.o.extra?.() ?? [])];
  }

  report(force: boolean): void {
    const port = this.o.port();
    const source = this.o.source();
    if (port === null || !source) return;
    this.refreshLocal();
    const eps = this.current(port);
    const text = eps.join(',');
    if (!force && text === this.reported) return;
    if (source.reportEndpoints(eps)) {
      if (text !== this.reported) this.o.logger.info({ endpoints: eps }, 'endpoints reported');
      this.reported = text;
    }
  }

  start(): void {
    this.timer = this.o.clock.setTimeout(() => {
      this.report(false);
      this.start();
    }, this.o.pollMs ?? DEFAULT_ENDPOINT_POLL_MS);
  }

  stop(): void {
    if (this.timer) this.o.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}
