import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import type { PrivateKey } from '../crypto/keys.js';
import { WIREGUARD_ONLY_ENDPOINT, WIREGUARD_PORT_PREFIX, wireguardPortOf, type NodeView, type RelayInfo } from '../wire/control.js';
import { validRelays } from '../wire/decode.js';
import type { Bind } from '../io/bind.js';
import { Endpoint } from '../io/endpoint.js';
import { silentLogger, type Logger } from '../log.js';
import { MagicBind, type MagicPeer, type PathInfo } from '../nat/magicsock.js';
import { netcheck, type NetcheckRelay, type NetcheckReport } from '../nat/netcheck.js';
import { PortMapper, type PortMapperOptions } from '../nat/portmap/portmapper.js';

// The agent's NAT traversal: a MagicBind around the engine's socket, netcheck (STUN over
// that same socket, so the mapped address is the one peers must use) at start, when the
// relay map changes and every `netcheckIntervalMs`; the home relay (lowest latency) and
// the endpoints to report (local, STUN-mapped, port-mapped on the gateway, `relay:<home>`).

const RELAY_PREFIX = 'relay:';
export const DEFAULT_NETCHECK_INTERVAL_MS = 60_000;

export interface AgentNatOptions {
  inner: Bind;
  /** Extra sockets for the birthday method (absent: off). */
  createExtraBind?: () => Bind;
  birthdaySockets?: number;
  birthdayProbes?: number;
  privateKey: PrivateKey;
  clock?: Clock;
  logger?: Logger;
  /** Our local endpoints (interface addresses with the WireGuard port). */
  localEndpoints: () => string[];
  /** Called when what we should report changed (new mapped address or home relay). */
  onEndpointsChanged: () => void;
  netcheckIntervalMs?: number;
  /** How often local addresses are checked for a change (default 1 s). */
  linkPollMs?: number;
  heartbeatMs?: number;
  trustMs?: number;
  retryMs?: number;
  /** Map the engine's port on the gateway (PCP, NAT-PMP, UPnP); false: never (`--no-port-mapping`). */
  portMapping?: false | Omit<PortMapperOptions, 'onChange' | 'clock' | 'logger'>;
  /**
   * Beside an external engine: turns the peers' synthetic endpoints into the endpoints
   * the engine uses (its loopback proxies, external-nat.ts); closed on stop.
   */
  peerEndpoints?: {
    /** `direct`: where the engine reaches a peer itself now (null: through the proxy). */
    sync(synthetic: ReadonlyMap<string, Endpoint>, direct: (b64: string) => Endpoint | null): ReadonlyMap<string, Endpoint>;
    close(): void;
    stats(): object;
    /** The engine's own WireGuard port, reported as `wgport:<port>`. */
    wireguardPort(): number;
  };
}

export function homeRelayOf(v: NodeView): string | null {
  const e = v.endpoints.find((x) => x.startsWith(RELAY_PREFIX));
  return e ? e.slice(RELAY_PREFIX.length) : null;
}

export class AgentNat {
  readonly magic: MagicBind;
  report: NetcheckReport | null = null;
  /** Path changes by the path a peer moved to (metrics). */
  readonly pathChanges = { direct: 0, relay: 0, none: 0 };
  /** Peers on external engines (no disco), by base64 key. */
  private readonly plainPeers = new Set<string>();
  /** Told after any peer's path changed (the agent's status report). */
  onPathChange: (() => void) | null = null;
  private relays: RelayInfo[] = [];
  private relayText = '';
  private timer: TimerHandle | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private readonly clock: Clock;
  private readonly logger: Logger;
  readonly portMapper: PortMapper | null;

  constructor(private readonly o: AgentNatOptions) {
    this.clock = o.clock ?? systemClock;
    this.logger = o.logger ?? silentLogger;
    this.portMapper = o.portMapping === false ? null : new PortMapper({ ...o.portMapping, clock: this.clock, logger: this.logger, onChange: () => this.o.onEndpointsChanged() });
    this.magic = new MagicBind({
      inner: o.inner,
      createExtraBind: o.createExtraBind,
      birthdaySockets: o.birthdaySockets,
      birthdayProbes: o.birthdayProbes,
      privateKey: o.privateKey,
      clock: this.clock,
      logger: this.logger,
      heartbeatMs: o.heartbeatMs,
      trustMs: o.trustMs,
      retryMs: o.retryMs,
      // Beside an external engine every peer stays probed (lazy discovery there fails the
      // backend-nat e2e's EIM pair: not yet understood, docs/BENCHMARKS.md idle section).
      activeMs: o.peerEndpoints ? Infinity : undefined,
      ownEndpoints: () => this.directEndpoints().flatMap((e) => {
        try {
          return [Endpoint.parse(e)];
        } catch {
          return [];
        }
      }),
      natInfo: () => ({ udp: this.report ? this.report.udp : null, hard: this.report?.mappingVariesByDestIP ?? null }),
    });
    this.magic.onPathChange = (_peer, info) => {
      this.pathChanges[info.path]++;
      this.onPathChange?.();
    };
  }

  get bind(): Bind {
    return this.magic;
  }

  get homeRelay(): string | null {
    return this.magic.homeRelay;
  }

  /** Local + STUN-mapped + port-mapped endpoints. */
  directEndpoints(): string[] {
    const out = [...this.o.localEndpoints()];
    for (const g of [this.report?.globalV4, this.report?.globalV6, this.portMapper?.mapping?.external]) if (g && !out.includes(g)) out.push(g);
    return out;
  }

  /** What the agent reports to the coordinator. */
  endpoints(): string[] {
    const home = this.magic.homeRelay;
    const wg = this.o.peerEndpoints && this.portPreserved() ? [`${WIREGUARD_PORT_PREFIX}${this.o.peerEndpoints.wireguardPort()}`] : [];
    return [...this.directEndpoints(), ...(home ? [`${RELAY_PREFIX}${home}`] : []), ...wg];
  }

  /** The relay map from a full netmap (absent on older coordinators). */
  setRelays(x: unknown): void {
    const relays = validRelays(x);
    const text = JSON.stringify(relays);
    if (text === this.relayText) return;
    this.relayText = text;
    this.relays = relays;
    this.magic.setRelays(relays, this.magic.homeRelay);
    this.logger.info({ relays: relays.map((r) => r.id), home: this.magic.homeRelay }, 'relay map');
    this.o.onEndpointsChanged();
    void this.runNetcheck();
  }

  /**
   * Gives the path manager the peers' candidates; returns each peer's synthetic
   * endpoint (base64 key -> Endpoint), or what `peerEndpoints` makes of it, which the
   * engine config uses as its endpoint.
   */
  syncPeers(peers: Iterable<NodeView>): ReadonlyMap<string, Endpoint> {
    const list: MagicPeer[] = [];
    const plain: string[] = [];
    this.plainPeers.clear();
    for (const v of peers) {
      // A peer on an external engine answers no disco: WireGuard goes to it directly.
      if (v.endpoints.includes(WIREGUARD_ONLY_ENDPOINT)) {
        plain.push(...v.endpoints);
        this.plainPeers.add(v.publicKey);
      }
      else list.push({ publicKey: v.publicKey, endpoints: v.endpoints.filter((e) => !e.startsWith(RELAY_PREFIX) && !e.startsWith(WIREGUARD_PORT_PREFIX)), homeRelay: homeRelayOf(v), wgPort: wireguardPortOf(v.endpoints) });
    }
    this.magic.setPlainSources(plain);
    const synthetic = this.magic.setPeers(list);
    return this.o.peerEndpoints ? this.o.peerEndpoints.sync(synthetic, (k) => (this.portPreserved() ? this.magic.directWireguard(k) : null)) : synthetic;
  }

  /**
   * Beside an external engine, whether our NAT kept the disco port's number (or there is
   * no NAT seen): then it likely maps the engine's WireGuard port as its own too, and
   * WireGuard may go direct to and from it. Otherwise all WireGuard goes through the
   * proxies and the disco socket, and we report no `wgport:`.
   */
  portPreserved(): boolean {
    const g = this.report?.globalV4;
    return !g || g.endsWith(`:${this.magic.port}`);
  }

  summary(): Record<string, unknown> {
    const r = this.report;
    return {
      homeRelay: this.magic.homeRelay,
      relayState: this.magic.homeRelay ? this.magic.relayState(this.magic.homeRelay) : null,
      udp: r?.udp ?? null,
      publicV4: r?.globalV4 ?? null,
      publicV6: r?.globalV6 ?? null,
      mappingVariesByDestIP: r?.mappingVariesByDestIP ?? null,
      relayLatency: r?.relayLatency ?? {},
      relays: this.relays,
      portMapping: this.portMapper ? { ...(this.portMapper.mapping ?? { protocol: null, external: null }), stats: { ...this.portMapper.stats } } : null,
      stats: { ...this.magic.stats },
      ...(this.o.peerEndpoints ? { discoPort: this.magic.port, proxies: this.o.peerEndpoints.stats() } : {}),
    };
  }

  /** Undefined for a peer without disco: the engine's own view (a direct endpoint) holds. */
  path(publicKey: string): PathInfo | undefined {
    if (this.plainPeers.has(publicKey)) return undefined;
    return this.magic.path(publicKey);
  }

  start(): void {
    this.schedule();
    this.pollLink();
  }

  /** The engine listens on `port` now: keep it mapped on the gateway (unless port mapping is off). */
  mapPort(port: number): void {
    this.portMapper?.start(port);
  }

  private lastLocal: string | null = null;
  private linkTimer: TimerHandle | null = null;

  /** Watches the local addresses (1 s): a change means roaming, see MagicBind.linkChange. */
  private pollLink(): void {
    if (this.stopped) return;
    const now = this.o.localEndpoints().join(',');
    if (this.lastLocal !== null && now !== this.lastLocal && now !== '') {
      this.logger.info({ from: this.lastLocal, to: now }, 'local addresses changed: rediscovering paths');
      this.magic.linkChange();
      void this.portMapper?.refresh(); // maybe another gateway now
      this.o.onEndpointsChanged();
      void this.runNetcheck().then(() => this.o.onEndpointsChanged());
    }
    if (now !== '') this.lastLocal = now;
    this.linkTimer = this.clock.setTimeout(() => this.pollLink(), this.o.linkPollMs ?? 1000);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      void this.runNetcheck().finally(() => this.schedule());
    }, this.o.netcheckIntervalMs ?? DEFAULT_NETCHECK_INTERVAL_MS);
  }

  runNetcheck(): Promise<void> {
    this.running ??= (async () => {
      try {
        if (this.relays.length === 0 || this.stopped) return;
        const relays = netcheckRelays(this.relays);
        const before = this.endpoints().join(',');
        const report = await netcheck({ stun: this.magic.stun, relays, timeoutMs: 2000, previousPreferred: this.magic.homeRelay, clock: this.clock });
        if (this.stopped) return;
        this.report = report;
        const home = report.preferredRelay ?? this.magic.homeRelay;
        if (home !== this.magic.homeRelay) this.magic.setRelays(this.relays, home);
        this.logger.info({ udp: report.udp, v4: report.globalV4, hard: report.mappingVariesByDestIP, home: this.magic.homeRelay }, 'netcheck');
        if (this.endpoints().join(',') !== before) this.o.onEndpointsChanged();
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'netcheck failed');
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    if (this.linkTimer) this.clock.clearTimeout(this.linkTimer);
    this.timer = this.linkTimer = null;
    await this.portMapper?.stop();
    this.o.peerEndpoints?.close();
    await this.magic.shutdown();
  }
}

/** The relay map as netcheck targets (STUN entries that do not parse are skipped). */
export function netcheckRelays(relays: readonly RelayInfo[]): NetcheckRelay[] {
  return relays.map((r) => ({
    id: r.id,
    url: r.url,
    stun: r.stun.flatMap((s) => {
      try {
        return [Endpoint.parse(s)];
      } catch {
        return [];
      }
    }),
  }));
}
