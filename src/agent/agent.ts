// Over 500 lines, on purpose for now: the architecture issue (#13) separates this class
// into a backend that owns netmap state and derives engine, route, DNS and filter configs,
// and the process wiring (identity, registration, local API, stop); done once there rather
// than piecemeal beside this round's hardening, expiry and lock changes.
import ipaddr from 'ipaddr.js';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { silentLogger, type Logger } from '../log.js';
import { lockStateDir, type LockHandle } from '../file-lock.js';
import { keyToBase64, publicKeyFromPrivate, type PrivateKey } from '../crypto/keys.js';
import { FORWARD_RULES_VERSION, type DnsConfig, type FilterRule, type NetMap, type NodeView, type RelayInfo, type ServerMessage } from '../control/wire.js';
import { PacketFilter } from '../policy/index.js';
import { MagicDns } from './magic-dns.js';
import type { Bind } from '../io/bind.js';
import type { TunDevice } from '../io/tun.js';
import { DEFAULT_MTU } from '../wireguard/constants.js';
import { CAP_NET_ADMIN, hasCapability } from '../io/capabilities.js';
import { Device } from '../wireguard/device.js';
import { checkServerUrl, ControlClient, fetchServerKey } from './control-client.js';
import { AgentError } from './errors.js';
import { LocalApi, type PingReply } from './local-api.js';
import { endpointsFor, localAddresses, pickUdpPort, systemInterfaces, type InterfaceLister, type LocalAddresses } from './local-endpoints.js';
import { applyChange, diffPeers, isUsable, type NetmapChange } from './netmap.js';
import { IpRouteConfigurator, type OsConfigurator } from './os-config.js';
import { Pinger } from './ping.js';
import { clearIdentity, ensureStateDir, loadNetmapCache, loadOrCreateKey, loadState, pinServerKey, saveNetmapCache, saveState, socketPath, type PersistedState } from './state.js';
import { expiryWarning, peerStatus, selfStatus, withPath, type StatusJson } from './status.js';
import { AgentNat, type AgentNatOptions } from './nat.js';
import { NetfilterForwarding, noForwarding, type ExitPolicy, type ForwardingConfigurator } from './forwarding.js';
import { ENGINE_FWMARK, hostRoutes, noRouting, PolicyRoutingConfigurator, type RoutingConfigurator } from './routing.js';
import { RouteController, type ExitFallback, type ExitPrefs } from './routes.js';
import { allowedIpsFor, setAllowedIps } from './netmap.js';
import { agentMetrics } from './metrics.js';
import { MetricsServer } from '../metrics/server.js';

// The node agent (tailscaled's job): owns the identity in the state dir, registers
// with the coordinator once, runs the WireGuard engine on a TUN, keeps the engine's
// peers in step with the netmap stream, reports its endpoints, and serves the local
// API the CLI talks to. Tunnels live in the engine, so they keep working while the
// coordinator is away; the stream reconnects and resynchronises by itself.

export const DEFAULT_IFACE = 'weft0';
const DEFAULT_ENDPOINT_POLL_MS = 5_000;
const NETMAP_SAVE_DELAY_MS = 1_000;
const EVERYWHERE = ['0.0.0.0/0', '::/0'];
/** What a v2 coordinator (no packetFilter in the netmap) means: allow all. */
const ALLOW_ALL: FilterRule[] = [{ srcs: EVERYWHERE, ports: [[0, 65535]] }];
/** A coordinator before v5 sends no forwarding rules: routing stays governed by peer visibility. */
const FORWARD_ALL: FilterRule = { srcs: EVERYWHERE, dsts: EVERYWHERE, ports: [[0, 65535]] };

export interface AgentOptions {
  stateDir: string;
  /** Needed on first start (and to move to another coordinator); later starts reuse the saved one. */
  serverUrl?: string;
  authKey?: string;
  /** Allow plain http:// to a coordinator that is not on loopback (labs, trusted LANs). */
  insecureHttp?: boolean;
  /** Forget the server key pinned for this coordinator and pin the one it presents now. */
  resetServerKey?: boolean;
  /** Re-register the saved node key with `authKey` (an expired key, or before it expires): same name and addresses. */
  forceReauth?: boolean;
  hostname?: string;
  iface?: string;
  /** UDP port; default: the one used last time, else random. */
  port?: number;
  createTun?: (name: string, mtu: number) => Promise<TunDevice>;
  createBind?: () => Bind;
  osConfig?: OsConfigurator;
  /** Source of interface addresses for endpoint discovery (default os.networkInterfaces). */
  interfaces?: InterfaceLister;
  endpointPollMs?: number;
  /** Serve the local API on the state dir's socket (default true). */
  localApi?: boolean;
  /**
   * MagicDNS (protocol v3): serve the mesh names on the netmap's resolver address and,
   * with acceptDns, point the OS at it. Default: on with a real OS configurator, off
   * when osConfig is injected (tests with in-memory TUNs).
   */
  magicDns?: { acceptDns: boolean } | false;
  clock?: Clock;
  logger?: Logger;
  random?: () => number;
  /** NAT traversal (MagicBind, netcheck, relays); default on unless createBind is given. */
  nat?: boolean | Pick<AgentNatOptions, 'heartbeatMs' | 'trustMs' | 'retryMs' | 'netcheckIntervalMs'>;
  /** Subnet routes to advertise (routes branch); served once approved. */
  advertiseRoutes?: string[];
  /** Advertise 0.0.0.0/0 and ::/0: offer to be an exit node. */
  advertiseExitNode?: boolean;
  /** Masquerade mesh traffic to our subnet routes (default true). */
  snatSubnetRoutes?: boolean;
  /** As exit node: allowed destination ports and blocked destination CIDRs. */
  exitPolicy?: ExitPolicy;
  /** Use this peer (name, fqdn or mesh IP) as exit node. */
  exitNode?: string;
  exitNodeAllowLanAccess?: boolean;
  /** When the exit node is unavailable: `block` (default, kill switch) or `direct`. */
  exitNodeFallback?: ExitFallback;
  /** Policy routing into the mesh (default: ip rule/route with a real OS configurator, none when osConfig is injected). */
  routing?: RoutingConfigurator;
  /** Forwarding and NAT as router / exit node (default: nftables/iptables with a real OS configurator). */
  forwarding?: ForwardingConfigurator;
  /** Serve Prometheus /metrics here (`--metrics-listen`); absent = off. Port 0 picks one. */
  metricsListen?: { host: string; port: number };
}

export function createAgent(opts: AgentOptions): Agent {
  return new Agent(opts);
}

const NEEDS_ROOT = 'creating the TUN device needs root or CAP_NET_ADMIN';

async function defaultTun(name: string, mtu: number): Promise<TunDevice> {
  const { LinuxTun } = await import('../io/tun-linux.js');
  try {
    return await LinuxTun.create(name, { mtu, up: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EPERM' || code === 'EACCES') throw new AgentError('ERR_NEEDS_ROOT', NEEDS_ROOT, { cause: err });
    if (code === 'ENOENT' || code === 'ENODEV') throw new AgentError('ERR_NO_TUN', 'no TUN support: /dev/net/tun is missing', { cause: err });
    throw err;
  }
}

async function defaultBind(): Promise<Bind> {
  const { LinuxBind } = await import('../io/bind-linux.js');
  return new LinuxBind();
}

async function linuxBindFactory(): Promise<() => Bind> {
  const { LinuxBind } = await import('../io/bind-linux.js');
  return () => new LinuxBind({ batchSize: 8 });
}

function normalizeUrl(u: string): string {
  return new URL(u).toString();
}

export class Agent {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly random: () => number;
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
  private endpointTimer: TimerHandle | null = null;
  private reportedEndpoints = '';
  private local: LocalAddresses = { prefixes: [] };
  private seq = -1;
  /** The key-expiry warning was logged on this connection (full netmap or resumed delta). */
  private expiryLogged = false;
  /** The coordinator speaks v5: its filter holds the forwarding rules (else FORWARD_ALL). */
  private serverForwardRules = false;
  /** The peers the engine runs, as the coordinator last described them. */
  readonly peers = new Map<string, NodeView>();
  device: Device | null = null;
  /** Ingress packet filter from the netmap (deny-all until the first netmap). */
  filter: PacketFilter | null = null;
  private magicDns: MagicDns | null = null;
  private dnsConfig: DnsConfig | null = null;
  nat: AgentNat | null = null;
  private stopping: Promise<void> | null = null;
  private lock: LockHandle | null = null;
  /** Subnet routes and exit nodes, both as client and as router. */
  readonly routes: RouteController;
  private routesQueue: Promise<void> = Promise.resolve();
  /** With an exit node: the coordinator's and the relays' addresses keep the main table. */
  private coordinatorBypass: string[] = [];
  /** The coordinator's last refusal or error message (shown by `weft status`), until the stream is up again. */
  private coordinatorError: { code: string; message: string } | null = null;
  private relayBypass: string[] = [];
  private relayHosts = '';
  /** What the last netmap said, for the cache (netmap.json). */
  private filterRules: FilterRule[] = [];
  private relayMap: RelayInfo[] | undefined;
  private netmapVersion = 0;
  private netmapSave: TimerHandle | null = null;
  /** Peers came from netmap.json and the coordinator has not answered since. */
  private fromCache = false;
  private resolveStopped!: () => void;
  /** Resolves once the agent has stopped (by stop(), `weft down` or the TUN vanishing). */
  readonly stopped = new Promise<void>((r) => (this.resolveStopped = r));

  constructor(private readonly opts: AgentOptions) {
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
    this.random = opts.random ?? Math.random;
    this.iface = opts.iface ?? DEFAULT_IFACE;
    this.os = opts.osConfig ?? new IpRouteConfigurator(this.logger);
    const real = !opts.osConfig;
    this.routes = new RouteController(
      { routes: opts.advertiseRoutes ?? [], exitNode: opts.advertiseExitNode ?? false, snatSubnetRoutes: opts.snatSubnetRoutes ?? true, exitPolicy: opts.exitPolicy ?? { allowPorts: [], block: [] } },
      { exitNode: opts.exitNode || null, allowLanAccess: opts.exitNodeAllowLanAccess ?? false, fallback: opts.exitNodeFallback ?? 'block' },
      opts.routing ?? (real ? new PolicyRoutingConfigurator(this.logger) : noRouting),
      opts.forwarding ?? (real ? new NetfilterForwarding(opts.stateDir, this.logger) : noForwarding),
      {
        iface: () => this.device?.tun.name ?? this.iface,
        meshRanges: () => (this.state ? [this.state.ipv4Range, this.state.ipv6Range] : []),
        bypass: () => [...new Set([...this.coordinatorBypass, ...this.relayBypass])],
        findPeer: (t) => this.findPeer(t),
        logger: this.logger,
      },
    );
  }

  get publicKey(): string {
    if (!this.key) throw new AgentError('ERR_STOPPED', 'agent not started');
    return keyToBase64(publicKeyFromPrivate(this.key));
  }

  get self(): NodeView | null {
    return this.state?.node ?? null;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
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
    const { stateDir } = this.opts;
    const { key, created } = await loadOrCreateKey(stateDir);
    this.key = key;
    let state = await loadState(stateDir);
    if (state && this.opts.serverUrl && normalizeUrl(this.opts.serverUrl) !== state.serverUrl) {
      this.logger.info({ from: state.serverUrl, to: this.opts.serverUrl }, 'moving to another coordinator: registering again');
      state = null;
    }
    const serverUrl = this.opts.serverUrl ?? state?.serverUrl;
    if (state && this.opts.resetServerKey) state = null; // registers again, pinning the key it presents now
    if (!serverUrl) throw new AgentError('ERR_NEEDS_LOGIN', 'not registered yet: pass --server and --auth-key');
    if (this.opts.forceReauth && !this.opts.authKey) throw new AgentError('ERR_NEEDS_LOGIN', '--force-reauth needs a pre-auth key (--auth-key or WEFT_AUTH_KEY)');
    checkServerUrl(serverUrl, this.opts.insecureHttp ?? false);
    // An identity from before pinning existed: pin the key it registered with.
    if (state) await pinServerKey(stateDir, state.serverUrl, state.serverPublicKey);
    // Debug: a start refused for a bad argument or key prints only its one-line error.
    this.logger.debug({ publicKey: this.publicKey.slice(0, 8), newKey: created }, 'node identity loaded');
    if (!this.opts.createTun && !hasCapability(CAP_NET_ADMIN)) throw new AgentError('ERR_NEEDS_ROOT', NEEDS_ROOT);

    // A new node registers before the interface exists, so a wrong server or auth key
    // fails without touching the OS; it picks its port first so its endpoints go along.
    this.refreshLocal(state);
    if (!state || this.opts.forceReauth) state = await this.register(this.opts.port || state?.listenPort || (await pickUdpPort()), serverUrl);
    const device = await this.startDevice(this.opts.port ?? state.listenPort);
    this.state = state;
    if (state.listenPort !== device.listenPort) await this.persist({ ...state, listenPort: device.listenPort });
    this.client ??= this.newClient(state);

    await this.os.up(this.interfaceConfig(state));
    // Routes branch: the engine marks its own packets so policy routing into the mesh
    // (exit node) leaves them on their normal path; stale rules/NAT from a crash go first.
    if (!this.opts.osConfig) {
      try {
        device.setFwmark(ENGINE_FWMARK);
      } catch (err) {
        this.logger.warn({ err: (err as Error).message }, 'cannot mark engine packets (SO_MARK); exit node routing would loop');
      }
    }
    await this.routes.down();
    this.coordinatorBypass = await hostRoutes([state.serverUrl]);
    this.pinger = new Pinger(device, this.clock, false);
    const filter = (this.filter = new PacketFilter({ localAddresses: [state.node.ipv4, state.node.ipv6], rules: [], clock: this.clock }));
    const pinger = this.pinger;
    device.onOutboundPacket = (pkt) => filter.recordOutbound(pkt);
    const routes = this.routes;
    // Consumed = dropped: packets we route are judged by the forwarding rules (v5).
    device.onInboundPacket = (pkt) => pinger.onInbound(pkt) || !(routes.mayForward(pkt) ? filter.allowForward(pkt) : filter.allowInbound(pkt));
    const md = this.opts.magicDns ?? (this.opts.osConfig ? false : { acceptDns: true });
    if (md) this.magicDns = new MagicDns({ stateDir, logger: this.logger, acceptDns: md.acceptDns });
    if (this.opts.localApi ?? true) {
      this.api = new LocalApi(socketPath(stateDir), this, this.logger);
      await this.api.start();
    }
    if (this.opts.metricsListen) {
      this.metrics = new MetricsServer(agentMetrics(this), this.logger);
      this.metricsUrl = await this.metrics.listen(this.opts.metricsListen.host, this.opts.metricsListen.port);
      this.logger.info({ url: this.metricsUrl }, 'metrics listening');
    }
    // A restart while the coordinator is away: the last netmap brings the tunnels back.
    const cached = await loadNetmapCache(stateDir, state.serverUrl, this.publicKey);
    if (cached) {
      this.onServerMessage({ type: 'full', netmap: cached });
      this.fromCache = true;
      this.logger.info({ peers: this.peers.size, seq: cached.seq }, 'peers from the cached netmap until the coordinator answers');
    }
    this.client.startStream({
      onMessage: (m) => this.onServerMessage(m),
      onRefused: (status, code, message) => {
        this.coordinatorError = { code: code ?? `HTTP_${status}`, message: message ?? `the coordinator refused the map stream (HTTP ${status})` };
      },
      onConnectedChange: (c) => {
        if (c) this.coordinatorError = null;
        if (c) this.expiryLogged = false;
        this.logger.info({ connected: c }, c ? 'coordinator connected' : 'coordinator disconnected');
        if (c) this.reportEndpoints(true);
        if (c) this.client?.send({ type: 'routes', routes: this.routes.advertisedRoutes() });
      },
    });
    this.scheduleEndpointPoll();
    this.logger.info({ name: state.node.name, ipv4: state.node.ipv4, ipv6: state.node.ipv6, port: device.listenPort }, 'agent up');
  }

  private async startDevice(port: number | undefined): Promise<Device> {
    const tun = await (this.opts.createTun ?? defaultTun)(this.iface, DEFAULT_MTU);
    let bind = this.opts.createBind ? this.opts.createBind() : await defaultBind();
    if (this.opts.nat ?? !this.opts.createBind) bind = this.startNat(bind, this.opts.createBind ?? (await linuxBindFactory()));
    const device = new Device({ tun, bind, clock: this.clock, logger: this.logger, random: this.random });
    this.device = device;
    device.setPrivateKey(this.key);
    device.onTunClosed = (err) => {
      this.logger.warn({ err: err?.message }, 'interface removed: stopping');
      void this.stop();
    };
    await device.setListenPort(port ?? 0);
    try {
      await device.start();
    } catch (err) {
      if (!port || this.opts.port) throw err;
      // The port we used last time is taken now: any port will do, peers learn the new one.
      this.logger.warn({ port }, 'previous listen port unavailable; using a random one');
      await device.setListenPort(0);
      await device.start();
    }
    return device;
  }

  private startNat(inner: Bind, createExtraBind: () => Bind): Bind {
    const tuning = typeof this.opts.nat === 'object' ? this.opts.nat : {};
    this.nat = new AgentNat({
      ...tuning,
      inner,
      createExtraBind,
      privateKey: this.key!,
      clock: this.clock,
      logger: this.logger,
      localEndpoints: () => {
        if (!this.device) return [];
        this.refreshLocal(this.state);
        return endpointsFor(this.local, this.device.listenPort);
      },
      onEndpointsChanged: () => this.reportEndpoints(false),
    });
    this.nat.start();
    return this.nat.bind;
  }

  private newClient(state: Pick<PersistedState, 'serverUrl' | 'serverPublicKey'>): ControlClient {
    return new ControlClient({
      serverUrl: state.serverUrl,
      serverPublicKey: state.serverPublicKey,
      privateKey: this.key!,
      clock: this.clock,
      logger: this.logger,
      random: this.random,
    });
  }

  /** Registers (or with forceReauth re-authenticates) at `url`: --server, else the saved one. */
  private async register(listenPort: number, url: string): Promise<PersistedState> {
    const serverUrl = normalizeUrl(url);
    const serverPublicKey = await fetchServerKey(serverUrl);
    await pinServerKey(this.opts.stateDir, serverUrl, serverPublicKey, this.opts.resetServerKey);
    this.client = this.newClient({ serverUrl, serverPublicKey });
    const res = await this.client.register({
      hostname: this.opts.hostname,
      authKey: this.opts.authKey,
      endpoints: endpointsFor(this.local, listenPort),
      ...(this.opts.forceReauth ? { reauth: true } : {}),
    });
    const state: PersistedState = { serverUrl, serverPublicKey, node: res.node, domain: res.domain, ipv4Range: res.ipv4Range, ipv6Range: res.ipv6Range, listenPort };
    await this.persist(state);
    this.logger.info({ name: res.node.name, ipv4: res.node.ipv4 }, 'registered');
    return state;
  }

  private async persist(state: PersistedState): Promise<void> {
    this.state = state;
    await saveState(this.opts.stateDir, state);
  }

  private interfaceConfig(s: PersistedState) {
    return { iface: this.device!.tun.name, ipv4: s.node.ipv4, ipv6: s.node.ipv6, routes: [s.ipv4Range, s.ipv6Range] };
  }

  // --- netmap ---------------------------------------------------------------------------

  // Under systemd nobody runs `weft status`: the log says it too, once per (re)connect.
  private logExpiry(self: NodeView): void {
    if (this.expiryLogged) return;
    this.expiryLogged = true;
    const expiry = expiryWarning(self.expiresAt, self.name, this.clock.wallNow());
    if (expiry) this.logger.warn({ expiresAt: self.expiresAt }, expiry);
  }

  private onServerMessage(msg: ServerMessage): void {
    switch (msg.type) {
      case 'full': {
        const nm = msg.netmap;
        this.seq = nm.seq;
        this.fromCache = false;
        this.netmapVersion = nm.version;
        this.relayMap = nm.relays;
        this.scheduleNetmapSave();
        this.serverForwardRules = nm.version >= FORWARD_RULES_VERSION;
        this.nat?.setRelays(nm.relays);
        this.updateRelayBypass(nm.relays ?? []);
        this.apply(diffPeers(this.peers, nm.peers.filter(isUsable), this.publicKey));
        this.setFilter(nm.packetFilter ?? ALLOW_ALL);
        if (nm.dns) this.dnsConfig = nm.dns;
        void this.updateSelf(nm.self, { domain: nm.domain, ipv4Range: nm.ipv4Range, ipv6Range: nm.ipv6Range }).then(() => {
          this.refreshDns();
          this.refreshRoutes();
        });
        this.logger.info({ seq: nm.seq, peers: this.peers.size }, 'netmap received');
        this.logExpiry(nm.self);
        return;
      }
      case 'delta': {
        if (msg.seq <= this.seq) return; // already reflected in a newer full netmap
        this.seq = msg.seq;
        this.scheduleNetmapSave();
        const self = this.publicKey;
        const upserts = msg.upserts.filter((u) => u.publicKey !== self);
        const expired = upserts.filter((u) => !isUsable(u)).map((u) => u.publicKey);
        this.apply({ upserts: upserts.filter(isUsable), removals: [...msg.removals, ...expired].filter((k) => this.peers.has(k)) });
        if (msg.packetFilter) this.setFilter(msg.packetFilter);
        if (msg.dns) this.dnsConfig = msg.dns;
        // v8: a resumed stream starts with a delta (its self) instead of a full netmap.
        if (msg.self) this.logExpiry(msg.self);
        if (msg.self)
          void this.updateSelf(msg.self, {}).then(() => {
            this.refreshDns();
            this.refreshRoutes();
          });
        else {
          this.refreshDns();
          this.refreshRoutes();
        }
        return;
      }
      case 'error':
        this.logger.warn({ code: msg.code, message: msg.message }, 'coordinator reported an error');
        this.coordinatorError = { code: msg.code, message: msg.message };
        return;
      case 'pong':
        return;
    }
  }

  private apply(change: NetmapChange): void {
    if (!this.device || (change.upserts.length === 0 && change.removals.length === 0)) return;
    const previous = new Map(this.peers);
    const device = this.device;
    const fresh = change.upserts.filter((u) => !device.lookupPeer(Buffer.from(u.publicKey, 'base64')));
    applyChange({ device, local: () => this.local.prefixes, now: () => this.clock.now(), routesFor: (v) => this.routes.routesFor(v) }, change, previous);
    if (this.nat) {
      const next = new Map(this.peers);
      for (const k of change.removals) next.delete(k);
      for (const u of change.upserts) next.set(u.publicKey, u);
      this.nat.syncPeers(device, next.values());
    }
    // Handshake with peers new to this engine right away: if we restarted, the peer still
    // holds a session we lost and would otherwise send into it until its 15 s timeout.
    for (const u of fresh) {
      const peer = device.lookupPeer(Buffer.from(u.publicKey, 'base64'));
      if (!peer?.endpoint || !u.online) continue;
      // Two nodes that both just learned of each other would send crossing initiations,
      // and WireGuard answers neither (each one's handshake state is overwritten by the
      // other's): the higher key waits 300 ms and initiates only if no handshake happened meanwhile.
      if (this.publicKey < u.publicKey) device.sendHandshakeInitiation(peer, false);
      else {
        const hs = peer.lastHandshakeWallMs;
        this.clock.setTimeout(() => {
          if (this.device === device && device.lookupPeer(peer.publicKey) === peer && peer.lastHandshakeWallMs === hs && !peer.keypairs.next && peer.timers.handshakeAttempts === 0) device.sendHandshakeInitiation(peer, false);
        }, 300);
      }
    }
    for (const k of change.removals) this.peers.delete(k);
    for (const u of change.upserts) this.peers.set(u.publicKey, u);
    this.logger.debug({ upserts: change.upserts.map((u) => u.name), removals: change.removals.length }, 'netmap applied');
  }

  private async updateSelf(node: NodeView, ranges: Partial<Pick<PersistedState, 'domain' | 'ipv4Range' | 'ipv6Range'>>): Promise<void> {
    const old = this.state;
    if (!old) return;
    const next: PersistedState = { ...old, ...ranges, node };
    this.filter?.setLocalAddresses([node.ipv4, node.ipv6]);
    const addressing = (s: PersistedState) => [s.node.ipv4, s.node.ipv6, s.ipv4Range, s.ipv6Range].join();
    const identity = (s: PersistedState) => [s.node.name, s.node.fqdn, s.node.expiresAt, s.domain].join();
    this.state = next;
    try {
      if (addressing(old) !== addressing(next)) {
        this.logger.info({ ipv4: node.ipv4, ipv6: node.ipv6 }, 'our addresses changed');
        await this.os.up(this.interfaceConfig(next));
      }
      if (addressing(old) !== addressing(next) || identity(old) !== identity(next)) await saveState(this.opts.stateDir, next);
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'applying our own node change failed');
    }
  }

  /** Re-derives routes/forwarding from the netmap (serialized; the OS commands are slow). */
  /**
   * Relay connections are TCP from this process, not the engine's marked UDP: with an
   * exit node they would be routed into the tunnel they carry. Their addresses bypass it
   * like the coordinator's.
   */
  private updateRelayBypass(relays: readonly RelayInfo[]): void {
    const urls = [...new Set(relays.map((r) => r.url))].sort();
    const key = urls.join(' ');
    if (key === this.relayHosts) return;
    this.relayHosts = key;
    void hostRoutes(urls).then((routes) => {
      if (this.relayHosts !== key) return; // a newer relay map won
      this.relayBypass = routes;
      this.refreshRoutes();
    });
  }

  private refreshRoutes(): void {
    this.routesQueue = this.routesQueue
      .then(async () => {
        const self = this.state?.node;
        if (!self || !this.device || this.stopping) return;
        const moved = await this.routes.refresh(self, this.peers);
        for (const k of moved) {
          const v = this.peers.get(k);
          const peer = this.device.lookupPeer(Buffer.from(k, 'base64'));
          if (v && peer) setAllowedIps(this.device, peer, allowedIpsFor(v, this.routes.routesFor(v)));
        }
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

  private setFilter(rules: FilterRule[]): void {
    this.filterRules = rules;
    try {
      this.filter?.setRules(this.serverForwardRules ? rules : [...rules, FORWARD_ALL]);
      this.logger.debug({ rules: rules.length }, 'packet filter updated');
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'packet filter from the coordinator is invalid; keeping the previous one');
    }
  }

  /** Writes netmap.json a moment after a change (bursts of deltas write once). */
  private scheduleNetmapSave(): void {
    if (this.netmapSave || this.stopping) return;
    this.netmapSave = this.clock.setTimeout(() => {
      this.netmapSave = null;
      void this.saveNetmap();
    }, NETMAP_SAVE_DELAY_MS);
  }

  private async saveNetmap(): Promise<void> {
    const s = this.state;
    if (!s || this.fromCache) return;
    const netmap: NetMap = {
      version: this.netmapVersion,
      seq: this.seq,
      domain: s.domain,
      ipv4Range: s.ipv4Range,
      ipv6Range: s.ipv6Range,
      self: s.node,
      peers: [...this.peers.values()],
      packetFilter: this.filterRules,
      ...(this.dnsConfig ? { dns: this.dnsConfig } : {}),
      ...(this.relayMap ? { relays: this.relayMap } : {}),
    };
    await saveNetmapCache(this.opts.stateDir, s.serverUrl, netmap).catch((err: Error) => this.logger.warn({ err: err.message }, 'saving the netmap cache failed'));
  }

  private refreshDns(): void {
    const s = this.state;
    if (!this.magicDns || !s || !this.dnsConfig || !this.device) return;
    this.magicDns.update(this.device.tun.name, { domain: s.domain, ipv4Range: s.ipv4Range, ipv6Range: s.ipv6Range, self: s.node, peers: [...this.peers.values()], dns: this.dnsConfig });
  }

  // --- endpoints ------------------------------------------------------------------------

  private refreshLocal(state: PersistedState | null): void {
    const ranges = state ? [state.ipv4Range, state.ipv6Range] : [];
    this.local = localAddresses(this.opts.interfaces ?? systemInterfaces, this.iface, ranges);
  }

  private currentEndpoints(port: number): string[] {
    if (this.nat) return this.nat.endpoints();
    return endpointsFor(this.local, port);
  }

  private reportEndpoints(force: boolean): void {
    if (!this.device || !this.client) return;
    this.refreshLocal(this.state);
    const eps = this.currentEndpoints(this.device.listenPort);
    const text = eps.join(',');
    if (!force && text === this.reportedEndpoints) return;
    if (this.client.send({ type: 'endpoints', endpoints: eps })) {
      if (text !== this.reportedEndpoints) this.logger.info({ endpoints: eps }, 'endpoints reported');
      this.reportedEndpoints = text;
    }
  }

  private scheduleEndpointPoll(): void {
    this.endpointTimer = this.clock.setTimeout(() => {
      this.reportEndpoints(false);
      this.scheduleEndpointPoll();
    }, this.opts.endpointPollMs ?? DEFAULT_ENDPOINT_POLL_MS);
  }

  // --- local API backend ----------------------------------------------------------------

  status(): StatusJson {
    const s = this.state;
    if (!s || !this.device) throw new AgentError('ERR_STOPPED', 'agent not running');
    const peers = [...this.peers.values()]
      .map((v) => withPath(peerStatus(v, this.device!.lookupPeer(Buffer.from(v.publicKey, 'base64'))), this.nat?.path(v.publicKey)))
      .sort((a, b) => a.name.localeCompare(b.name));
    return {
      self: selfStatus(s.node, this.connected, this.currentEndpoints(this.device.listenPort), this.device.listenPort, this.device.tun.name),
      coordinator: { url: s.serverUrl, connected: this.connected, ...(this.coordinatorError ? { error: this.coordinatorError } : {}), ...(this.fromCache ? { cachedNetmap: true } : {}) },
      peers,
      ...(this.filter ? { filter: { ...this.filter.stats, trackedFlows: this.filter.trackedFlows, rules: this.filterRules.length } } : {}),
      ...(this.nat ? { nat: this.nat.summary() } : {}),
      exitNode: this.routes.status(),
      routes: this.routes.selfRoutes(),
    };
  }

  /** Finds a peer by name, fqdn (trailing dot optional) or mesh address. */
  findPeer(target: string): NodeView | undefined {
    const t = target.toLowerCase().replace(/\.$/, '');
    let ip: string | null = null;
    try {
      ip = ipaddr.parse(t).toString();
    } catch {
      // not an address
    }
    for (const v of this.peers.values()) {
      if (v.name.toLowerCase() === t || v.fqdn.toLowerCase().replace(/\.$/, '') === t) return v;
      if (ip !== null && (v.ipv4 === ip || ipaddr.parse(v.ipv6).toString() === ip)) return v;
    }
    return undefined;
  }

  async ping(target: string, timeoutMs: number): Promise<PingReply> {
    const self = this.state?.node;
    if (!self || !this.pinger || !this.device) throw new AgentError('ERR_STOPPED', 'agent not running');
    const peer = this.findPeer(target);
    if (!peer) throw new AgentError('ERR_PEER_NOT_FOUND', `no peer named ${JSON.stringify(target)}`);
    const v6 = target.includes(':');
    const ip = v6 ? peer.ipv6 : peer.ipv4;
    const ms = await this.pinger.ping(v6 ? self.ipv6 : self.ipv4, ip, timeoutMs);
    const endpoint = this.device.lookupPeer(Buffer.from(peer.publicKey, 'base64'))?.endpoint?.key ?? null;
    const p = this.nat?.path(peer.publicKey);
    if (p) return { name: peer.name, ip, endpoint: p.endpoint, ms: Math.round(ms * 100) / 100, path: p.path, relay: p.relay, pathReason: p.reason };
    return { name: peer.name, ip, endpoint, ms: Math.round(ms * 100) / 100 };
  }

  /** Deregisters from the coordinator and forgets the identity; the agent keeps running until stop(). */
  async logout(): Promise<void> {
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
      if (this.endpointTimer) this.clock.clearTimeout(this.endpointTimer);
      this.endpointTimer = null;
      if (this.netmapSave) {
        this.clock.clearTimeout(this.netmapSave);
        this.netmapSave = null;
        await this.saveNetmap();
      }
      this.pinger?.close();
      await this.client?.stop().catch(() => {});
      await this.magicDns?.stop();
      await this.routesQueue;
      await this.routes.down();
      await this.os.down();
      await this.device?.close().catch(() => {});
      await this.nat?.stop().catch(() => {});
      await this.metrics?.stop();
      this.metricsUrl = null;
      // Last: the socket going away tells `weft down` that everything is undone.
      await this.api?.stop().catch(() => {});
      this.lock?.release();
      if (this.device) this.logger.info({}, 'agent stopped');
      this.resolveStopped();
    })();
    return this.stopping;
  }
}
