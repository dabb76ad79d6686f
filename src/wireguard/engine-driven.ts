import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log.js';
import { uapiChangeFor, type DeviceConfig } from './config.js';
import type { PeerStatusView } from './device.js';
import { peerStatusFromUapi, type BackendKind, type Engine } from './engine.js';
import type { UapiDeviceChange, UapiDeviceSnapshot, UapiPeerChange } from './uapi.js';

// What the external engines share: a channel that reads the engine's state and sets a
// change (wireguard-go's UAPI socket, `wg` for the kernel), the declarative reconfigure
// that sets only the diff (config.ts uapiChangeFor) so untouched peers keep their
// sessions, and the poll that keeps peer state for `weft status`.

export const ENGINE_POLL_MS = 1_000;

export interface ConfigChannel {
  get(): Promise<UapiDeviceSnapshot>;
  set(change: UapiDeviceChange): Promise<void>;
}

export abstract class DrivenEngine implements Engine {
  abstract readonly kind: Exclude<BackendKind, 'builtin'>;
  private snap: UapiDeviceSnapshot = { privateKey: null, listenPort: 0, fwmark: 0, peers: [] };
  private byKey = new Map<string, PeerStatusView>();
  protected queue: Promise<void> = Promise.resolve();
  private poll: TimerHandle | null = null;
  protected closing = false;

  constructor(
    readonly ifname: string,
    protected readonly channel: ConfigChannel,
    protected readonly clock: Clock,
    protected readonly logger: Logger,
    private readonly pollMs = ENGINE_POLL_MS,
  ) {}

  get listenPort(): number {
    return this.snap.listenPort;
  }

  reconfigure(config: DeviceConfig): Promise<void> {
    const run = this.queue.then(async () => {
      const change = withKeepaliveNudge(uapiChangeFor(await this.channel.get(), config), config);
      const touches = change.privateKey || change.listenPort !== undefined || change.fwmark !== undefined || change.peers.length > 0;
      if (touches) await this.channel.set(change);
      await this.refresh();
    });
    this.queue = run.catch(() => {});
    return run;
  }

  peerStatus(publicKey: Uint8Array): PeerStatusView | undefined {
    return this.byKey.get(Buffer.from(publicKey).toString('hex'));
  }

  abstract close(): Promise<void>;

  /** Stops polling and waits for a running reconfigure. */
  protected async stopPolling(): Promise<void> {
    this.closing = true;
    if (this.poll) this.clock.clearTimeout(this.poll);
    this.poll = null;
    await this.queue;
  }

  protected async refresh(): Promise<void> {
    const snap = await this.channel.get();
    const now = this.clock.now();
    const wall = this.clock.wallNow();
    this.snap = snap;
    this.byKey = new Map(snap.peers.map((p) => [Buffer.from(p.publicKey).toString('hex'), peerStatusFromUapi(p, now, wall)]));
  }

  protected schedulePoll(): void {
    if (this.closing) return;
    this.poll = this.clock.setTimeout(() => {
      this.queue = this.queue
        .then(() => this.refresh())
        .catch((err: Error) => this.logger.debug({ err: err.message }, `polling ${this.kind} failed`))
        .finally(() => this.schedulePoll());
    }, this.pollMs);
  }
}

/**
 * For each peer whose endpoint moves to a non-loopback address, two more sections that set
 * its persistent keepalive away from and back to the configured value: wireguard-go and
 * the kernel send a keepalive (or a handshake) at once when the interval goes from 0 to
 * non-zero, so a new direct path opens the NAT mappings on it without waiting for traffic
 * from this side (the peer's first packets on it would be dropped by our NAT until we send).
 */
export function withKeepaliveNudge(change: UapiDeviceChange, config: DeviceConfig): UapiDeviceChange {
  const extra: UapiPeerChange[] = [];
  for (const p of change.peers) {
    if (p.remove || p.endpoint === undefined || p.endpoint.startsWith('127.')) continue;
    const hex = Buffer.from(p.publicKey).toString('hex');
    const want = config.peers.find((c) => Buffer.from(c.publicKey).toString('hex') === hex)?.persistentKeepalive ?? 0;
    const section = (persistentKeepalive: number): UapiPeerChange => ({ publicKey: p.publicKey, remove: false, updateOnly: true, persistentKeepalive, replaceAllowedIps: false, addAllowedIps: [], removeAllowedIps: [] });
    extra.push(...(want === 0 ? [section(1), section(0)] : [section(0), section(want)]));
  }
  return extra.length ? { ...change, peers: [...change.peers, ...extra] } : change;
}
