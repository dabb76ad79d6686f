import { mkdirSync } from 'node:fs';
import { chmod, readFile, rm } from 'node:fs/promises';
import type { Server as HttpServer } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import { pino, type Logger as PinoLogger } from 'pino';
import { WebSocketServer } from 'ws';
import { systemClock, type Clock } from '../clock.js';
import { keyToBase64, publicKeyFromPrivate } from '../crypto/keys.js';
import { applyHttpLimits, listenPrivateSocket, parseListen, type HttpLimits } from '../listen.js';
import { lockStateDir, type LockHandle } from '../file-lock.js';
import { createHttp, handleMapUpgrade, MAP_PATH, nodeRoutes, type ApiContext } from './api.js';
import { adminRoutes } from './admin-api.js';
import { DEFAULT_IPV4_RANGE } from './ipam.js';
import { NodeVerifier } from './node-verifier.js';
import { ADMIN_FAILURE_GLOBAL_LIMIT, ADMIN_FAILURE_LIMIT, DEFAULT_REGISTER_GLOBAL_LIMIT, DEFAULT_REGISTER_LIMIT, SourceRateLimiter, type RateLimit } from './rate-limit.js';
import { DEFAULT_NODE_EXPIRY_MS, MAGIC_DNS_IPV4, MAGIC_DNS_IPV6, Registry } from './registry.js';
import { PolicyEngine, toPolicyNode } from './policy-engine.js';
import { autoApproved } from '../policy/index.js';
import { MeshDns } from './dns-records.js';
import { loadOrCreateServerKey } from './server-key.js';
import { openStore, type NodeRecord, type Store } from './store/index.js';
import { MAX_CLIENT_MESSAGE_BYTES, StreamHub } from './stream.js';
import { AcmeManager, type AcmeOptions } from './acme.js';
import { RELAY_DEFAULT_PATH } from '../wire/relay.js';
import { serveRelayPage } from '../relay/page.js';
import { embedRelay, parsePublicUrl, type EmbeddedRelay, type RelayEmbedOptions } from './relay-embed.js';
import { relayCheckRoutes } from './relay-check.js';
import { CoordinatorMetrics, instrumentStore } from './metrics.js';
import { MetricsServer } from '../metrics/server.js';
import { Sealer } from './identity/sealer.js';
import { OIDC_CALLBACK_PATH, OidcRelyingParty, type OidcOptions } from './identity/oidc.js';
import { NodeLogins } from './identity/node-login.js';
import { oidcRoutes, type LoginPurpose } from './identity/oidc-routes.js';
import { CONSOLE_OIDC_PATH, oidcSessionMethod, type ConsoleAdmins } from './identity/console-oidc.js';
import { oidcClientSecret, recordLogin } from './identity/login-result.js';
import { ConsoleAuth, DEFAULT_SESSION_TTL_MS } from './console/session.js';
import { ConsoleEvents } from './console/events.js';
import { consoleRoutes } from './console/routes.js';
import { apiKeyProof } from './auth-keys.js';
import { adminPasswordProof } from './identity/console-proof.js';
import { AdminPasswords } from './identity/passwords.js';
import { relayStatus } from './relay-status.js';
import { NodeReports } from './node-reports.js';

export const DEFAULT_LISTEN = '127.0.0.1:8080';
export const DEFAULT_STATE_DIR = '/var/lib/weft-server';
export const DEFAULT_DOMAIN = 'weft.internal';
export const DEFAULT_EPHEMERAL_TIMEOUT_MS = 10 * 60_000;
export const ADMIN_SOCKET_NAME = 'admin.sock';

export interface CoordinatorOptions {
  /** Holds server.key, admin.sock and (by default) weft.db; created with mode 0700. */
  stateDir: string;
  /** SQLite file path or `postgres://` URL; default `<stateDir>/weft.db`. */
  db?: string;
  /** `host:port`; port 0 picks a free one. Default 127.0.0.1:8080. */
  listen?: string;
  /** PEM file paths; when given the API is HTTPS/WSS. */
  tls?: { cert: string; key: string };
  /** Obtain and renew the HTTPS certificate from an ACME CA instead (acme.ts). */
  acme?: AcmeOptions;
  domain?: string;
  ipv4Range?: string;
  /** Node key lifetime; 0 = never expires. Default 180 days. */
  nodeExpiryMs?: number;
  /** How long an ephemeral node may stay offline before it is deleted. Default 10 min. */
  ephemeralTimeoutMs?: number;
  sweepIntervalMs?: number;
  heartbeatMs?: number;
  /** Set false to not serve the local admin socket. */
  adminSocket?: boolean;
  /** Split DNS: domain suffix -> resolvers, sent to every node (netmap `dns`). */
  dnsRoutes?: Record<string, string[]>;
  /** Set false to tell agents not to run MagicDNS. Default true. */
  magicDns?: boolean;
  /** Timeouts and connection cap of the API and admin socket (src/listen.ts). */
  httpLimits?: Partial<HttpLimits>;
  /** Registrations of new node keys per source address; null = unlimited (benchmarks). */
  registerRateLimit?: RateLimit | null;
  /** Spacing of a node's endpoint and route writes (latest wins); default 1 s. */
  updateIntervalMs?: number;
  /** Policy edits within this window fan out once (default POLICY_FANOUT_WINDOW_MS; 0 = at each edit). */
  policyFanoutWindowMs?: number;
  /** Embedded relay + STUN and the relay map (NAT traversal); see relay-embed.ts. */
  nat?: RelayEmbedOptions;
  /** Shared with standalone relays (`weft relay --coordinator`): enables POST /api/v1/relay/check. */
  relaySecret?: string;
  /**
   * Sign-in with an OpenID Connect provider (`weft up` without a key). Without
   * `clientSecret` the one sealed in the database by an earlier start is used.
   */
  oidc?: Omit<OidcOptions, 'clientSecret'> & { clientSecret?: string; consoleAdmins?: ConsoleAdmins };
  /** `host:port` of a separate listener serving GET /metrics; absent = none (the admin API still serves it). */
  metricsListen?: string;
  /** Web console session lifetime; default 8 h. */
  consoleSessionTtlMs?: number;
  clock?: Clock;
  logger?: PinoLogger;
}

export interface Coordinator {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** `http(s)://host:port` once started. */
  readonly url: string;
  readonly adminSocketPath: string | null;
  /** Server public key (base64), as GET /api/v1/key publishes it. */
  readonly publicKey: string;
  readonly registry: Registry;
  readonly store: Store;
  readonly policy: PolicyEngine;
  readonly hub: StreamHub;
  readonly events: ConsoleEvents;
  /** Set once started. */
  readonly verifier: NodeVerifier | null;
  /** `http://host:port` of the --metrics-listen listener once started, else null. */
  readonly metricsUrl: string | null;
}

export function createCoordinator(opts: CoordinatorOptions): Coordinator {
  const clock = opts.clock ?? systemClock;
  const log = opts.logger ?? pino({ level: 'silent' });
  const { host, port } = parseListen(opts.listen ?? DEFAULT_LISTEN);
  const metricsAt = opts.metricsListen === undefined ? null : parseListen(opts.metricsListen);
  const metrics = new CoordinatorMetrics();
  if (opts.nat?.publicUrl) parsePublicUrl(opts.nat.publicUrl);
  // Before the store: the default SQLite file lives in the state dir.
  mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
  const store = instrumentStore(openStore(opts.db ?? join(opts.stateDir, 'weft.db'), log), metrics.dbQuery);
  const registry = new Registry({
    store,
    clock,
    log,
    domain: opts.domain ?? DEFAULT_DOMAIN,
    ipv4Range: opts.ipv4Range ?? DEFAULT_IPV4_RANGE,
    nodeExpiryMs: opts.nodeExpiryMs ?? DEFAULT_NODE_EXPIRY_MS,
    ephemeralTimeoutMs: opts.ephemeralTimeoutMs ?? DEFAULT_EPHEMERAL_TIMEOUT_MS,
    sweepIntervalMs: opts.sweepIntervalMs ?? 5_000,
    heartbeatMs: opts.heartbeatMs ?? 30_000,
  });
  const policy = new PolicyEngine(store, () => registry.nodes(), log);
  policy.compileTimer = metrics.compileTimer;
  const dns = new MeshDns(store, registry.domain, () => registry.nodes(), { magicDns: opts.magicDns ?? true, resolverIPv4: MAGIC_DNS_IPV4, resolverIPv6: MAGIC_DNS_IPV6, routes: opts.dnsRoutes ?? {} });
  const hub = new StreamHub(registry, log, policy, () => dns.config, clock, opts.updateIntervalMs, opts.policyFanoutWindowMs);
  hub.fanoutTimer = metrics.fanoutTimer;
  let relay: EmbeddedRelay | null = null;
  const events = new ConsoleEvents();
  const reports = new NodeReports();
  const adminView = (n: NodeRecord) => reports.view(registry.view(n), (k) => registry.byPublicKey(k)?.name);
  // The embedded relay hears of deletions and expiries too: their connections close.
  registry.listener = {
    upsert: (n) => {
      hub.upsert(n);
      relay?.nodeChanged(n.publicKey, registry.isActiveKey(n.publicKey));
      if (events.viewerCount) events.node(adminView(n));
    },
    remove: (n) => {
      hub.remove(n);
      relay?.nodeChanged(n.publicKey, false);
      reports.delete(n.id);
      events.removed(n.id);
    },
  };
  hub.onStatus = (id, report) => {
    const n = registry.get(id);
    if (n && reports.set(id, report) && events.viewerCount) events.node(adminView(n));
  };
  const consoleAuth = new ConsoleAuth(store, clock, opts.consoleSessionTtlMs ?? DEFAULT_SESSION_TTL_MS);
  consoleAuth.addProof(apiKeyProof(store));
  consoleAuth.addProof(adminPasswordProof(new AdminPasswords(store.identity, clock), store.identity));
  policy.checkExtra = (p) => dns.checkPolicy(p);
  registry.autoApprove = (n, routes) => autoApproved(policy.policy, toPolicyNode(n), routes);
  registry.onRemotePolicy = async () => {
    await policy.load();
    hub.policyChanged();
    if (await dns.load(policy.policy)) hub.dnsChanged();
  };
  registry.onRemoteDns = async () => {
    if (await dns.load(policy.policy)) hub.dnsChanged();
  };
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_MESSAGE_BYTES });
  const socketPath = opts.adminSocket === false ? null : join(opts.stateDir, ADMIN_SOCKET_NAME);
  let url = '';
  let publicKey = '';
  let apps: { close(): Promise<unknown> }[] = [];
  metrics.watch(registry, hub, () => relay?.server ?? null);
  const metricsServer = new MetricsServer(metrics.registry, log);
  let metricsUrl: string | null = null;
  let acme: AcmeManager | null = null;
  let verifier: NodeVerifier | null = null;
  let started = false;
  const registerLimiter = opts.registerRateLimit === null ? null : new SourceRateLimiter(clock, opts.registerRateLimit ?? DEFAULT_REGISTER_LIMIT, DEFAULT_REGISTER_GLOBAL_LIMIT);
  let lock: LockHandle | null = null;

  return {
    get url() {
      return url;
    },
    get publicKey() {
      return publicKey;
    },
    get metricsUrl() {
      return metricsUrl;
    },
    adminSocketPath: socketPath,
    registry,
    store,
    policy,
    hub,
    events,
    get verifier() {
      return verifier;
    },

    async start() {
      // Released by stop(), or by the process exiting when start fails.
      lock = lockStateDir(opts.stateDir, 'weft server');
      await chmod(opts.stateDir, 0o700);
      const serverKey = await loadOrCreateServerKey(opts.stateDir);
      publicKey = keyToBase64(publicKeyFromPrivate(serverKey));
      await store.init();
      await registry.start();
      await policy.load();
      await dns.load(policy.policy);
      started = true;
      verifier = new NodeVerifier({ serverPrivate: serverKey, clock, isKnown: (k) => registry.byPublicKey(k) !== undefined, registerLimiter });
      const sealer = await Sealer.open(opts.stateDir);
      const oidcSecret = opts.oidc ? await oidcClientSecret(store, sealer, opts.oidc.clientSecret, clock.wallNow()) : null;
      const baseUrl = (): string => opts.nat?.publicUrl?.replace(/\/$/, '') ?? url;
      const nodeLogins = opts.oidc ? new NodeLogins(store.logins, clock, baseUrl) : undefined;
      const ctx: ApiContext = { store, registry, hub, policy, dns, verifier, clock, serverPublicKey: publicKey, wss, relaysFor: () => [], relayStatus: () => [], events, adminView, metrics: metrics.registry, sealer, nodeLogins };

      if (opts.acme) acme = new AcmeManager({ ...opts.acme, http: opts.acme.http ?? { host, port: 80 } }, opts.stateDir, clock, log);
      const limits = { ...opts.httpLimits };
      const pair = opts.tls ? { cert: await readFile(opts.tls.cert), key: await readFile(opts.tls.key) } : await acme?.start();
      const https = pair ? { ...pair, handshakeTimeout: limits.headersTimeoutMs ?? 10_000 } : undefined;
      const api = createHttp(log, https ? { https } : {});
      applyHttpLimits(api.server, limits);
      if (acme) acme.onRenew = (p) => (api.server as unknown as TlsServer).setSecureContext(p);
      nodeRoutes(api, ctx);
      adminRoutes(api, ctx, { local: false, failures: new SourceRateLimiter(clock, ADMIN_FAILURE_LIMIT, ADMIN_FAILURE_GLOBAL_LIMIT), console: consoleAuth });
      let rp: OidcRelyingParty<LoginPurpose> | null = null;
      const admins = opts.oidc?.consoleAdmins;
      const oidcConsole = admins && (admins.users.length > 0 || admins.groups.length > 0);
      if (oidcConsole) consoleAuth.addMethod(oidcSessionMethod(store.identity, () => rp?.issuer ?? null, admins));
      const providers = () => (oidcConsole && rp ? [{ name: new URL(rp.issuer).host, url: CONSOLE_OIDC_PATH }] : []);
      consoleRoutes(api, { auth: consoleAuth, clock, secure: https !== undefined, providers });
      if (opts.relaySecret) relayCheckRoutes(api, registry, opts.relaySecret);
      // The embedded relay's URL answers a browser with an ordinary page, as `weft relay` does.
      if (opts.nat?.relay !== false) api.get(RELAY_DEFAULT_PATH, (req, reply) => serveRelayPage(req.method, reply.hijack().raw));
      const redirectUri = (): string => `${baseUrl()}${OIDC_CALLBACK_PATH}`;
      if (nodeLogins) {
        const consoleSignIn = oidcConsole ? { auth: consoleAuth, admins, secure: https !== undefined } : undefined;
        oidcRoutes(api, { clock, rp: () => rp, redirectUri, onLogin: (c) => recordLogin(ctx, c), nodeLogins, console: consoleSignIn });
      }
      api.server.on('upgrade', (req, socket, head) => {
        if (opts.nat?.relay !== false && new URL(req.url ?? '/', 'http://x').pathname === RELAY_DEFAULT_PATH) return; // the embedded relay's
        handleMapUpgrade(ctx, req, socket, head);
      });
      await api.listen({ host, port });
      apps.push(api);
      const addr = api.server.address() as AddressInfo;
      // With ACME the certificate names the domain, so that is what nodes and relay clients must dial.
      const urlHost = acme ? acme.domain : addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      url = `${https ? 'https' : 'http'}://${urlHost}:${addr.port}`;
      // With ACME and no --public-url, the domain is where devices find the relay and STUN too.
      const nat = acme && !opts.nat?.publicUrl ? { ...opts.nat, publicUrl: url } : (opts.nat ?? {});
      relay = await embedRelay(api.server, url, host, nat, (k) => registry.isActiveKey(k), log);
      const embedded = relay;
      if (opts.oidc) rp = await OidcRelyingParty.discover<LoginPurpose>({ ...opts.oidc, clientSecret: oidcSecret! }, redirectUri(), { clock, logins: store.logins, sealer });
      ctx.relaysFor = (req) => embedded.relaysFor({ host: req.headers.host, localAddress: req.socket.localAddress });
      ctx.relayStatus = (req) => relayStatus(ctx.relaysFor(req), embedded, registry);

      if (socketPath) {
        // A stale socket from a killed process would make listen fail with EADDRINUSE.
        await rm(socketPath, { force: true });
        const admin = createHttp(log);
        adminRoutes(admin, ctx, { local: true });
        applyHttpLimits(admin.server, limits);
        await admin.ready();
        await listenPrivateSocket(admin.server as HttpServer, socketPath);
        apps.push(admin);
      }
      if (metricsAt) metricsUrl = await metricsServer.listen(metricsAt.host, metricsAt.port);
      log.info({ url, adminSocket: socketPath, nodes: registry.size, map: MAP_PATH, metrics: metricsUrl }, 'coordinator listening');
    },

    async stop() {
      await metricsServer.stop();
      metricsUrl = null;
      await acme?.stop();
      await relay?.stop();
      relay = null;
      hub.stop();
      events.stop();
      for (const c of wss.clients) c.terminate();
      await Promise.all(apps.map((a) => a.close()));
      apps = [];
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      if (started) await registry.stop();
      await store.close();
      if (socketPath) await rm(socketPath, { force: true });
      lock?.release();
      lock = null;
    },
  };
}

/** Runs a coordinator until SIGINT/SIGTERM (`weft server`, which passes its daemon logger). */
export async function runServer(opts: CoordinatorOptions): Promise<void> {
  const logger = opts.logger ?? pino({ level: 'info', redact: ['req.headers.authorization'] });
  const coordinator = createCoordinator({ ...opts, logger });
  await coordinator.start();
  // Printed on stdout for scripts and tests that start the server on port 0.
  process.stdout.write(JSON.stringify({ msg: 'listening', url: coordinator.url, adminSocket: coordinator.adminSocketPath, metrics: coordinator.metricsUrl }) + '\n');
  await new Promise<void>((resolve) => {
    const onSignal = (sig: string): void => {
      logger.info({ sig }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  await coordinator.stop();
}
