import { systemClock, type Clock, type TimerHandle } from '../../clock.js';
import { silentLogger, type Logger } from '../../log.js';
import { defaultGateway } from './gateway.js';
import { NatPmpClient, NATPMP_PORT } from './natpmp.js';
import { PcpClient } from './pcp.js';
import { newPortMapStats, type Gateway, type PortMapClient, type PortMapping, type PortMapStats } from './types.js';
import { UdpExchange } from './udp-exchange.js';
import { UpnpClient } from './upnp.js';

// Keeps one UDP port mapping on the default gateway for the engine's port, as Tailscale's
// portmapper does: PCP, then NAT-PMP, then UPnP IGD (the first that grants one is kept),
// a 2-hour lifetime renewed at half of what the gateway granted, and deleted on stop().
// When nothing maps (no gateway, no protocol, a refusal) it tries again every retryMs.
// Between renewals, a protocol that can tell (PCP's epoch) is asked every epochCheckMs
// whether the gateway restarted and lost the mapping; if so it is mapped again at once.

export const DEFAULT_LIFETIME_S = 7200;
export const DEFAULT_RETRY_MS = 60_000;
export const DEFAULT_EPOCH_CHECK_MS = 60_000;

export interface PortMapperOptions {
  clock?: Clock;
  logger?: Logger;
  gateway?: () => Promise<Gateway | null>;
  /** The protocol clients to try in order (default: PCP, NAT-PMP, UPnP at the gateway). */
  clients?: (gw: Gateway, stats: PortMapStats, clock: Clock) => PortMapClient[];
  lifetimeS?: number;
  retryMs?: number;
  epochCheckMs?: number;
  /** Told when the mapping appeared, moved or went away. */
  onChange: () => void;
}

export function defaultClients(gw: Gateway, stats: PortMapStats, clock: Clock): PortMapClient[] {
  const udp = new UdpExchange({ gatewayIp: gw.ip, port: NATPMP_PORT, localIp: gw.localIp, stats, clock });
  return [new PcpClient(udp, gw.localIp, clock), new NatPmpClient(udp), new UpnpClient({ gatewayIp: gw.ip, localIp: gw.localIp, stats, clock })];
}

export class PortMapper {
  readonly stats = newPortMapStats();
  mapping: PortMapping | null = null;
  private gw: Gateway | null = null;
  private clients: PortMapClient[] = [];
  private active: PortMapClient | null = null;
  private port = 0;
  private timer: TimerHandle | null = null;
  /** When the next renewal (or retry) is due, on the clock. */
  private renewAt = 0;
  private running: Promise<void> | null = null;
  private checking = false;
  private stopped = false;
  private readonly clock: Clock;
  private readonly logger: Logger;

  constructor(private readonly o: PortMapperOptions) {
    this.clock = o.clock ?? systemClock;
    this.logger = o.logger ?? silentLogger;
  }

  /** Maps UDP `internalPort` (again, if it changed). */
  start(internalPort: number): void {
    if (this.stopped || internalPort === this.port) return;
    this.port = internalPort;
    void this.refresh();
  }

  /** One attempt: renew with the protocol in use, else try each in order. */
  refresh(): Promise<void> {
    if (this.stopped || this.port === 0) return Promise.resolve();
    this.running ??= this.attempt().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async attempt(): Promise<void> {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    const gw = await (this.o.gateway ?? defaultGateway)().catch(() => null);
    if (this.stopped) return;
    if (!gw || gw.ip !== this.gw?.ip || gw.localIp !== this.gw.localIp) {
      this.gw = gw;
      this.clients = gw ? (this.o.clients ?? defaultClients)(gw, this.stats, this.clock) : [];
      this.active = null;
    }
    const order = this.active ? [this.active, ...this.clients.filter((c) => c !== this.active)] : this.clients;
    let got: PortMapping | null = null;
    for (const c of order) {
      try {
        got = await c.map(this.port, this.o.lifetimeS ?? DEFAULT_LIFETIME_S);
        this.active = c;
        break;
      } catch (err) {
        this.logger.debug({ protocol: c.name, err: (err as Error).message }, 'port mapping failed');
      }
      if (this.stopped) return;
    }
    if (this.stopped) return; // stop() deletes what we just got
    const before = this.mapping?.external ?? null;
    this.mapping = got;
    if (got) this.logger.info({ protocol: got.protocol, external: got.external, lifetimeS: got.lifetimeS }, 'port mapped');
    else if (before) this.logger.warn({ gateway: gw?.ip ?? null }, 'port mapping lost');
    if ((got?.external ?? null) !== before) this.o.onChange();
    this.renewAt = this.clock.now() + (got ? (got.lifetimeS * 1000) / 2 : (this.o.retryMs ?? DEFAULT_RETRY_MS));
    this.schedule();
  }

  /** True while a mapping attempt, or a check of the gateway's state, is under way. */
  get busy(): boolean {
    return this.running !== null || this.checking;
  }

  /** The next timer: the renewal when it comes before the next epoch check, else the check. */
  private schedule(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    const left = Math.max(0, this.renewAt - this.clock.now());
    const check = this.mapping && this.active?.stateLost ? (this.o.epochCheckMs ?? DEFAULT_EPOCH_CHECK_MS) : Infinity;
    this.timer = left <= check ? this.clock.setTimeout(() => void this.refresh(), left) : this.clock.setTimeout(() => void this.checkState(), check);
  }

  private async checkState(): Promise<void> {
    this.timer = null;
    const active = this.active;
    // No answer is not proof of a restart: the renewal decides then.
    this.checking = true;
    let lost: boolean | undefined;
    try {
      lost = await active?.stateLost?.().catch(() => false);
    } finally {
      this.checking = false;
    }
    if (this.stopped || active !== this.active || this.running) return;
    if (!lost) return this.schedule();
    this.logger.info({ protocol: active?.name, gateway: this.gw?.ip ?? null }, 'gateway lost its port mappings (restart); mapping again');
    void this.refresh();
  }

  /** Stops renewing and deletes the mapping on the gateway (bounded by the clients' timeouts). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    const active = this.active;
    this.active = null;
    this.mapping = null;
    try {
      await active?.unmap();
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'port mapping delete failed');
    }
  }
}
