import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError as CommanderArgError, type Command } from 'commander';
import { Endpoint } from '../io/endpoint.js';
import { InvalidArgumentError, WeftError } from '../errors.js';
import { daemonLogger, type LogOptions } from './logging.js';
import { envOptions, logOptions } from './options.js';
import { RelayServer } from '../relay/server.js';
import { CoordinatorAdmission, readRelaySecret, RELAY_SECRET_ENV } from '../relay/admission.js';
import { registerRelayMetrics } from '../relay/metrics.js';
import { Registry } from '../metrics/index.js';
import { MetricsServer } from '../metrics/server.js';
import { RELAY_DEFAULT_PATH } from '../wire/relay.js';
import { StunServer } from '../nat/stun-server.js';
import { UdpStunClient } from '../nat/stun-client.js';
import { STUN_DEFAULT_PORT } from '../nat/stun.js';
import { netcheck, type NetcheckRelay, type NetcheckReport } from '../nat/netcheck.js';
import { netcheckRelays } from '../agent/nat.js';
import { validRelays } from '../wire/decode.js';
import { DEFAULT_STATE_DIR, socketPath } from '../agent/state.js';
import type { StatusJson } from '../agent/status.js';
import { callAgent } from '../agent/local-client.js';

// `weft relay` and `weft netcheck`. main.ts calls registerRelayCommands(program).

export const RELAY_DEFAULT_LISTEN = '0.0.0.0:3340';

/** HOST:PORT or [V6]:PORT, where HOST may be a name. */
export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:\[\]]+):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new CommanderArgError(`expected HOST:PORT or [V6]:PORT, got ${JSON.stringify(s)}`);
  return { host: m[1], port };
}

function parsePort(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CommanderArgError(`invalid port ${JSON.stringify(s)}`);
  return n;
}

function parsePositive(s: string): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw new CommanderArgError(`expected a positive number, got ${JSON.stringify(s)}`);
  return n;
}

const collect = (v: string, acc: string[]): string[] => [...acc, v];

/** Every address of `host` (an IP literal resolves to itself), at most one per family. */
async function resolveEndpoints(host: string, port: number): Promise<Endpoint[]> {
  const addrs = await lookup(host, { all: true });
  const firstOf = (family: number) => addrs.find((a) => a.family === family);
  return [firstOf(4), firstOf(6)].filter((a) => a !== undefined).map((a) => Endpoint.of(a.address, port));
}

export function formatNetcheckReport(r: NetcheckReport): string {
  const lines = [
    'Report:',
    `  * UDP: ${r.udp}`,
    `  * IPv4: ${r.ipv4 ? `yes, ${r.globalV4}` : 'no'}`,
    `  * IPv6: ${r.ipv6 ? `yes, ${r.globalV6}` : 'no'}`,
    `  * MappingVariesByDestIP: ${r.mappingVariesByDestIP ?? 'unknown (needs answers from two STUN servers)'}`,
    `  * Preferred relay: ${r.preferredRelay ?? 'none'}`,
    '  * Relay latency:',
    ...Object.entries(r.relayLatency).map(([id, l]) => `      - ${id}: ${l.ms.toFixed(1)}ms (${l.via})`),
    '  * Probes:',
    ...r.probes.map((p) => `      - ${p.server}${p.relay ? ` (${p.relay})` : ''}: ${p.error ?? `${p.mapped} in ${p.rttMs?.toFixed(1)}ms`}`),
  ];
  return lines.join('\n');
}

interface RelayOpts extends LogOptions {
  listen: string;
  stunPort: number;
  stun: boolean;
  path: string;
  tlsCert?: string;
  tlsKey?: string;
  coordinator?: string;
  relaySecretFile?: string;
  allowAnyKey?: boolean;
  metricsListen?: string;
}

interface NetcheckOpts {
  stun: string[];
  relay: string[];
  relayStunPort: number;
  timeout: number;
  stateDir: string;
  json?: boolean;
}

async function runRelay(o: RelayOpts): Promise<void> {
  const { host, port } = parseHostPort(o.listen);
  if (!o.tlsCert !== !o.tlsKey) throw new InvalidArgumentError('--tls-cert and --tls-key go together');
  const logger = daemonLogger(o, 'info');
  const tls = o.tlsCert && o.tlsKey ? { cert: await readFile(o.tlsCert), key: await readFile(o.tlsKey) } : undefined;
  if (!o.coordinator && !o.allowAnyKey) throw new CommanderArgError('give --coordinator URL (the relay admits only its nodes) or, for a lab, --allow-any-key');
  if (o.coordinator && o.allowAnyKey) throw new CommanderArgError('--coordinator and --allow-any-key exclude each other');
  const secret = o.coordinator ? await readRelaySecret(o.relaySecretFile) : undefined;
  if (o.coordinator && !secret) throw new CommanderArgError(`--coordinator needs the relay secret: --relay-secret-file FILE or ${RELAY_SECRET_ENV}`);
  const admission = o.coordinator && secret ? new CoordinatorAdmission({ coordinator: o.coordinator, secret, logger }) : undefined;
  const relay = new RelayServer({ path: o.path, logger, ...(admission ? { authorize: admission.authorize } : {}) });
  admission?.start(relay);
  // As for `weft server`: --stun-port 0 turns STUN off.
  const stun = o.stun && o.stunPort !== 0 ? new StunServer({ host, port: o.stunPort, logger }) : undefined;
  const metricsAt = o.metricsListen === undefined ? null : parseHostPort(o.metricsListen);
  const reg = new Registry();
  registerRelayMetrics(reg, () => relay);
  const metrics = new MetricsServer(reg, logger);
  const httpPort = await relay.listen(host, port, tls);
  let metricsUrl: string | null = null;
  try {
    await stun?.start();
    if (metricsAt) metricsUrl = await metrics.listen(metricsAt.host, metricsAt.port);
  } catch (err) {
    admission?.stop();
    await Promise.all([relay.stop(), stun?.stop()]);
    throw err;
  }
  logger.info({ url: `${tls ? 'wss' : 'ws'}://${host.includes(':') ? `[${host}]` : host}:${httpPort}${o.path}`, stunPort: stun?.port ?? null, metrics: metricsUrl }, 'relay running');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  admission?.stop();
  await Promise.all([relay.stop(), stun?.stop(), metrics.stop()]);
}

/** The running agent's relay map (what `weft netcheck` probes without --stun/--relay). */
async function agentRelays(stateDir: string): Promise<NetcheckRelay[]> {
  let status: StatusJson;
  try {
    status = await callAgent<StatusJson>(socketPath(stateDir), 'GET', '/v1/status');
  } catch (err) {
    const code = (err as WeftError).code;
    if (code !== 'ERR_AGENT_NOT_RUNNING') throw err;
    throw new WeftError(code, `no agent runs with state dir ${stateDir} to take relays from: give --stun HOST:PORT or --relay URL`);
  }
  const relays = netcheckRelays(validRelays(status.nat?.relays));
  if (relays.length === 0) throw new InvalidArgumentError('the agent has no relays in its map: give --stun HOST:PORT or --relay URL');
  return relays;
}

async function runNetcheck(o: NetcheckOpts): Promise<void> {
  const relays: NetcheckRelay[] = o.stun.length === 0 && o.relay.length === 0 ? await agentRelays(o.stateDir) : await Promise.all(
    o.relay.map(async (url) => {
      if (!/^wss?:\/\//.test(url) || !URL.canParse(url)) throw new InvalidArgumentError(`--relay must be a ws:// or wss:// URL, got ${JSON.stringify(url)}`);
      const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
      return { id: url, url, stun: await resolveEndpoints(host, o.relayStunPort).catch(() => []) };
    }),
  );
  const stunServers = (await Promise.all(o.stun.map((s) => parseHostPort(s)).map(({ host, port }) => resolveEndpoints(host, port)))).flat();
  // One dual-stack socket for every probe; v4-only hosts fall back to an IPv4 socket.
  let client = new UdpStunClient();
  await client.start().catch(async () => {
    client = new UdpStunClient({ host: '0.0.0.0' });
    await client.start();
  });
  try {
    const report = await netcheck({ stun: client.client, relays, stunServers, timeoutMs: o.timeout });
    process.stdout.write((o.json ? JSON.stringify(report, null, 2) : formatNetcheckReport(report)) + '\n');
  } finally {
    await client.stop();
  }
}

export function registerRelayCommands(program: Command): void {
  const relay = program
    .command('relay')
    .description('run a relay (WebSocket over HTTP, for peers without a direct path) and a STUN server')
    .option('--listen <host:port>', 'HTTP listen address for the relay', RELAY_DEFAULT_LISTEN)
    .option('--stun-port <n>', 'UDP port of the STUN server; 0 turns it off', parsePort, STUN_DEFAULT_PORT)
    .option('--no-stun', 'do not run the STUN server')
    .option('--path <path>', 'URL path of the relay endpoint', RELAY_DEFAULT_PATH)
    .option('--tls-cert <file>', 'serve HTTPS/WSS with this PEM certificate (e.g. on port 443)')
    .option('--tls-key <file>', 'PEM private key for --tls-cert')
    .option('--coordinator <url>', 'admit only keys this coordinator vouches for (needs the relay secret)')
    .option('--relay-secret-file <file>', `the secret shared with the coordinator's --relay-secret-file (or ${RELAY_SECRET_ENV})`)
    .option('--allow-any-key', 'admit any key that proves it holds its private key (labs only: an open relay)')
    .option('--metrics-listen <host:port>', 'serve Prometheus /metrics on this separate address (default: off)');
  envOptions(logOptions(relay)).action(async (opts: RelayOpts) => {
    await runRelay(opts);
  });

  const check = program
    .command('netcheck')
    .description('report UDP reachability, public addresses, NAT mapping behaviour and relay latency')
    .option('--stun <host:port>', 'STUN server to probe (repeatable)', collect, [])
    .option('--relay <url>', 'relay URL (repeatable); its STUN server is expected on the same host', collect, [])
    .option('--relay-stun-port <n>', 'STUN port of the relays', parsePort, STUN_DEFAULT_PORT)
    .option('--timeout <ms>', 'per-probe deadline', parsePositive, 3000)
    .option('--state-dir <dir>', 'without --stun/--relay: probe the relay map of the agent using this state directory', DEFAULT_STATE_DIR)
    .option('--json', 'print the report as JSON');
  envOptions(check, ['--state-dir']).action(async (opts: NetcheckOpts) => {
    await runNetcheck(opts);
  });
}
