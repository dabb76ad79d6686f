import { Command, Option } from 'commander';
import { accessSync, constants } from 'node:fs';
import { dirname, join } from 'node:path';
import { AdminClient, type AdminTarget } from '../control/admin-client.js';
import { parseDuration } from '../control/durations.js';
import { ADMIN_SOCKET_NAME, DEFAULT_DOMAIN, DEFAULT_LISTEN, DEFAULT_STATE_DIR, runServer } from '../control/server.js';
import { parseListen } from '../listen.js';
import { checkAcmeDomain, LETS_ENCRYPT_DIRECTORY } from '../control/acme.js';
import { DEFAULT_IPV4_RANGE, parseIpv4Range } from '../control/ipam.js';
import type { RateLimit } from '../control/rate-limit.js';
import { DEFAULT_HTTP_LIMITS } from '../listen.js';
import type { AuthKeyView, NodeView } from '../wire/control.js';
import { InvalidArgumentError } from '../errors.js';
import { json, jsonOption, keyState, localTime, table } from './format.js';
import { daemonLogger, type LogOptions } from './logging.js';
import { parseIntArg, parseServerUrl } from './node-args.js';
import { envOptions, logOptions } from './options.js';
import { registerPolicyCommands } from './policy-commands.js';
import { readRelaySecret, RELAY_SECRET_ENV } from '../relay/admission.js';
import { registerAuditCommands } from './audit-commands.js';
import { registerRouteCommands } from './route-commands.js';
import { registerDnsCommands } from './dns-commands.js';
import { registerIdentityCommands } from './identity-commands.js';
import { oidcFromFlags, oidcServerOptions, type OidcFlags } from './oidc-options.js';

/** `--dns-route corp.example=10.0.0.53,10.0.0.54` (repeatable). */
function parseDnsRoute(v: string, acc: Record<string, string[]>): Record<string, string[]> {
  const m = /^([^=\s]+)=(\S+)$/.exec(v);
  if (!m) throw new InvalidArgumentError(`--dns-route wants DOMAIN=IP[,IP...], got ${JSON.stringify(v)}`);
  return { ...acc, [m[1].toLowerCase().replace(/^\.|\.$/g, '')]: m[2].split(',').filter(Boolean) };
}

/** `--register-rate N`: N per second with a burst of 10 N; 0 turns the limit off (benchmarks). */
function registerRate(v: string): RateLimit | null {
  const n = parseIntArg('--register-rate', v, 0, 1_000_000);
  return n === 0 ? null : { perSecond: n, burst: 10 * n };
}

// The coordinator's commands (`weft server`, `keys`, `nodes`, `apikeys`). Admin commands
// talk to the coordinator's unix socket in its state dir, or to `--server URL --api-key KEY`.

/** `--relay URL[,stunHost:port...]`: a standalone relay to publish in the netmap. */
function parseRelaySpec(spec: string): { id: string; url: string; stun: string[] } {
  const [url, ...stun] = spec.split(',');
  if (!/^wss?:\/\//.test(url) || !URL.canParse(url)) throw new InvalidArgumentError(`--relay wants a ws:// or wss:// URL (then ,HOST:PORT for its STUN), got ${JSON.stringify(spec)}`);
  return { id: new URL(url).host, url, stun };
}

export function serverCommand(): Command {
  const cmd = new Command('server')
    .description('run the coordination server')
    .option('--listen <host:port>', 'address for the HTTP(S) API', DEFAULT_LISTEN)
    .option('--public-url <url>', 'http(s)://HOST[:PORT] devices reach this server at; the relay and STUN addresses in the netmap come from it (default: the --listen address, or on 0.0.0.0/:: what each device dialled)')
    .option('--state-dir <dir>', 'state directory (server key, admin socket, default database)', DEFAULT_STATE_DIR)
    .option('--db <file|url>', 'SQLite file or postgres:// URL (default <state-dir>/weft.db)')
    .option('--tls-cert <file>', 'PEM certificate: serve HTTPS')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option('--acme-domain <name>', 'obtain and renew the HTTPS certificate for NAME from an ACME CA (HTTP-01 on port 80)')
    .option('--acme-email <email>', 'contact address for the ACME account')
    .option('--acme-directory <url>', 'ACME directory URL', LETS_ENCRYPT_DIRECTORY)
    .option('--acme-http-listen <host:port>', 'where to answer HTTP-01 challenges (default: --listen host, port 80)')
    .option('--domain <domain>', 'DNS domain of node names', DEFAULT_DOMAIN)
    .option('--ipv4-range <cidr>', 'IPv4 range nodes get addresses from', DEFAULT_IPV4_RANGE)
    .option('--node-key-expiry <duration>', 'node key lifetime, 0 = never expire', '180d')
    .option('--ephemeral-timeout <duration>', 'delete ephemeral nodes offline this long', '10m')
    .option('--register-rate <n>', 'registrations of new node keys per second per source address (burst 10x); 0 = unlimited', '10')
    .option('--max-connections <n>', 'open HTTP connections (map streams and relay clients included)', String(DEFAULT_HTTP_LIMITS.maxConnections))
    .option('--dns-route <domain=ips>', 'split DNS: send DOMAIN to these resolvers (repeatable)', parseDnsRoute, {} as Record<string, string[]>)
    .option('--no-magic-dns', 'do not have agents run MagicDNS')
    .option('--stun-port <port>', 'UDP port of the embedded STUN server (also port+1); 0 turns it off', '3478')
    .option('--relay-url <url>', 'public ws(s):// URL of the embedded relay (default from --listen)')
    .option('--no-embedded-relay', 'do not serve the embedded relay at /relay')
    .option('--relay <url>', 'a standalone relay (weft relay) to publish too, as URL[,stunHost:port...] (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--relay-secret-file <file>', `secret standalone relays present to ask which keys are nodes (or ${RELAY_SECRET_ENV})`)
    .option('--metrics-listen <host:port>', 'serve Prometheus /metrics on this separate address (default: off)');
  return envOptions(logOptions(oidcServerOptions(cmd))).action(async (o: Record<string, string | undefined> & LogOptions & OidcFlags & { dnsRoute?: Record<string, string[]>; magicDns?: boolean; relay?: string[]; embeddedRelay?: boolean }) => {
    // Everything is checked before the server touches its state dir or a port.
    if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new InvalidArgumentError('--tls-cert and --tls-key go together');
    if (o.acmeDomain && o.tlsCert) throw new InvalidArgumentError('--acme-domain and --tls-cert exclude each other');
    for (const f of [o.tlsCert, o.tlsKey]) if (f) accessSync(f, constants.R_OK);
    if (o.db && !/^postgres(ql)?:\/\//.test(o.db)) accessSync(dirname(o.db)); // SQLite creates the file, not its folder
    parseListen(o.listen!);
    parseIpv4Range(o.ipv4Range!);
    const stunPort = parseIntArg('--stun-port', o.stunPort!, 0, 65534);
    const extraRelays = (o.relay ?? []).map(parseRelaySpec);
    if (o.relayUrl !== undefined && (!/^wss?:\/\//.test(o.relayUrl) || !URL.canParse(o.relayUrl))) throw new InvalidArgumentError(`--relay-url must be a ws:// or wss:// URL, got ${JSON.stringify(o.relayUrl)}`);
    const nodeExpiryMs = parseDuration(o.nodeKeyExpiry!);
    const ephemeralTimeoutMs = parseDuration(o.ephemeralTimeout!);
    const registerRateLimit = registerRate(o.registerRate!);
    const maxConnections = parseIntArg('--max-connections', o.maxConnections!, 1, 1_000_000);
    const acme = o.acmeDomain
      ? { domain: checkAcmeDomain(o.acmeDomain), email: o.acmeEmail, directoryUrl: o.acmeDirectory, http: o.acmeHttpListen ? parseListen(o.acmeHttpListen) : undefined }
      : undefined;
    if (o.metricsListen !== undefined) parseListen(o.metricsListen);
    const relaySecret = await readRelaySecret(o.relaySecretFile);
    const oidc = await oidcFromFlags(o);
    await runServer({
      listen: o.listen,
      stateDir: o.stateDir!,
      db: o.db,
      tls: o.tlsCert && o.tlsKey ? { cert: o.tlsCert, key: o.tlsKey } : undefined,
      acme,
      domain: o.domain,
      ipv4Range: o.ipv4Range,
      nodeExpiryMs,
      ephemeralTimeoutMs,
      logger: daemonLogger(o, 'info'),
      registerRateLimit,
      httpLimits: { maxConnections },
      dnsRoutes: o.dnsRoute,
      magicDns: o.magicDns !== false,
      relaySecret,
      metricsListen: o.metricsListen,
      oidc,
      nat: { relay: o.embeddedRelay !== false, publicUrl: o.publicUrl, stunPort, relayUrl: o.relayUrl, extraRelays },
    });
  });
}

export interface TargetOptions {
  stateDir: string;
  server?: string;
  apiKey?: string;
}

export function withTarget(cmd: Command): Command {
  cmd
    .option('--state-dir <dir>', 'coordinator state dir (its admin socket is used)', DEFAULT_STATE_DIR)
    .option('--server <url>', 'remote coordinator URL (needs --api-key)')
    .addOption(new Option('--api-key <key>', 'API key for --server').env('WEFT_API_KEY'));
  return envOptions(cmd, ['--state-dir', '--server']);
}

export function client(o: TargetOptions): AdminClient {
  if (o.server) {
    const server = parseServerUrl(o.server);
    if (!o.apiKey) throw new InvalidArgumentError('--server needs --api-key (or WEFT_API_KEY)');
    return new AdminClient({ server, apiKey: o.apiKey } satisfies AdminTarget);
  }
  return new AdminClient({ socketPath: join(o.stateDir, ADMIN_SOCKET_NAME) });
}


/** `out` receives everything the commands print (stdout unless a test captures it). */
export function registerServerCommands(program: Command, out: (s: string) => void = (s) => void process.stdout.write(s), err: (s: string) => void = (s) => void process.stderr.write(s)): void {
  program.addCommand(serverCommand());

  const keys = program.command('keys').description('pre-auth keys for registering nodes');
  withTarget(keys.command('create'))
    .description('create a pre-auth key and print it')
    .option('--reusable', 'may register any number of nodes')
    .option('--ephemeral', 'nodes registered with it are deleted when offline')
    .option('--expiry <duration>', 'key lifetime, 0 = never', '1h')
    .option('--tag <tag>', 'tag for nodes registered with it (repeatable)', (v: string, acc: string[]) => [...acc, v.startsWith('tag:') ? v : `tag:${v}`], [] as string[])
    .option('--user <name>', 'the user its nodes belong to (and who must own its tags)')
    .option(...jsonOption)
    .action(async (o: TargetOptions & { reusable?: boolean; ephemeral?: boolean; expiry: string; tag: string[]; user?: string; json?: boolean }) => {
      const expirySeconds = Math.ceil(parseDuration(o.expiry) / 1000);
      const k = await client(o).request<AuthKeyView>('POST', '/api/v1/admin/authkeys', {
        reusable: Boolean(o.reusable),
        ephemeral: Boolean(o.ephemeral),
        expirySeconds,
        tags: o.tag,
        ...(o.user ? { user: o.user } : {}),
      });
      out(o.json ? json(k) : `${k.key}\n`);
    });
  withTarget(keys.command('list'))
    .description('list pre-auth keys')
    .option(...jsonOption)
    .action(async (o: TargetOptions & { json?: boolean }) => {
      const { authKeys } = await client(o).request<{ authKeys: AuthKeyView[] }>('GET', '/api/v1/admin/authkeys');
      if (o.json) return out(json(authKeys));
      out(table([['ID', 'PREFIX', 'USER', 'REUSABLE', 'EPHEMERAL', 'USED', 'CREATED', 'EXPIRES', 'STATE', 'TAGS'], ...authKeys.map((k) => [k.id, k.prefix, k.user ?? '-', String(k.reusable), String(k.ephemeral), String(k.usedCount), localTime(k.createdAt), localTime(k.expiresAt, 'never'), keyState(k), k.tags.join(',') || '-'])]));
    });
  withTarget(keys.command('revoke'))
    .description('revoke a pre-auth key (by id, prefix or the key itself)')
    .argument('<key>')
    .action(async (key: string, o: TargetOptions) => {
      const k = await client(o).request<AuthKeyView>('DELETE', `/api/v1/admin/authkeys/${encodeURIComponent(key)}`);
      out(`revoked ${k.prefix} (id ${k.id})\n`);
    });

  const nodes = program.command('nodes').description('registered nodes');
  withTarget(nodes.command('list'))
    .description('list nodes')
    .option(...jsonOption)
    .action(async (o: TargetOptions & { json?: boolean }) => {
      const { nodes: list } = await client(o).request<{ nodes: NodeView[] }>('GET', '/api/v1/admin/nodes');
      if (o.json) return out(json(list));
      out(table([['ID', 'NAME', 'IPV4', 'IPV6', 'STATE', 'LAST SEEN', 'EXPIRES', 'USER', 'TAGS'], ...list.map((n) => [String(n.id), n.name, n.ipv4, n.ipv6, n.expired ? 'expired' : n.online ? 'online' : 'offline', localTime(n.lastSeen), localTime(n.expiresAt, 'never'), n.user ?? '-', [...n.tags, ...(n.ephemeral ? ['ephemeral'] : [])].join(',') || '-'])]));
    });
  withTarget(nodes.command('rm'))
    .description('deregister a node (by name or address); its address is freed')
    .argument('<name>')
    .action(async (name: string, o: TargetOptions) => {
      const r = await client(o).request<{ node: NodeView }>('DELETE', `/api/v1/admin/nodes/${encodeURIComponent(name)}`);
      out(`removed ${r.node.name} (${r.node.ipv4})\n`);
    });

  withTarget(nodes.command('expire'))
    .description('expire a node key now: the node is cut off until extended or re-authenticated (weft up --force-reauth)')
    .argument('<name>')
    .action(async (name: string, o: TargetOptions) => {
      const n = await client(o).request<NodeView>('POST', `/api/v1/admin/nodes/${encodeURIComponent(name)}/expire`, {});
      out(`${n.name}: key expired at ${localTime(n.expiresAt)}\n`);
    });
  withTarget(nodes.command('extend'))
    .description("push a node key's expiry back (from now if it has expired)")
    .argument('<name>')
    .option('--by <duration>', "how far (default: the server's --node-key-expiry)")
    .action(async (name: string, o: TargetOptions & { by?: string }) => {
      const bySeconds = o.by === undefined ? undefined : Math.ceil(parseDuration(o.by) / 1000);
      if (bySeconds === 0) throw new InvalidArgumentError('--by must be longer than 0');
      const n = await client(o).request<NodeView>('POST', `/api/v1/admin/nodes/${encodeURIComponent(name)}/extend`, bySeconds === undefined ? {} : { bySeconds });
      out(`${n.name}: key expires ${localTime(n.expiresAt, 'never')}\n`);
    });

  registerRouteCommands(program, withTarget, client, out, err);
  registerDnsCommands(program, withTarget, client, out);

  registerPolicyCommands(
    program,
    (o) => ({
      get: async () => (await client(o as unknown as TargetOptions).request<{ policy: string }>('GET', '/api/v1/admin/policy')).policy,
      set: async (text) => {
        await client(o as unknown as TargetOptions).request('PUT', '/api/v1/admin/policy', { policy: text });
      },
    }),
    withTarget,
    { out, err },
  );

  registerAuditCommands(program, { withTarget, client, table, out });

  registerIdentityCommands(program, { withTarget, client, out, err });
}
