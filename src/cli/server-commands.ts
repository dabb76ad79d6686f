import { Command, Option } from 'commander';
import { join } from 'node:path';
import { AdminClient, type AdminTarget } from '../control/admin-client.js';
import type { RouteView } from '../control/wire.js';
import type { ApiKeyView } from '../control/auth-keys.js';
import { parseDuration } from '../control/durations.js';
import { ADMIN_SOCKET_NAME, DEFAULT_DOMAIN, DEFAULT_LISTEN, DEFAULT_STATE_DIR, parseListen, runServer } from '../control/server.js';
import { checkAcmeDomain, LETS_ENCRYPT_DIRECTORY } from '../control/acme.js';
import { DEFAULT_IPV4_RANGE } from '../control/ipam.js';
import type { RateLimit } from '../control/rate-limit.js';
import { DEFAULT_HTTP_LIMITS } from '../listen.js';
import type { AuthKeyView, NodeView } from '../control/wire.js';
import { WeftError } from '../errors.js';
import { registerPolicyCommands } from './policy-commands.js';
import { readRelaySecret, RELAY_SECRET_ENV } from '../relay/admission.js';
import { registerAuditCommands } from './audit-commands.js';

/** `--dns-route corp.example=10.0.0.53,10.0.0.54` (repeatable). */
function parseDnsRoute(v: string, acc: Record<string, string[]>): Record<string, string[]> {
  const m = /^([^=\s]+)=(\S+)$/.exec(v);
  if (!m) throw new WeftError('ERR_INVALID_ARGUMENT', `--dns-route wants DOMAIN=IP[,IP...], got ${JSON.stringify(v)}`);
  return { ...acc, [m[1].toLowerCase().replace(/^\.|\.$/g, '')]: m[2].split(',').filter(Boolean) };
}

function positiveInt(flag: string, v: string, min = 1): number {
  if (!/^\d{1,9}$/.test(v) || Number(v) < min) throw new WeftError('ERR_INVALID_ARGUMENT', `${flag} wants an integer of at least ${min}, got ${JSON.stringify(v)}`);
  return Number(v);
}

/** `--register-rate N`: N per second with a burst of 10 N; 0 turns the limit off (benchmarks). */
function registerRate(v: string): RateLimit | null {
  const n = positiveInt('--register-rate', v, 0);
  return n === 0 ? null : { perSecond: n, burst: 10 * n };
}

// The coordinator's commands (`weft server`, `keys`, `nodes`, `apikeys`). Admin commands
// talk to the coordinator's unix socket in its state dir, or to `--server URL --api-key KEY`.

export function serverCommand(): Command {
  return new Command('server')
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
    .option('--log-level <level>', 'debug, info, warn or error', 'info')
    .option('--register-rate <n>', 'registrations of new node keys per second per source address (burst 10x); 0 = unlimited', '10')
    .option('--max-connections <n>', 'open HTTP connections (map streams and relay clients included)', String(DEFAULT_HTTP_LIMITS.maxConnections))
    .option('--dns-route <domain=ips>', 'split DNS: send DOMAIN to these resolvers (repeatable)', parseDnsRoute, {} as Record<string, string[]>)
    .option('--no-magic-dns', 'do not have agents run MagicDNS')
    .option('--stun-port <port>', 'UDP port of the embedded STUN server (also port+1); 0 disables', '3478')
    .option('--relay-url <url>', 'public ws(s):// URL of the embedded relay (default from --listen)')
    .option('--no-embedded-relay', 'do not serve the embedded relay at /relay')
    .option('--relay <url>', 'a standalone relay (weft relay) to publish too, as URL[,stunHost:port...] (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--relay-secret-file <file>', `secret standalone relays present to ask which keys are nodes (or ${RELAY_SECRET_ENV})`)
    .option('--metrics-listen <host:port>', 'serve Prometheus /metrics on this separate address (default: off)')
    .action(async (o: Record<string, string | undefined> & { dnsRoute?: Record<string, string[]>; magicDns?: boolean; relay?: string[]; embeddedRelay?: boolean }) => {
      if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new WeftError('ERR_INVALID_ARGUMENT', '--tls-cert and --tls-key go together');
      if (o.acmeDomain && o.tlsCert) throw new WeftError('ERR_INVALID_ARGUMENT', '--acme-domain and --tls-cert exclude each other');
      await runServer({
        listen: o.listen,
        stateDir: o.stateDir!,
        db: o.db,
        tls: o.tlsCert && o.tlsKey ? { cert: o.tlsCert, key: o.tlsKey } : undefined,
        acme: o.acmeDomain
          ? { domain: checkAcmeDomain(o.acmeDomain), email: o.acmeEmail, directoryUrl: o.acmeDirectory, http: o.acmeHttpListen ? parseListen(o.acmeHttpListen) : undefined }
          : undefined,
        domain: o.domain,
        ipv4Range: o.ipv4Range,
        nodeExpiryMs: parseDuration(o.nodeKeyExpiry!),
        ephemeralTimeoutMs: parseDuration(o.ephemeralTimeout!),
        logLevel: o.logLevel,
        registerRateLimit: registerRate(o.registerRate!),
        httpLimits: { maxConnections: positiveInt('--max-connections', o.maxConnections!) },
        dnsRoutes: o.dnsRoute,
        magicDns: o.magicDns !== false,
        relaySecret: await readRelaySecret(o.relaySecretFile),
        metricsListen: o.metricsListen,
        nat: {
          relay: o.embeddedRelay !== false,
          publicUrl: o.publicUrl,
          stunPort: Number(o.stunPort ?? 3478),
          relayUrl: o.relayUrl,
          extraRelays: (o.relay ?? []).map((spec) => {
            const [url, ...stun] = spec.split(',');
            return { id: new URL(url).host, url, stun };
          }),
        },
      });
    });
}

interface TargetOptions {
  stateDir: string;
  server?: string;
  apiKey?: string;
}

function withTarget(cmd: Command): Command {
  return cmd
    .option('--state-dir <dir>', 'coordinator state dir (its admin socket is used)', DEFAULT_STATE_DIR)
    .option('--server <url>', 'remote coordinator URL (needs --api-key)')
    .addOption(new Option('--api-key <key>', 'API key for --server').env('WEFT_API_KEY'));
}

function client(o: TargetOptions): AdminClient {
  if (o.server) {
    if (!o.apiKey) throw new WeftError('ERR_INVALID_ARGUMENT', '--server needs --api-key (or WEFT_API_KEY)');
    return new AdminClient({ server: o.server, apiKey: o.apiKey } satisfies AdminTarget);
  }
  return new AdminClient({ socketPath: join(o.stateDir, ADMIN_SOCKET_NAME) });
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n') + '\n';
}

/** `out` receives everything the commands print (stdout unless a test captures it). */
export function registerServerCommands(program: Command, out: (s: string) => void = (s) => void process.stdout.write(s)): void {
  program.addCommand(serverCommand());

  const keys = program.command('keys').description('pre-auth keys for registering nodes');
  withTarget(keys.command('create'))
    .description('create a pre-auth key and print it')
    .option('--reusable', 'may register any number of nodes')
    .option('--ephemeral', 'nodes registered with it are deleted when offline')
    .option('--expiry <duration>', 'key lifetime, 0 = never', '1h')
    .option('--tag <tag>', 'tag for nodes registered with it (repeatable)', (v: string, acc: string[]) => [...acc, v.startsWith('tag:') ? v : `tag:${v}`], [] as string[])
    .option('--user <name>', 'the user its nodes belong to (and who must own its tags)')
    .action(async (o: TargetOptions & { reusable?: boolean; ephemeral?: boolean; expiry: string; tag: string[]; user?: string }) => {
      const k = await client(o).request<AuthKeyView>('POST', '/api/v1/admin/authkeys', {
        reusable: Boolean(o.reusable),
        ephemeral: Boolean(o.ephemeral),
        expirySeconds: Math.ceil(parseDuration(o.expiry) / 1000),
        tags: o.tag,
        ...(o.user ? { user: o.user } : {}),
      });
      out(`${k.key}\n`);
    });
  withTarget(keys.command('list'))
    .description('list pre-auth keys')
    .option('--json', 'machine-readable output')
    .action(async (o: TargetOptions & { json?: boolean }) => {
      const { authKeys } = await client(o).request<{ authKeys: AuthKeyView[] }>('GET', '/api/v1/admin/authkeys');
      if (o.json) return out(JSON.stringify(authKeys, null, 2) + '\n');
      out(table([['ID', 'PREFIX', 'REUSABLE', 'EPHEMERAL', 'USED', 'EXPIRES', 'STATE', 'TAGS'], ...authKeys.map((k) => [k.id, k.prefix, String(k.reusable), String(k.ephemeral), String(k.usedCount), k.expiresAt ?? 'never', k.revoked ? 'revoked' : k.expiresAt && Date.parse(k.expiresAt) <= Date.now() ? 'expired' : 'valid', k.tags.join(',')])]));
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
    .option('--json', 'machine-readable output')
    .action(async (o: TargetOptions & { json?: boolean }) => {
      const { nodes: list } = await client(o).request<{ nodes: NodeView[] }>('GET', '/api/v1/admin/nodes');
      if (o.json) return out(JSON.stringify(list, null, 2) + '\n');
      out(table([['ID', 'NAME', 'IPV4', 'IPV6', 'STATE', 'LAST SEEN', 'EXPIRES', 'USER', 'TAGS'], ...list.map((n) => [String(n.id), n.name, n.ipv4, n.ipv6, n.expired ? 'expired' : n.online ? 'online' : 'offline', n.lastSeen ?? '-', n.expiresAt ?? 'never', n.user ?? '-', [...n.tags, ...(n.ephemeral ? ['ephemeral'] : [])].join(',')])]));
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
      out(`${n.name}: key expired at ${n.expiresAt}\n`);
    });
  withTarget(nodes.command('extend'))
    .description("push a node key's expiry back (from now if it has expired)")
    .argument('<name>')
    .option('--by <duration>', "how far (default: the server's --node-key-expiry)")
    .action(async (name: string, o: TargetOptions & { by?: string }) => {
      const bySeconds = o.by === undefined ? undefined : Math.ceil(parseDuration(o.by) / 1000);
      if (bySeconds === 0) throw new WeftError('ERR_INVALID_ARGUMENT', '--by must be longer than 0');
      const n = await client(o).request<NodeView>('POST', `/api/v1/admin/nodes/${encodeURIComponent(name)}/extend`, bySeconds === undefined ? {} : { bySeconds });
      out(`${n.name}: key expires ${n.expiresAt ?? 'never'}\n`);
    });

  // v4: subnet routes and exit nodes (approval by an admin; see also autoApprovers).
  const routes = program.command('routes').description('advertised subnet routes and exit nodes');
  withTarget(routes.command('list'))
    .description('list advertised and approved routes')
    .option('--json', 'machine-readable output')
    .action(async (o: TargetOptions & { json?: boolean }) => {
      const { routes: list } = await client(o).request<{ routes: RouteView[] }>('GET', '/api/v1/admin/routes');
      if (o.json) return out(JSON.stringify(list, null, 2) + '\n');
      out(table([['NODE', 'IPV4', 'ROUTE', 'APPROVED', 'ADVERTISED', 'EXIT'], ...list.map((r) => [r.node, r.ipv4, r.route, r.approved ? 'yes' : 'no', r.advertised ? 'yes' : 'no', r.exitNode ? 'yes' : '-'])]));
    });
  for (const [name, approve] of [['approve', true], ['unapprove', false]] as const) {
    withTarget(routes.command(name))
      .description(`${approve ? 'approve' : 'withdraw approval of'} a node's route (a CIDR, or "exit" for 0.0.0.0/0 and ::/0)`)
      .argument('<node>')
      .argument('<route>')
      .action(async (node: string, route: string, o: TargetOptions) => {
        const n = await client(o).request<NodeView>('POST', `/api/v1/admin/routes/${name}`, { node, route });
        out(`${n.name}: approved ${(n.approvedRoutes ?? []).join(', ') || '(none)'}\n`);
      });
  }

  registerPolicyCommands(
    program,
    (o) => ({
      get: async () => (await client(o as unknown as TargetOptions).request<{ policy: string }>('GET', '/api/v1/admin/policy')).policy,
      set: async (text) => {
        await client(o as unknown as TargetOptions).request('PUT', '/api/v1/admin/policy', { policy: text });
      },
    }),
    withTarget,
    { out, err: (s) => void process.stderr.write(s) },
  );

  registerAuditCommands(program, { withTarget, client, table, out });

  const apikeys = program.command('apikeys').description('API keys for the remote admin API (managed over the local socket only)');
  const local = (c: Command): Command => c.option('--state-dir <dir>', 'coordinator state dir', DEFAULT_STATE_DIR);
  local(apikeys.command('create'))
    .description('create an API key and print it')
    .option('--expiry <duration>', 'key lifetime, 0 = never', '90d')
    .action(async (o: TargetOptions & { expiry: string }) => {
      const k = await client({ stateDir: o.stateDir }).request<ApiKeyView>('POST', '/api/v1/admin/apikeys', { expirySeconds: Math.ceil(parseDuration(o.expiry) / 1000) });
      out(`${k.key}\n`);
    });
  local(apikeys.command('list'))
    .description('list API keys')
    .action(async (o: TargetOptions) => {
      const { apiKeys } = await client({ stateDir: o.stateDir }).request<{ apiKeys: ApiKeyView[] }>('GET', '/api/v1/admin/apikeys');
      out(table([['ID', 'PREFIX', 'CREATED', 'EXPIRES', 'STATE'], ...apiKeys.map((k) => [k.id, k.prefix, k.createdAt, k.expiresAt ?? 'never', k.revoked ? 'revoked' : 'valid'])]));
    });
  local(apikeys.command('revoke'))
    .description('revoke an API key by id')
    .argument('<id>')
    .action(async (id: string, o: TargetOptions) => {
      const k = await client({ stateDir: o.stateDir }).request<ApiKeyView>('DELETE', `/api/v1/admin/apikeys/${encodeURIComponent(id)}`);
      out(`revoked ${k.prefix} (id ${k.id})\n`);
    });
}
