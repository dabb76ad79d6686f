import { systemClock, type Clock } from '../clock.js';
import { silentLogger, type Logger } from '../log.js';
import { lockStateDir, type LockHandle } from '../file-lock.js';
import { keyFromBase64, keyToBase64, publicKeyFromPrivate, type PrivateKey } from '../crypto/keys.js';
import { WIREGUARD_ONLY_ENDPOINT, type NodeView } from '../wire/control.js';
import { PacketFilter } from '../policy/filter.js';
import { MagicDns } from './magic-dns.js';
import { NetStack } from '../netstack/stack.js';
import { DEFAULT_MTU } from '../wireguard/constants.js';
import { CAP_NET_ADMIN, hasCapability } from '../io/capabilities.js';
import { Device } from '../wireguard/device.js';
import { EngineError, type Engine } from '../wireguard/engine.js';
import { packetTaps, startEngine } from './engine-start.js';
import { NftFilter } from './nft-filter.js';
import type { ControlClient } from './control-client.js';
import { loadIdentity, localIdentity, newControlClient, registerNode } from './identity.js';
import { AgentError } from './errors.js';
import { reportedPaths, StatusReporter } from './status-report.js';
import { LocalApi, type PingReply } from './local-api.js';
import { endpointsFor, pickUdpPort } from './local-endpoints.js';
import { chooseEndpoint } from './netmap.js';
import { IpRouteConfigurator, type OsConfigurator } from './os-config.js';
import { Pinger } from './ping.js';
import { clearIdentity, ensureStateDir, loadNetmapCache, saveState, socketPath, type PersistedState } from './state.js';
import { NetmapCacheWriter } from './netmap-cache.js';
import { agentStatus, expiryWarning, type StatusJson } from './status.js';
import { AgentNat } from './nat.js';
import { NetfilterForwarding, noForwarding } from './forwarding.js';
import { ENGINE_FWMARK, noRouting, PolicyRoutingConfigurator } from './routing.js';
import { RouteBypass } from './bypass.js';
import { RouteController, type ExitPrefs } from './routes.js';
import type { MetricsServer } from '../metrics/server.js';
import { DEFAULT_IFACE, NEEDS_ROOT, type AgentOptions } from './agent-options.js';
import { NetmapBackend } from './backend.js';
import { EndpointReporter } from './endpoint-reporter.js';
import type { NetmapSink, NetmapSource, NetmapUpdate } from './netmap-source.js';

// The node agent (tailscaled's job), the process wiring: owns the identity in the state
// dir, registers with the coordinator once, runs the WireGuard engine on a TUN, feeds
// its NetmapSource's updates to the backend (backend.ts) and applies what the backend
// derives (engine config, filter, DNS, routes), reports its endpoints, and serves the
// local API the CLI talks to. Tunnels live in the engine, so they keep working while
// the coordinator is away; the source reconnects and resynchronises by itself.
//
// Over 450 lines because this round's features (status reports to the console, the
// userspace stack, OIDC login, resume, down/up without stopping for `weft web`, the
// serverless source and --backend) each added their wiring here after the split; the next
// split moves the local API backend (status, findPeer, ping, setTunnel) to its own file.
// Engine start-up is in engine-start.ts.

export { DEFAULT_IFACE, type AgentOptions } from './agent-options.js';

export function createAgent(opts: AgentOptions): Agent {
  return new Agent(opts);
}

export class Agent {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random: () => number;
  private readonly iface: string;
  private readonly os: OsConfigurator;
  private key: PrivateKey | null = null;
  private state: PersistedState | null = null;
  private client: ControlClient | null = null;
  private api: LocalApi | null = null;
  private metrics: MetricsServer | null = null;
  /** `http://host:port` of the metrics listener while it runs. */
  metricsUrl: string | null = null;
  private pinger: Pinger | null = null;
  private readonly reporter: EndpointReporter;
  /** Owns the netmap state; created once our key is known. */
  private backend: NetmapBackend | null = null;
  /** Where netmaps come from: the coordinator's map stream (the ControlClient). */
  private source: NetmapSource | null = null;
  /** The builtin engine; null with an external one (--backend kernel|wireguard-go). */
  device: Device | null = null;
  statusExtra: () => object = () => ({}); // more `weft status` fields from parts beside the agent (circuits)
  /** The data plane, whichever backend runs it. */
  engine: Engine | null = null;
  /** The packet filter as nftables rules when packets bypass us (external engine). */
  private nft: NftFilter | null = null;
  private nftQueue: Promise<void> = Promise.resolve();
  /** Ingress packet filter from the netmap (deny-all until the first netmap). */
  filter: PacketFilter | null = null;
  private magicDns: MagicDns | null = null;
  nat: AgentNat | null = null;
  private stopping: Promise<void> | null = null;
  /** The tunnel is down (`weft web` Disconnect): no map stream, no peers in the engine, the agent keeps running. */
  private tunnelDown = false;
  /** setTunnel calls, one at a time (a quick down-up must not end with the engine emptied). */
  private tunnelQueue: Promise<unknown> = Promise.resolve();
  private lock: LockHandle | null = null;
  /** Subnet routes and exit nodes, both as client and as router. */
  readonly routes: RouteController;
  /** The userspace TCP/IP stack with `tun: 'userspace'` (dial and listen on it, see src/netstack). */
  readonly netstack: NetStack | null;
  private routesQueue: Promise<void> = Promise.resolve();
  private readonly bypass = new RouteBypass();
  /** The coordinator's last refusal or error message (shown by `weft status`), until the stream is up again. */
  private coordinatorError: { code: string; message: string } | null = null;
  private readonly netmapCache: NetmapCacheWriter;
  /** Peers came from netmap.json and the coordinator has not answered since. */
  private fromCache = false;
  /** The key-expiry warning was logged on this connection. */
  private expiryLogged = false;
  private resolveStopped!: () => void;
  /** Resolves once the agent has stopped (by stop(), `weft down` or the TUN vanishing). */
  readonly stopped = new Promise<void>((r) => (this.resolveStopped = r));
  /** Version and peer paths for the coordinator's admin console. */
  private readonly statusReport: StatusReporter;

  constructor(private readonly opts: AgentOptions) {
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
    this.random = opts.random ?? Math.random;
    this.statusReport = new StatusReporter((m) => this.client?.send(m) ?? false, () => (this.engine ? reportedPaths(this.status()) : {}), this.clock, opts.statusReportMs);
    this.iface = opts.iface ?? DEFAULT_IFACE;
    this.netstack = opts.tun === 'userspace' ? new NetStack({ mtu: DEFAULT_MTU }) : null;
    this.os = opts.osConfig ?? this.netstack?.osConfig ?? new IpRouteConfigurator(this.logger);
    const real = !opts.osConfig && !this.netstack;
    this.routes = new RouteController(
      { routes: opts.advertiseRoutes ?? [], exitNode: opts.advertiseExitNode ?? false, snatSubnetRoutes: opts.snatSubnetRoutes ?? true, exitPolicy: opts.exitPolicy ?? { allowPorts: [], block: [] } },
      { exitNode: opts.exitNode || null, allowLanAccess: opts.exitNodeAllowLanAccess ?? false, fallback: opts.exitNodeFallback ?? 'block', circuit: opts.exitCircuit },
      opts.routing ?? (real ? new PolicyRoutingConfigurator(this.logger) : noRouting),
      opts.forwarding ?? (real ? new NetfilterForwarding(opts.stateDir, this.logger) : noForwarding),
      {
        iface: () => this.engine?.ifname ?? this.iface,
        meshRanges: () => (this.state ? [this.state.ipv4Range, this.state.ipv6Range] : []),
        bypass: () => this.bypass.routes(),
        findPeer: (t) => this.findPeer(t),
        logger: this.logger,
      },
    );
    this.netmapCache = new NetmapCacheWriter({
      clock: this.clock,
      logger: this.logger,
      stateDir: opts.stateDir,
      serverUrl: () => this.state?.serverUrl ?? null,
      netmap: () => (this.fromCache ? null : (this.backend?.netmap() ?? null)),
    });
    this.reporter = new EndpointReporter({
      clock: this.clock,
      logger: this.logger,
      iface: this.iface,
      interfaces: opts.interfaces,
      pollMs: opts.endpointPollMs,
      meshRanges: () => (this.state ? [this.state.ipv4Range, this.state.ipv6Range] : []),
      port: () => this.engine?.listenPort ?? null,
      nat: () => this.nat,
      extra: () => (this.engine && !this.device && !this.nat ? [WIREGUARD_ONLY_ENDPOINT] : []),
      source: () => this.source,
    });
  }

  /** The peers the engine runs, as the netmap source last described them. */
  get peers(): ReadonlyMap<string, NodeView> {
    return this.backend?.peers ?? new Map();
  }

  get publicKey(): string {
    if (!this.key) throw new AgentError('ERR_STOPPED', 'agent not started');
    return keyToBase64(publicKeyFromPrivate(this.key));
  }

  get self(): NodeView | null {
    return this.state?.node ?? null;
  }

  get connected(): boolean {
    return this.source?.connected ?? false;
  }

  /** A netmap from the coordinator has been applied (the peers are known by name). */
  get hasNetmap(): boolean {
    return (this.backend?.seq ?? -1) >= 0 && !this.fromCache;
  }

  async start(): Promise<void> {
    // Before anything that stop() would undo: a second agent must not touch the first's
    // interface, routes or socket.
    await ensureStateDir(this.opts.stateDir);
    this.lock = lockStateDir(this.opts.stateDir, 'weft up');
    try {
      await this.startInner();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  private async startInner(): Promise<void> {
    const { stateDir, localSource: local } = this.opts;
    const id = local ? await localIdentity(stateDir, local) : await loadIdentity(this.opts, this.logger);
    this.key = id.key;
    let state = id.state;
    const created = id.created;
    // Debug: a start refused for a bad argument or key prints only its one-line error.
    this.logger.debug({ publicKey: this.publicKey.slice(0, 8), newKey: created }, 'node identity loaded');
    if (!this.opts.createTun && !this.netstack && !hasCapability(CAP_NET_ADMIN)) throw new AgentError('ERR_NEEDS_ROOT', NEEDS_ROOT);

    // A new node registers before the interface exists, so a wrong server or auth key
    // fails without touching the OS; it picks its port first so its endpoints go along.
    this.state = state;
    this.reporter.refreshLocal();
    if (!state || this.opts.forceReauth) {
      const listenPort = this.opts.port || state?.listenPort || (await pickUdpPort());
      const endpoints = endpointsFor(this.reporter.local, listenPort);
      ({ state, client: this.client } = await registerNode(this.opts, { key: id.key, url: id.serverUrl, listenPort, endpoints }, { clock: this.clock, logger: this.logger, random: this.random, stopping: () => this.stopping !== null }));
    }
    this.backend = new NetmapBackend(this.publicKey, state);
    const { opts, iface, netstack, clock, logger, random, reporter } = this;
    const hooks = { onGone: () => void this.stop(), onNat: (n: AgentNat) => (this.nat = n), onDevice: (d: Device) => (this.device = d) };
    const nat = { localEndpoints: (p: number) => reporter.localEndpoints(p), onEndpointsChanged: () => reporter.report(false), onPathChange: () => this.statusReport.changed(), resync: () => this.syncEngine() };
    const engine = (this.engine = await startEngine({ opts, iface, key: this.key!, netstack, clock, logger, random, ...hooks, ...nat }, opts.port ?? state.listenPort));
    const device = this.device;
    this.state = state;
    if (state.listenPort !== engine.listenPort) await this.persist({ ...state, listenPort: engine.listenPort });
    this.nat?.mapPort(engine.listenPort);
    if (local) {
      if (!this.nat || !device) throw new AgentError('ERR_NO_SHARED_SOCKET', 'serverless mode gossips on the NAT traversal socket; it needs the builtin engine with NAT traversal on');
      this.source = await local.attach(this.nat.magic, engine.listenPort);
    } else this.source = this.client ??= newControlClient(id.key, state, this);

    await this.os.up(this.interfaceConfig(state));
    // Routes branch: the engine marks its own packets so policy routing into the mesh
    // (exit node) leaves them on their normal path; stale rules/NAT from a crash go first.
    if (device && !this.opts.osConfig && !this.netstack) {
      try {
        await device.reconfigure({ privateKey: this.key, fwmark: ENGINE_FWMARK, peers: [] }); // no peers before the first netmap
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'cannot mark engine packets (SO_MARK); exit node routing would loop');
      }
    }
    // A crashed run's stale rules and NAT (~20 commands) go first, off the start-up path.
    this.routesQueue = this.routes.down().catch((err: Error) => this.logger.warn({ err: err.message }, 'removing stale routes failed'));
    if (!local) await this.bypass.setCoordinator(state.serverUrl);
    if (device) ({ pinger: this.pinger, filter: this.filter } = packetTaps(device, state, this.routes, this.clock));
    else this.nft = new NftFilter(this.logger);
    // Userspace mode has no OS resolver to point anywhere: its proxies resolve with findPeer().
    const md = this.opts.magicDns ?? (this.opts.osConfig || this.netstack ? false : { acceptDns: true });
    if (md) this.magicDns = new MagicDns({ stateDir, logger: this.logger, acceptDns: md.acceptDns });
    if (this.opts.localApi ?? true) {
      this.api = new LocalApi(socketPath(stateDir), this, this.logger);
      await this.api.start();
    }
    if (this.opts.metricsListen) {
      // Loaded only here: prom-client costs an agent without --metrics-listen ~1 MB of heap.
      const [{ agentMetrics }, { MetricsServer }] = await Promise.all([import('./metrics.js'), import('../metrics/server.js')]);
      this.metrics = new MetricsServer(agentMetrics(this), this.logger);
      this.metricsUrl = await this.metrics.listen(this.opts.metricsListen.host, this.opts.metricsListen.port);
      this.logger.info({ url: this.metricsUrl }, 'metrics listening');
    }
    // A restart while the coordinator is away: the last netmap brings the tunnels back.
    const cached = await loadNetmapCache(stateDir, state.serverUrl, this.publicKey);
    if (cached) {
      this.onUpdate({ type: 'full', netmap: cached });
      this.fromCache = true;
      this.logger.info({ peers: this.peers.size, seq: cached.seq }, 'peers from the cached netmap until the coordinator answers');
    }
    this.source.start(this.sink());
    if (!this.nat) this.reporter.start(); // NAT traversal watches the addresses itself (nat.ts)
    this.logger.info({ name: state.node.name, ipv4: state.node.ipv4, ipv6: state.node.ipv6, port: engine.listenPort, backend: engine.kind, netstack: this.netstack?.kind }, 'agent up');
  }

  private sink(): NetmapSink {
    return {
      onUpdate: (u) => this.onUpdate(u),
      onError: (code, message) => (this.coordinatorError = { code, message }),
      onConnectedChange: (c) => {
        if (c) this.coordinatorError = null;
        if (c) this.expiryLogged = false;
        this.logger.info({ connected: c }, c ? 'coordinator connected' : 'coordinator disconnected');
        if (c) this.reporter.report(true);
        if (c) this.source?.reportRoutes(this.routes.advertisedRoutes());
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
      if (!engine || !key || !source || this.stopping) throw new AgentError('ERR_STOPPED', 'agent not running');
      if (up !== this.tunnelDown) return this.status();
      this.tunnelDown = !up;
      if (up) {
        this.syncEngine();
        source.start(this.sink());
      } else {
        await source.stop();
        await engine.reconfigure({ privateKey: key, peers: [] });
      }
      this.logger.info({}, up ? 'tunnel up' : 'tunnel down; the agent keeps running');
      return this.status();
    });
    this.tunnelQueue = next.catch(() => {});
    return next;
  }

  /** A local source (serverless) derives our state at every start: nothing to save. */
  private async persist(state: PersistedState): Promise<void> {
    this.state = state;
    if (!this.opts.localSource) await saveState(this.opts.stateDir, state);
  }

  private interfaceConfig(s: PersistedState) {
    return { iface: this.engine!.ifname, ipv4: s.node.ipv4, ipv6: s.node.ipv6, routes: [s.ipv4Range, s.ipv6Range] };
  }

  // --- netmap ---------------------------------------------------------------------------

  /** One update from the source: the backend takes it, we apply what it changed. */
  private onUpdate(u: NetmapUpdate): void {
    const backend = this.backend;
    const ch = backend?.apply(u);
    if (!backend || !ch) return;
    if (ch.full && u.type === 'full') {
      this.statusReport.streamStarted(u.netmap.statusReports === true);
      this.fromCache = false;
      this.nat?.setRelays(ch.relays);
      this.bypass.setRelays(ch.relays ?? [], () => this.refreshRoutes());
    }
    if (ch.peers || ch.full) this.syncEngine();
    if (ch.filter || (ch.self && this.nft)) this.setFilter();
    if (!this.stopping) this.netmapCache.schedule();
    void (ch.self ? this.updateSelf() : Promise.resolve()).then(() => {
      this.refreshDns();
      this.refreshRoutes();
    });
    if (!backend.self) return;
    if (ch.full) this.logger.info({ seq: backend.seq, peers: backend.peers.size }, 'netmap received');
    // Under systemd nobody runs `weft status`: the log says it too, once per (re)connect
    // (a resumed stream, v8, starts with a delta carrying self instead of a full netmap).
    if (this.expiryLogged || !(ch.full || (u.type === 'delta' && u.self))) return;
    this.expiryLogged = true;
    const { node } = backend.self;
    const expiry = expiryWarning(node.expiresAt, node.name, this.clock.wallNow());
    if (expiry) this.logger.warn({ expiresAt: node.expiresAt }, expiry);
  }

  /** Gives the engine the backend's whole config; Device.reconfigure touches only what differs. */
  private syncEngine(): void {
    const { engine, backend, key } = this;
    if (!engine || !backend || !key || this.tunnelDown) return;
    const synthetic = this.nat?.syncPeers(backend.peers.values());
    const now = this.clock.now();
    const local = this.reporter.local.prefixes;
    const config = backend.engineConfig({
      privateKey: key,
      routesFor: (v) => this.routes.routesFor(v),
      // With NAT traversal MagicBind picks the path behind one synthetic endpoint per peer.
      endpoint: (v, prev) => synthetic?.get(v.publicKey) ?? chooseEndpoint(v, prev, engine.peerStatus(keyFromBase64(v.publicKey)), now, local),
    });
    engine.reconfigure(config).catch((err: Error) => this.logger.error({ err: err.message }, 'configuring the engine from the netmap failed'));
    this.logger.debug({ peers: config.peers.length }, 'engine configured');
  }

  /** Our own node changed: re-address the interface and persist it. */
  private async updateSelf(): Promise<void> {
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
        this.logger.info({ ipv4: self.node.ipv4, ipv6: self.node.ipv6 }, 'our addresses changed');
        await this.os.up(this.interfaceConfig(next));
      }
      if (addressing(old) !== addressing(next) || identity(old) !== identity(next)) await this.persist(next);
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'applying our own node change failed');
    }
  }

  /** Re-derives routes/forwarding from the netmap (serialized; the OS commands are slow). */
  private refreshRoutes(): void {
    this.routesQueue = this.routesQueue
      .then(async () => {
        const self = this.backend?.self?.node;
        if (!self || !this.engine || this.stopping) return;
        // Peers whose served routes moved (exit node chosen, route approved) get new allowed IPs.
        const moved = await this.routes.refresh(self, this.peers);
        if (moved.size > 0) this.syncEngine();
      })
      .catch((err) => this.logger.error({ err: (err as Error).message }, 'refreshing routes failed'));
  }

  /** `weft set` (local API): exit node preferences at runtime. */
  async setPrefs(p: Partial<ExitPrefs>): Promise<StatusJson> {
    this.routes.setExitPrefs(p);
    this.refreshRoutes();
    await this.routesQueue;
    return this.status();
  }

  private setFilter(): void {
    const backend = this.backend;
    if (!backend) return;
    const { nft, engine } = this;
    if (nft && engine) {
      // Queued, and the rules read when it runs: the latest netmap wins.
      this.nftQueue = this.nftQueue
        .then(() => (this.stopping ? undefined : nft.apply({ iface: engine.ifname, ...backend.filterConfig() })))
        .catch((err: Error) => this.logger.error({ err: err.message }, 'applying the packet filter with nftables failed'));
      return;
    }
    try {
      this.filter?.setRules(backend.filterConfig().rules);
      this.logger.debug({ rules: backend.filterRules.length }, 'packet filter updated');
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'packet filter from the coordinator is invalid; keeping the previous one');
    }
  }

  private refreshDns(): void {
    const input = this.backend?.dnsConfig();
    if (!this.magicDns || !input || !this.engine) return;
    this.magicDns.update(this.engine.ifname, input);
  }

  // --- local API backend ----------------------------------------------------------------

  status(): StatusJson {
    const { state, engine } = this;
    if (!state || !engine) throw new AgentError('ERR_STOPPED', 'agent not running');
    const s = agentStatus({ state, engine, peers: this.peers.values(), connected: this.connected, endpoints: this.reporter.current(engine.listenPort), coordinatorError: this.coordinatorError, fromCache: this.fromCache, filter: this.filter, filterRules: this.backend?.filterRules.length ?? 0, nat: this.nat, routes: this.routes, members: this.opts.localSource?.members(), dht: this.opts.localSource?.dhtStatus() });
    return { ...s, ...this.statusExtra(), ...(this.tunnelDown ? { tunnelDown: true } : {}) };
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

  /** Deregisters from the coordinator and forgets the identity; the agent keeps running until stop(). */
  async logout(): Promise<void> {
    if (this.opts.localSource) throw new AgentError('ERR_NO_COORDINATOR', "serverless mode has no coordinator to log out of: deauthorize or revoke this key on the members (weft keys deauthorize / revoke-node)");
    if (!this.client) throw new AgentError('ERR_STOPPED', 'agent not running');
    await this.client.logout();
    await clearIdentity(this.opts.stateDir);
    this.logger.info({}, 'logged out');
  }

  async down(logout: boolean): Promise<void> {
    if (logout) await this.logout();
    // Stop after the local API has answered.
    setImmediate(() => void this.stop());
  }

  /** Stops everything it started and undoes the OS configuration; idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.reporter.stop();
      this.statusReport.stop();
      await this.netmapCache.flush();
      this.pinger?.close();
      await (this.source ?? this.client)?.stop().catch(() => {});
      await this.magicDns?.stop();
      await this.routesQueue;
      await this.routes.down();
      await this.nftQueue;
      await this.nft?.down();
      await this.os.down();
      await this.engine?.close().catch(() => {});
      await this.nat?.stop().catch(() => {});
      await this.metrics?.stop();
      this.metricsUrl = null;
      // Last: the socket going away tells `weft down` that everything is undone.
      await this.api?.stop().catch(() => {});
      this.lock?.release();
      if (this.engine) this.logger.info({}, 'agent stopped');
      this.resolveStopped();
    })();
    return this.stopping;
  }
}
