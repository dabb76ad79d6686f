import type { Clock } from '../clock.js';
import type { PrivateKey, PublicKey } from '../crypto/keys.js';
import type { Logger } from '../log.js';
import { RelayClient } from '../relay/client.js';

// The relay set of a MagicBind: the relays of the netmap, a client per relay in use
// (connected on first use), our home relay, and a short bounded backlog for a relay that
// is still connecting, so the first handshake is not lost to a connection about to come up.

export type RelayLike = Pick<RelayClient, 'send' | 'connect' | 'stop' | 'state'>;

export interface MagicRelay {
  id: string;
  url: string;
}

export interface RelaySetOptions {
  privateKey: PrivateKey;
  clock: Clock;
  logger: Logger;
  createRelayClient?: (url: string, onPacket: (src: PublicKey, pkt: Uint8Array) => void) => RelayLike;
  /** A packet from `src` through any relay. */
  onPacket: (src: PublicKey, pkt: Uint8Array) => void;
  /** No new connections while true (the bind is closed). */
  closed: () => boolean;
  stats: { relayTx: number; relayDrops: number };
}

const MAX_BACKLOG = 64;
const BACKLOG_MS = 5000;

export class RelaySet {
  private relays = new Map<string, MagicRelay>();
  private readonly clients = new Map<string, RelayLike>();
  private backlog: { id: string; key: Uint8Array; pkt: Uint8Array; at: number }[] = [];
  private homeId: string | null = null;

  constructor(private readonly opts: RelaySetOptions) {}

  get home(): string | null {
    return this.homeId;
  }

  /** Replaces the relay map; clients of relays gone or moved stop. `home` falls back to the first relay. */
  set(relays: MagicRelay[], home: string | null): void {
    this.relays = new Map(relays.map((r) => [r.id, r]));
    for (const [id, c] of this.clients) {
      if (!this.relays.has(id) || this.relays.get(id)!.url !== (c as { url?: string }).url) {
        void c.stop().catch(() => {});
        this.clients.delete(id);
      }
    }
    this.homeId = home && this.relays.has(home) ? home : (relays[0]?.id ?? null);
    if (this.homeId) this.client(this.homeId);
  }

  /** The relay to reach a peer whose home relay is `peerHome`: its own if we know it, else ours. */
  idFor(peerHome: string | null): string | null {
    if (peerHome && this.relays.has(peerHome)) return peerHome;
    return this.homeId;
  }

  state(id: string): string | null {
    return this.clients.get(id)?.state ?? null;
  }

  /** Sends `pkt` to `key` through relay `id` (connecting it if needed); false when dropped. */
  send(id: string | null, key: Uint8Array, pkt: Uint8Array): boolean {
    const c = id ? this.client(id) : null;
    if (c && id && c.state === 'connecting' && this.backlog.length < MAX_BACKLOG) {
      this.backlog.push({ id, key, pkt: Uint8Array.prototype.slice.call(pkt) as Uint8Array, at: this.opts.clock.now() });
      return true;
    }
    if (!c || !c.send(key, pkt)) {
      this.opts.stats.relayDrops++;
      return false;
    }
    this.opts.stats.relayTx++;
    return true;
  }

  /** Our network changed: connections may be dead without telling us, so reconnect. */
  reconnect(): void {
    for (const c of this.clients.values()) void c.stop().catch(() => {});
    this.clients.clear();
    if (this.homeId) this.client(this.homeId);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.stop().catch(() => {})));
    this.clients.clear();
  }

  private client(id: string): RelayLike | null {
    let c = this.clients.get(id);
    if (c) return c;
    const r = this.relays.get(id);
    if (!r || this.opts.closed()) return null;
    const { clock, logger, onPacket } = this.opts;
    const onStateChange = (st: string): void => {
      if (st === 'connected') this.flush(id);
    };
    c = this.opts.createRelayClient
      ? this.opts.createRelayClient(r.url, onPacket)
      : new RelayClient({ url: r.url, privateKey: this.opts.privateKey, onPacket, onStateChange, clock, logger, backoffMaxMs: 2000 });
    this.clients.set(id, c);
    c.connect().catch((err: Error) => logger.debug({ relay: id, err: err.message }, 'relay connect failed'));
    return c;
  }

  private flush(id: string): void {
    const now = this.opts.clock.now();
    const items = this.backlog.filter((b) => b.id === id);
    this.backlog = this.backlog.filter((b) => b.id !== id);
    const c = this.clients.get(id);
    for (const b of items) if (c && now - b.at < BACKLOG_MS && c.send(b.key, b.pkt)) this.opts.stats.relayTx++;
  }
}
