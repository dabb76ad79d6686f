import { mkdirSync } from 'node:fs';
import { chmod, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { pino, type Logger as PinoLogger } from 'pino';
import { WebSocketServer } from 'ws';
import { systemClock, type Clock } from '../clock.js';
import { keyToBase64, publicKeyFromPrivate } from '../crypto/keys.js';
import { InvalidArgumentError } from '../errors.js';
import { adminRoutes, createHttp, handleMapUpgrade, MAP_PATH, nodeRoutes, type ApiContext } from './api.js';
import { DEFAULT_IPV4_RANGE } from './ipam.js';
import { NodeVerifier } from './node-verifier.js';
import { DEFAULT_NODE_EXPIRY_MS, MAGIC_DNS_IPV4, MAGIC_DNS_IPV6, Registry } from './registry.js';
import { PolicyEngine, toPolicyNode } from './policy-engine.js';
import { autoApproved } from '../policy/index.js';
import type { DnsConfig } from './wire.js';
import { loadOrCreateServerKey } from './server-key.js';
import { openStore, type Store } from './store/index.js';
import { MAX_CLIENT_MESSAGE_BYTES, StreamHub } from './stream.js';
import { embedRelay, parsePublicUrl, type EmbeddedRelay, type RelayEmbedOptions } from './relay-embed.js';
import { relayCheckRoutes } from './relay-check.js';

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
  /** Embedded relay + STUN and the relay map (NAT traversal); see relay-embed.ts. */
  nat?: RelayEmbedOptions;
  /** Shared with standalone relays (`weft relay --coordinator`): enables POST /api/v1/relay/check. */
  relaySecret?: string;
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
}

export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new InvalidArgumentError(`invalid listen address ${JSON.stringify(listen)} (want HOST:PORT)`);
  return { host: m[1] ?? m[2], port };
}

export function createCoordinator(opts: CoordinatorOptions): Coordinator {
  const clock = opts.clock ?? systemClock;
  const log = opts.logger ?? pino({ level: 'silent' });
  const { host, port } = parseListen(opts.listen ?? DEFAULT_LISTEN);
  if (opts.nat?.publicUrl) parsePublicUrl(opts.nat.publicUrl);
  // Before the store: the default SQLite file lives in the state dir.
  mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
  const store = openStore(opts.db ?? join(opts.stateDir, 'weft.db'), log);
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
  const dns: DnsConfig = { magicDns: opts.magicDns ?? true, resolverIPv4: MAGIC_DNS_IPV4, resolverIPv6: MAGIC_DNS_IPV6, routes: opts.dnsRoutes ?? {} };
  const hub = new StreamHub(registry, log, policy, dns);
  let relay: EmbeddedRelay | null = null;
  // The embedded relay hears of deletions and expiries too: their connections close.
  registry.listener = {
    upsert: (n) => {
      hub.upsert(n);
      relay?.nodeChanged(n.publicKey, registry.isActiveKey(n.publicKey));
    },
    remove: (n) => {
      hub.remove(n);
      relay?.nodeChanged(n.publicKey, false);
    },
  };
  registry.autoApprove = (n, routes) => autoApproved(policy.policy, toPolicyNode(n), routes);
  registry.onRemotePolicy = async () => {
    await policy.load();
    hub.policyChanged();
  };
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_MESSAGE_BYTES });
  const socketPath = opts.adminSocket === false ? null : join(opts.stateDir, ADMIN_SOCKET_NAME);
  let url = '';
  let publicKey = '';
  let apps: { close(): Promise<unknown> }[] = [];
  let started = false;

  return {
    get url() {
      return url;
    },
    get publicKey() {
      return publicKey;
    },
    adminSocketPath: socketPath,
    registry,
    store,
    policy,

    async start() {
      await chmod(opts.stateDir, 0o700);
      const serverKey = await loadOrCreateServerKey(opts.stateDir);
      publicKey = keyToBase64(publicKeyFromPrivate(serverKey));
      await store.init();
      await registry.start();
      await policy.load();
      started = true;
      const ctx: ApiContext = { store, registry, hub, policy, verifier: new NodeVerifier(serverKey, clock), clock, serverPublicKey: publicKey, wss, relaysFor: () => [] };

      const https = opts.tls ? { cert: await readFile(opts.tls.cert), key: await readFile(opts.tls.key) } : undefined;
      const api = createHttp(log, https ? { https } : {});
      nodeRoutes(api, ctx);
      adminRoutes(api, ctx, { local: false });
      if (opts.relaySecret) relayCheckRoutes(api, registry, opts.relaySecret);
      api.server.on('upgrade', (req, socket, head) => {
        if (opts.nat?.relay !== false && new URL(req.url ?? '/', 'http://x').pathname === '/relay') return; // the embedded relay's
        handleMapUpgrade(ctx, req, socket, head);
      });
      await api.listen({ host, port });
      apps.push(api);
      const addr = api.server.address() as AddressInfo;
      url = `${https ? 'https' : 'http'}://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
      relay = await embedRelay(api.server, url, host, opts.nat ?? {}, (k) => registry.isActiveKey(k), log);
      const embedded = relay;
      ctx.relaysFor = (req) => embedded.relaysFor({ host: req.headers.host, localAddress: req.socket.localAddress });

      if (socketPath) {
        // A stale socket from a killed process would make listen fail with EADDRINUSE.
        await rm(socketPath, { force: true });
        const admin = createHttp(log);
        adminRoutes(admin, ctx, { local: true });
        await admin.listen({ path: socketPath });
        await chmod(socketPath, 0o600);
        apps.push(admin);
      }
      log.info({ url, adminSocket: socketPath, nodes: registry.size, map: MAP_PATH }, 'coordinator listening');
    },

    async stop() {
      await relay?.stop();
      relay = null;
      hub.stop();
      for (const c of wss.clients) c.terminate();
      await Promise.all(apps.map((a) => a.close()));
      apps = [];
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      if (started) await registry.stop();
      await store.close();
      if (socketPath) await rm(socketPath, { force: true });
    },
  };
}

/** Runs a coordinator until SIGINT/SIGTERM, logging JSON to stdout (`weft server`). */
export async function runServer(opts: CoordinatorOptions & { logLevel?: string }): Promise<void> {
  const logger = pino({ level: opts.logLevel ?? 'info', redact: ['req.headers.authorization'] });
  const coordinator = createCoordinator({ ...opts, logger });
  await coordinator.start();
  // Printed on stdout for scripts and tests that start the server on port 0.
  process.stdout.write(JSON.stringify({ msg: 'listening', url: coordinator.url, adminSocket: coordinator.adminSocketPath }) + '\n');
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
