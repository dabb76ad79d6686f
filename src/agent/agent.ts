import { systemClock, type Clock } from '../clock.js';
import { silentLogger, type Logger } from '../log.js';
import { lockStateDir, type LockHandle } from '../file-lock.js';
import { keyToBase64, publicKeyFromPrivate } from '../crypto/keys.js';
import { WIREGUARD_ONLY_ENDPOINT, type NodeView } from '../wire/control.js';
import type { PacketFilter } from '../policy/filter.js';
import { MagicDns } from './magic-dns.js';
import { NetStack } from '../netstack/stack.js';
import { DEFAULT_MTU } from '../wireguard/constants.js';
import { CAP_NET_ADMIN, hasCapability } from '../io/capabilities.js';
import type { Device } from '../wireguard/device.js';
import type { Engine } from '../wireguard/engine.js';
import { packetTaps, startEngine } from './engine-start.js';
import { NftFilter } from './nft-filter.js';
import type { ControlClient } from './control-client.js';
import { loadIdentity, localIdentity, newControlClient, registerNode } from './identity.js';
import { AgentError } from './errors.js';
import { reportedPaths, StatusReporter } from './status-report.js';
import { LocalApi, type PingReply } from './local-api.js';
import { LocalBackend } from './local-backend.js';
import { endpointsFor, pickUdpPort } from './local-endpoints.js';
import { IpRouteConfigurator, type OsConfigurator } from './os-config.js';
import { clearIdentity, ensureStateDir, loadNetmapCache, socketPath } from './state.js';
import { NetmapCacheWriter } from './netmap-cache.js';
import type { StatusJson } from './status.js';
import { AgentNat } from './nat.js';
import { NetfilterForwarding, noForwarding } from './forwarding.js';
import { ENGINE_FWMARK, noRouting, PolicyRoutingConfigurator } from './routing.js';
import { RouteBypass } from './bypass.js';
import { RouteController, type ExitPrefs } from './routes.js';
import type { MetricsServer } from '../metrics/server.js';
import { DEFAULT_IFACE, NEEDS_ROOT, type AgentOptions } from './agent-options.js';
import { NetmapBackend } from './backend.js';
import { EndpointReporter } from './endpoint-reporter.js';


// The node agent (tailscaled's job), the process wiring: owns the identity in the state
// dir, registers with the coordinator once, runs the WireGuard engine on a TUN, hands its
// NetmapSource's updates to the local backend (local-backend.ts), which applies what the
// netmap backend (backend.ts) derives (engine config, filter, DNS, routes), reports its
// endpoints, and serves the local API the CLI talks to. Tunnels live in the engine, so
// they keep working while the coordinator is away; the source reconnects and
// resynchronises by itself. Engine start-up is in engine-start.ts.

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
  private client: ControlClient | null = null;
  private api: LocalApi | null = null;
  private metrics: MetricsServer | null = null;
  /** `http://host:port` of the metrics listener while it runs. */
  metricsUrl: string | null = null;
  private readonly reporter: EndpointReporter;
  /** The running node's state (key, engine, source, filter, ...), what it does with netmaps, the local API's answers. */
  private readonly local: LocalBackend;
  statusExtra: () => object = () => ({}); // more `weft status` fields from parts beside the agent (circuits)
  private stopping: Promise<void> | null = null;
  private lock: LockHandle | null = null;
  /** Subnet routes and exit nodes, both as client and as router. */
  readonly routes: RouteController;
  /** The userspace TCP/IP stack with `tun: 'userspace'` (dial and listen on it, see src/netstack). */
  readonly netstack: NetStack | null;
  private readonly bypass = new RouteBypass();
  private readonly netmapCache: NetmapCacheWriter;
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
    const meshRanges = () => (this.local.state ? [this.local.state.ipv4Range, this.local.state.ipv6Range] : []);
    this.routes = new RouteController(
      { routes: opts.advertiseRoutes ?? [], exitNode: opts.advertiseExitNode ?? false, snatSubnetRoutes: opts.snatSubnetRoutes ?? true, exitPolicy: opts.exitPolicy ?? { allowPorts: [], block: [] } },
      { exitNode: opts.exitNode || null, allowLanAccess: opts.exitNodeAllowLanAccess ?? false, fallback: opts.exitNodeFallback ?? 'block', circuit: opts.exitCircuit },
      opts.routing ?? (real ? new PolicyRoutingConfigurator(this.logger) : noRouting),
      opts.forwarding ?? (real ? new NetfilterForwarding(opts.stateDir, this.logger) : noForwarding),
      {
        iface: () => this.engine?.ifname ?? this.iface,
        meshRanges,
        bypass: () => this.bypass.routes(),
        findPeer: (t) => this.findPeer(t),
        logger: this.logger,
      },
    );
    this.netmapCache = new NetmapCacheWriter({
      clock: this.clock,
      logger: this.logger,
      stateDir: opts.stateDir,
      serverUrl: () => this.local.state?.serverUrl ?? null,
      netmap: () => (this.local.fromCache ? null : (this.local.backend?.netmap() ?? null)),
    });
    this.reporter = new EndpointReporter({
      clock: this.clock,
      logger: this.logger,
      iface: this.iface,
      interfaces: opts.interfaces,
      pollMs: opts.endpointPollMs,
      meshRanges,
      port: () => this.engine?.listenPort ?? null,
      nat: () => this.nat,
      extra: () => (this.engine && !this.device && !this.nat ? [WIREGUARD_ONLY_ENDPOINT] : []),
      source: () => this.local.source,
    });
    const { clock, logger, os, routes, reporter, bypass, statusReport, netmapCache } = this;
    const parts = { opts, clock, logger, os, routes, reporter, bypass, statusReport, netmapCache };
    this.local = new LocalBackend({ ...parts, statusExtra: () => this.statusExtra(), stopping: () => this.stopping !== null });
  }

  /** The builtin engine; null with an external one (--backend kernel|wireguard-go). */
  get device(): Device | null {
    return this.local.device;
  }

  /** The data plane, whichever backend runs it. */
  get engine(): Engine | null {
    return this.local.engine;
  }

  /** Ingress packet filter from the netmap (deny-all until the first netmap). */
  get filter(): PacketFilter | null {
    return this.local.filter;
  }

  get nat(): AgentNat | null {
    return this.local.nat;
  }

  /** The peers the engine runs, as the netmap source last described them. */
  get peers(): ReadonlyMap<string, NodeView> {
    return this.local.peers;
  }

  get publicKey(): string {
    if (!this.local.key) throw new AgentError('ERR_STOPPED', 'agent not started');
    return keyToBase64(publicKeyFromPrivate(this.local.key));
  }

  get self(): NodeView | null {
    return this.local.state?.node ?? null;
  }

  get connected(): boolean {
    return this.local.source?.connected ?? false;
  }

  /** A netmap from the coordinator has been applied (the peers are known by name). */
  get hasNetmap(): boolean {
    return (this.local.backend?.seq ?? -1) >= 0 && !this.local.fromCache;
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
    const l = this.local;
    const id = local ? await localIdentity(stateDir, local) : await loadIdentity(this.opts, this.logger);
    l.key = id.key;
    let state = id.state;
    const created = id.created;
    // Debug: a start refused for a bad argument or key prints only its one-line error.
    this.logger.debug({ publicKey: this.publicKey.slice(0, 8), newKey: created }, 'node identity loaded');
    if (!this.opts.createTun && !this.netstack && !hasCapability(CAP_NET_ADMIN)) throw new AgentError('ERR_NEEDS_ROOT', NEEDS_ROOT);

    // A new node registers before the interface exists, so a wrong server or auth key
    // fails without touching the OS; it picks its port first so its endpoints go along.
    l.state = state;
    this.reporter.refreshLocal();
    if (!state || this.opts.forceReauth) {
      const listenPort = this.opts.port || state?.listenPort || (await pickUdpPort());
      const endpoints = endpointsFor(this.reporter.local, listenPort);
      ({ state, client: this.client } = await registerNode(this.opts, { key: id.key, url: id.serverUrl, listenPort, endpoints }, { clock: this.clock, logger: this.logger, random: this.random, stopping: () => this.stopping !== null }));
    }
    l.backend = new NetmapBackend(this.publicKey, state);
    const { opts, iface, netstack, clock, logger, random, reporter } = this;
    const hooks = { onGone: () => void this.stop(), onNat: (n: AgentNat) => (l.nat = n), onDevice: (d: Device) => (l.device = d) };
    const nat = { localEndpoints: (p: number) => reporter.localEndpoints(p), onEndpointsChanged: () => reporter.report(false), onPathChange: () => this.statusReport.changed(), resync: () => l.syncEngine() };
    const engine = (l.engine = await startEngine({ opts, iface, key: l.key!, netstack, clock, logger, random, ...hooks, ...nat }, opts.port ?? state.listenPort));
    const device = l.device;
    l.state = state;
    if (state.listenPort !== engine.listenPort) await l.persist({ ...state, listenPort: engine.listenPort });
    l.nat?.mapPort(engine.listenPort);
    if (local) {
      if (!l.nat || !device) throw new AgentError('ERR_NO_SHARED_SOCKET', 'serverless mode gossips on the NAT traversal socket; it needs the builtin engine with NAT traversal on');
      l.source = await local.attach(l.nat.magic, engine.listenPort);
    } else l.source = this.client ??= newControlClient(id.key, state, this);

    await this.os.up(l.interfaceConfig(state));
    // Routes branch: the engine marks its own packets so policy routing into the mesh
    // (exit node) leaves them on their normal path; stale rules/NAT from a crash go first.
    if (device && !this.opts.osConfig && !this.netstack) {
      try {
        await device.reconfigure({ privateKey: l.key, fwmark: ENGINE_FWMARK, peers: [] }); // no peers before the first netmap
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'cannot mark engine packets (SO_MARK); exit node routing would loop');
      }
    }
    // A crashed run's stale rules and NAT (~20 commands) go first, off the start-up path.
    l.routesQueue = this.routes.down().catch((err: Error) => this.logger.warn({ err: err.message }, 'removing stale routes failed'));
    if (!local) await this.bypass.setCoordinator(state.serverUrl);
    if (device) ({ pinger: l.pinger, filter: l.filter } = packetTaps(device, state, this.routes, this.clock));
    else l.nft = new NftFilter(this.logger);
    // Userspace mode has no OS resolver to point anywhere: its proxies resolve with findPeer().
    const md = this.opts.magicDns ?? (this.opts.osConfig || this.netstack ? false : { acceptDns: true });
    if (md) l.magicDns = new MagicDns({ stateDir, logger: this.logger, acceptDns: md.acceptDns });
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
      l.onUpdate({ type: 'full', netmap: cached });
      l.fromCache = true;
      this.logger.info({ peers: this.peers.size, seq: cached.seq }, 'peers from the cached netmap until the coordinator answers');
    }
    l.source.start(l.sink());
    if (!l.nat) this.reporter.start(); // NAT traversal watches the addresses itself (nat.ts)
    this.logger.info({ name: state.node.name, ipv4: state.node.ipv4, ipv6: state.node.ipv6, port: engine.listenPort, backend: engine.kind, netstack: this.netstack?.kind }, 'agent up');
  }

  // --- local API (answered by local-backend.ts) ------------------------------------------

  status(): StatusJson {
    return this.local.status();
  }

  /** Finds a peer by name, fqdn (trailing dot optional) or mesh address. */
  findPeer(target: string): NodeView | undefined {
    return this.local.findPeer(target);
  }

  ping(target: string, timeoutMs: number): Promise<PingReply> {
    return this.local.ping(target, timeoutMs);
  }

  /** `weft set` (local API): exit node preferences at runtime. */
  setPrefs(p: Partial<ExitPrefs>): Promise<StatusJson> {
    return this.local.setPrefs(p);
  }

  /** Down/up without stopping (Tailscale's WantRunning); see LocalBackend.setTunnel. */
  setTunnel(up: boolean): Promise<StatusJson> {
    return this.local.setTunnel(up);
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
    const l = this.local;
    this.stopping ??= (async () => {
      this.reporter.stop();
      this.statusReport.stop();
      await this.netmapCache.flush();
      l.pinger?.close();
      await (l.source ?? this.client)?.stop().catch(() => {});
      await l.magicDns?.stop();
      await l.routesQueue;
      await this.routes.down();
      await l.nftQueue;
      await l.nft?.down();
      await this.os.down();
      await l.engine?.close().catch(() => {});
      await l.nat?.stop().catch(() => {});
      await this.metrics?.stop();
      this.metricsUrl = null;
      // Last: the socket going away tells `weft down` that everything is undone.
      await this.api?.stop().catch(() => {});
      this.lock?.release();
      if (l.engine) this.logger.info({}, 'agent stopped');
      this.resolveStopped();
    })();
    return this.stopping;
  }
}
