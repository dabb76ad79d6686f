import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { keyFromBase64, type PrivateKey } from '../crypto/keys.js';
import type { NodeView } from '../wire/control.js';
import type { PacketFilter } from '../policy/filter.js';
import type { MagicDns } from './magic-dns.js';
import type { Device } from '../wireguard/device.js';
import { EngineError, type Engine } from '../wireguard/engine.js';
import type { NftFilter } from './nft-filter.js';
import { AgentError } from './errors.js';
import type { StatusReporter } from './status-report.js';
import type { PingReply } from './local-api.js';
import { chooseEndpoint } from './netmap.js';
import type { OsConfigurator } from './os-config.js';
import type { Pinger } from './ping.js';
import { saveState, type PersistedState } from './state.js';
import type { NetmapCacheWriter } from './netmap-cache.js';
import { agentStatus, expiryWarning, type StatusJson } from './status.js';
import type { AgentNat } from './nat.js';
import type { RouteBypass } from './bypass.js';
import type { ExitPrefs, RouteController } from './routes.js';
import type { AgentOptions } from './agent-options.js';
import type { NetmapBackend } from './backend.js';
import type { EndpointReporter } from './endpoint-reporter.js';
import type { NetmapSink, NetmapSource, NetmapUpdate } from './netmap-source.js';

// The agent's local backend (Tailscale's ipnlocal.LocalBackend; the process wiring that
// creates and stops its parts is agent.ts): the running node's state, what it does with
// each netmap update (engine config, filter, DNS, routes, our own node), the tunnel
// switch, and the answers of the local API the CLI talks to (status, ping, prefs).

/** The parts the wiring made that the backend drives. */
export interface LocalBackendParts {
  opts: AgentOptions;
  clock: Clock;
  logger: Logger;
  os: OsConfigurator;
  routes: RouteController;
  reporter: EndpointReporter;
  bypass: RouteBypass;
  statusReport: StatusReporter;
  netmapCache: NetmapCacheWriter;
  /** More `weft status` fields from parts beside the agent (circuits). */
  statusExtra(): object;
  /** The agent is stopping. */
  stopping(): boolean;
}

export class LocalBackend {
  // Set by the wiring as the agent starts (null before).
  key: PrivateKey | null = null;
  state: PersistedState | null = null;
  /** Owns the netmap state; created once our key is known. */
  backend: NetmapBackend | null = null;
  /** Where netmaps come from: the coordinator's map stream (the ControlClient). */
  source: NetmapSource | null = null;
  /** The builtin engine; null with an external one (--backend kernel|wireguard-go). */
  device: Device | null = null;
  /** The data plane, whichever backend runs it. */
  engine: Engine | null = null;
  /** The packet filter as nftables rules when packets bypass us (external engine). */
  nft: NftFilter | null = null;
  nftQueue: Promise<void> = Promise.resolve();
  /** Ingress packet filter from the netmap (deny-all until the first netmap). */
  filter: PacketFilter | null = null;
  magicDns: MagicDns | null = null;
  nat: AgentNat | null = null;
  pinger: Pinger | null = null;
  routesQueue: Promise<void> = Promise.resolve();
  /** Peers came from netmap.json and the coordinator has not answered since. */
  fromCache = false;
  /** The tunnel is down (`weft web` Disconnect): no map stream, no peers in the engine, the agent keeps running. */
  private tunnelDown = false;
  /** setTunnel calls, one at a time (a quick down-up must not end with the engine emptied). */
  private tunnelQueue: Promise<unknown> = Promise.resolve();
  /** The coordinator's last refusal or error message (shown by `weft status`), until the stream is up again. */
  private coordinatorError: { code: string; message: string } | null = null;
  /** The key-expiry warning was logged on this connection. */
  private expiryLogged = false;

  constructor(private readonly parts: LocalBackendParts) {}

  /** The peers the engine runs, as the netmap source last described them. */
  get peers(): ReadonlyMap<string, NodeView> {
    return this.backend?.peers ?? new Map();
  }

  sink(): NetmapSink {
    const { logger, reporter, routes } = this.parts;
    return {
      onUpdate: (u) => this.onUpdate(u),
      onError: (code, message) => (this.coordinatorError = { code, message }),
      onConnectedChange: (c) => {
        if (c) this.coordinatorError = null;
        if (c) this.expiryLogged = false;
        logger.info({ connected: c }, c ? 'coordinator connected' : 'coordinator disconnected');
        if (c) reporter.report(true);
        if (c) this.source?.reportRoutes(routes.advertisedRoutes());
      },
    };
  }

  /**
   * Down/up without stopping (Tailscale's WantRunning): down closes the map stream and
   * takes every peer out of the engine; up reconnects and puts them back. The interface,
   * MagicDNS and the local API stay.
   */
  setTunnel(up: boolean): Promise<StatusJson> {
    const next = this.tunnelQueue.then(async () => {
      const { engine, key, source } = this;
      if (!engine || !key || !source || this.parts.stopping()) throw new AgentError('ERR_STOPPED', 'agent not running');
      if (up !== this.tunnelDown) return this.status();
      this.tunnelDown = !up;
      if (up) {
        this.syncEngine();
        source.start(this.sink());
      } else {
        await source.stop();
        await engine.reconfigure({ privateKey: key, peers: [] });
      }
      this.parts.logger.info({}, up ? 'tunnel up' : 'tunnel down; the agent keeps running');
      return this.status();
    });
    this.tunnelQueue = next.catch(() => {});
    return next;
  }

  /** A local source (serverless) derives our state at every start: nothing to save. */
  async persist(state: PersistedState): Promise<void> {
    this.state = state;
    if (!this.parts.opts.localSource) await saveState(this.parts.opts.stateDir, state);
  }

  interfaceConfig(s: PersistedState) {
    return { iface: this.engine!.ifname, ipv4: s.node.ipv4, ipv6: s.node.ipv6, routes: [s.ipv4Range, s.ipv6Range] };
  }

  // --- netmap ---------------------------------------------------------------------------

  /** One update from the source: the backend takes it, we apply what it changed. */
  onUpdate(u: NetmapUpdate): void {
    const { statusReport, bypass, netmapCache, logger, clock } = this.parts;
    const backend = this.backend;
    const ch = backend?.apply(u);
    if (!backend || !ch) return;
    if (ch.full && u.type === 'full') {
      statusReport.streamStarted(u.netmap.statusReports === true);
      this.fromCache = false;
      this.nat?.setRelays(ch.relays);
      bypass.setRelays(ch.relays ?? [], () => this.refreshRoutes());
    }
    if (ch.peers || ch.full) this.syncEngine();
    if (ch.filter || (ch.self && this.nft)) this.setFilter();
    if (!this.parts.stopping()) netmapCache.schedule();
    void (ch.self ? this.updateSelf() : Promise.resolve()).then(() => {
      this.refreshDns();
      this.refreshRoutes();
    });
    if (!backend.self) return;
    if (ch.full) logger.info({ seq: backend.seq, peers: backend.peers.size }, 'netmap received');
    // Under systemd nobody runs `weft status`: the log says it too, once per (re)connect
    // (a resumed stream, v8, starts with a delta carrying self instead of a full netmap).
    if (this.expiryLogged || !(ch.full || (u.type === 'delta' && u.self))) return;
    this.expiryLogged = true;
    const { node } = backend.self;
    const expiry = expiryWarning(node.expiresAt, node.name, clock.wallNow());
    if (expiry) logger.warn({ expiresAt: node.expiresAt }, expiry);
  }

  /** Gives the engine the backend's whole config; Device.reconfigure touches only what differs. */
  syncEngine(): void {
    const { engine, backend, key } = this;
    const { clock, reporter, routes, logger } = this.parts;
    if (!engine || !backend || !key || this.tunnelDown) return;
    const synthetic = this.nat?.syncPeers(backend.peers.values());
    const now = clock.now();
    const local = reporter.local.prefixes;
    const config = backend.engineConfig({
      privateKey: key,
      routesFor: (v) => routes.routesFor(v),
      // With NAT traversal MagicBind picks the path behind one synthetic endpoint per peer.
      endpoint: (v, prev) => synthetic?.get(v.publicKey) ?? chooseEndpoint(v, prev, engine.peerStatus(keyFromBase64(v.publicKey)), now, local),
    });
    engine.reconfigure(config).catch((err: Error) => logger.error({ err: err.message }, 'configuring the engine from the netmap failed'));
    logger.debug({ peers: config.peers.length }, 'engine configured');
  }

  /** Our own node changed: re-address the interface and persist it. */
  private async updateSelf(): Promise<void> {
    const { logger, os } = this.parts;
    const old = this.state;
    const self = this.backend?.self;
    if (!old || !self) return;
    const next: PersistedState = { ...old, ...self };
    this.filter?.setLocalAddresses([self.node.ipv4, self.node.ipv6]);
    const addressing = (s: PersistedState) => [s.node.ipv4, s.node.ipv6, s.ipv4Range, s.ipv6Range].join();
    const identity = (s: PersistedState) => [s.node.name, s.node.fqdn, s.node.expiresAt, s.domain].join();
    this.state = next;
    try {
      if (addressing(old) !== addressing(next)) {
        logger.info({ ipv4: self.node.ipv4, ipv6: self.node.ipv6 }, 'our addresses changed');
        await os.up(this.interfaceConfig(next));
      }
      if (addressing(old) !== addressing(next) || identity(old) !== identity(next)) await this.persist(next);
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'applying our own node change failed');
    }
  }

  /** Re-derives routes/forwarding from the netmap (serialized; the OS commands are slow). */
  private refreshRoutes(): void {
    this.routesQueue = this.routesQueue
      .then(async () => {
        const self = this.backend?.self?.node;
        if (!self || !this.engine || this.parts.stopping()) return;
        // Peers whose served routes moved (exit node chosen, route approved) get new allowed IPs.
        const moved = await this.parts.routes.refresh(self, this.peers);
        if (moved.size > 0) this.syncEngine();
      })
      .catch((err) => this.parts.logger.error({ err: (err as Error).message }, 'refreshing routes failed'));
  }

  /** `weft set` (local API): exit node preferences at runtime. */
  async setPrefs(p: Partial<ExitPrefs>): Promise<StatusJson> {
    this.parts.routes.setExitPrefs(p);
    this.refreshRoutes();
    await this.routesQueue;
    return this.status();
  }

  private setFilter(): void {
    const backend = this.backend;
    if (!backend) return;
    const { nft, engine } = this;
    const { logger } = this.parts;
    if (nft && engine) {
      // Queued, and the rules read when it runs: the latest netmap wins.
      this.nftQueue = this.nftQueue
        .then(() => (this.parts.stopping() ? undefined : nft.apply({ iface: engine.ifname, ...backend.filterConfig() })))
        .catch((err: Error) => logger.error({ err: err.message }, 'applying the packet filter with nftables failed'));
      return;
    }
    try {
      this.filter?.setRules(backend.filterConfig().rules);
      logger.debug({ rules: backend.filterRules.length }, 'packet filter updated');
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'packet filter from the coordinator is invalid; keeping the previous one');
    }
  }

  private refreshDns(): void {
    const input = this.backend?.dnsConfig();
    if (!this.magicDns || !input || !this.engine) return;
    this.magicDns.update(this.engine.ifname, input);
  }

  // --- local API answers ----------------------------------------------------------------

  status(): StatusJson {
    const { state, engine } = this;
    const { opts, reporter, routes } = this.parts;
    if (!state || !engine) throw new AgentError('ERR_STOPPED', 'agent not running');
    const s = agentStatus({ state, engine, peers: this.peers.values(), connected: this.source?.connected ?? false, endpoints: reporter.current(engine.listenPort), coordinatorError: this.coordinatorError, fromCache: this.fromCache, filter: this.filter, filterRules: this.backend?.filterRules.length ?? 0, nat: this.nat, routes, members: opts.localSource?.members(), dht: opts.localSource?.dhtStatus() });
    return { ...s, ...this.parts.statusExtra(), ...(this.tunnelDown ? { tunnelDown: true } : {}) };
  }

  /** Finds a peer by name, fqdn (trailing dot optional) or mesh address. */
  findPeer(target: string): NodeView | undefined {
    return this.backend?.findPeer(target);
  }

  async ping(target: string, timeoutMs: number): Promise<PingReply> {
    const self = this.state?.node;
    if (self && this.engine && !this.device) throw new EngineError('ERR_BACKEND_UNSUPPORTED', `weft ping runs inside the builtin engine; with --backend ${this.engine.kind} use ping(8) to the peer's mesh address`);
    if (!self || !this.pinger || !this.device) throw new AgentError('ERR_STOPPED', 'agent not running');
    const peer = this.findPeer(target);
    if (!peer) throw new AgentError('ERR_PEER_NOT_FOUND', `no peer named ${JSON.stringify(target)}`);
    const v6 = target.includes(':');
    const ip = v6 ? peer.ipv6 : peer.ipv4;
    const ms = await this.pinger.ping(v6 ? self.ipv6 : self.ipv4, ip, timeoutMs);
    const endpoint = this.device.peerStatus(keyFromBase64(peer.publicKey))?.endpoint ?? null;
    const p = this.nat?.path(peer.publicKey);
    if (p) return { name: peer.name, ip, endpoint: p.endpoint, ms: Math.round(ms * 100) / 100, path: p.path, relay: p.relay, pathReason: p.reason };
    return { name: peer.name, ip, endpoint, ms: Math.round(ms * 100) / 100 };
  }
}
