import type { Command } from 'commander';
import type { PingReply } from '../agent/local-api.js';
import { DEFAULT_STATE_DIR, socketPath } from '../agent/state.js';
import { formatStatus, type StatusJson } from '../agent/status.js';
import { AgentError } from '../agent/errors.js';
import { InvalidArgumentError, type WeftError } from '../errors.js';
import { callAgent } from '../agent/local-client.js';
import { daemonLogger, type LogOptions } from './logging.js';
import { parseExitNode, parseFallback, parseIntArg, parseUpArgs, type RawUpArgs } from './node-args.js';
import { envOptions, logOptions } from './options.js';
import { DEFAULT_SERVERLESS_PORT } from '../serverless/config.js';
import { circuitUpOptions } from './circuit-commands.js';
import { preferShortSlices } from '../io/sched-slice.js';
import { agentStarted, optimizeWhenBusy, trimMemoryPeriodically } from './agent-memory.js';

// The node commands: `weft up` runs the agent in the foreground; status, ping and down
// are thin clients of its local API, found through the socket in --state-dir.

const PING_INTERVAL_MS = 500;

const stateDirOption = ['--state-dir <dir>', 'agent state directory', DEFAULT_STATE_DIR] as const;
/** The client commands find the agent as `weft up` does: --state-dir or WEFT_STATE_DIR. */
const agentClient = (cmd: Command): Command => envOptions(cmd.option(...stateDirOption), ['--state-dir']);

function parseBool(flag: string, v: string): boolean {
  if (v === 'true' || v === 'false') return v === 'true';
  throw new InvalidArgumentError(`${flag} is true or false, got ${JSON.stringify(v)}`);
}

export function registerNodeCommands(program: Command): void {
  const up = program
    .command('up')
    .description('join the mesh and run the agent in the foreground')
    .option('--server <url>', 'coordinator URL (first start, or to change coordinator)')
    .option('--auth-key <key>', 'pre-auth key (or WEFT_AUTH_KEY in the environment)')
    .option('--insecure-http', 'allow a plain http:// coordinator that is not on loopback (labs, trusted LANs)')
    .option('--reset-server-key', 'forget the server key pinned for this coordinator and register again')
    .option('--force-reauth', 're-register this node key with --auth-key (after it expired, or before): same name and addresses')
    .option('--hostname <name>', 'name to request for this node (default: the host name)')
    .option(...stateDirOption)
    .option('--iface <name>', 'TUN interface name', 'weft0')
    .option('--port <n>', 'UDP port for WireGuard (default: last used, else random)')
    .option('--no-accept-dns', 'serve MagicDNS but leave the OS resolver configuration alone')
    .option('--no-magic-dns', 'do not run MagicDNS at all')
    .option('--advertise-routes <cidrs>', 'offer to route these subnets (CIDR[,CIDR]) once approved')
    .option('--advertise-exit-node', 'offer to be an exit node (0.0.0.0/0 and ::/0) once approved')
    .option('--no-snat-subnet-routes', 'do not masquerade mesh traffic to advertised subnets')
    .option('--no-port-mapping', 'never ask the home router for a port mapping (PCP, NAT-PMP, UPnP IGD)')
    .option('--exit-policy-allow-ports <ports>', 'as exit node: only these TCP/UDP destination ports (80,443,1000-2000)')
    .option('--exit-policy-block <cidrs>', 'as exit node: never forward to these CIDRs (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--exit-node <name|ip>', 'send all non-mesh traffic through this peer')
    .option('--exit-node-allow-lan-access', 'with --exit-node: keep the local LAN direct')
    .option('--exit-node-fallback <mode>', 'when the exit node is unavailable: block (default) or direct')
    .option('--metrics-listen <host:port>', 'serve Prometheus /metrics on this address, e.g. 127.0.0.1:9101 (default: off)')
    .option('--tun <mode>', 'kernel (a TUN device; needs root) or userspace (no TUN, no root: reach the mesh through --socks5/--http-proxy)', 'kernel')
    .option('--backend <kind>', 'the WireGuard data plane: builtin (default), wireguard-go (runs wireguard-go on --iface; filter via nftables, NAT traversal on the WireGuard port + 1) or kernel (the WireGuard module through ip and wg); see docs/BACKENDS.md', 'builtin')
    .option('--socks5 <host:port>', 'with --tun=userspace: SOCKS5 proxy into the mesh on this address, e.g. 127.0.0.1:1080')
    .option('--http-proxy <host:port>', 'with --tun=userspace: HTTP proxy (CONNECT and plain) into the mesh on this address')
    .option('--serverless', `no coordinator: trust the keys in authorized_keys, find members by gossip and mDNS (port default ${DEFAULT_SERVERLESS_PORT})`)
    .option('--seed <host:port,...>', 'with --serverless: members to join through (with --discovery dht: DHT bootstrap nodes only)')
    .option('--discovery <mode>', 'with --serverless: find members by swim (gossip through --seed, default), dht (signed records in a Kademlia DHT among the members) or both')
    .option('--authorized-keys <dir>', 'with --serverless: the trust folder (default: <state-dir>/authorized_keys)')
    .option('--relay', 'with --serverless: volunteer as a relay and STUN server for the members (TCP on the same port number as UDP)');
  envOptions(logOptions(circuitUpOptions(up))).action(async (raw: RawUpArgs & LogOptions & { acceptDns?: boolean; magicDns?: boolean }) => {
    const { acceptDns, magicDns, logLevel, logFormat, ...rest } = raw;
    await runUp(rest as RawUpArgs, magicDns === false ? false : { acceptDns: acceptDns !== false }, { logLevel, logFormat });
  });

  agentClient(program.command('status'))
    .description('show this node and its peers')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean; stateDir: string }) => {
      const s = await callAgent<StatusJson>(socketPath(o.stateDir), 'GET', '/v1/status');
      process.stdout.write((o.json ? JSON.stringify(s, null, 2) : formatStatus(s)) + '\n');
    });

  agentClient(program.command('set'))
    .description('change preferences of the running agent')
    .option('--exit-node <name|ip>', 'use this peer as exit node ("" to stop using one)')
    .option('--exit-node-allow-lan-access <bool>', 'keep the local LAN direct (true/false)')
    .option('--exit-node-fallback <mode>', 'when the exit node is unavailable: block or direct')
    .action(async (o: { exitNode?: string; exitNodeAllowLanAccess?: string; exitNodeFallback?: string; stateDir: string }) => {
      const body: Record<string, unknown> = {};
      if (o.exitNode !== undefined) body.exitNode = o.exitNode === '' ? '' : parseExitNode(o.exitNode);
      if (o.exitNodeAllowLanAccess !== undefined) body.allowLanAccess = parseBool('--exit-node-allow-lan-access', o.exitNodeAllowLanAccess);
      if (o.exitNodeFallback !== undefined) body.fallback = parseFallback(o.exitNodeFallback);
      if (Object.keys(body).length === 0) throw new InvalidArgumentError('nothing to set: give --exit-node, --exit-node-allow-lan-access or --exit-node-fallback');
      const s = await callAgent<StatusJson>(socketPath(o.stateDir), 'POST', '/v1/prefs', body);
      const x = s.exitNode;
      process.stdout.write(x ? `weft: exit node ${x.name ?? x.selected} (${x.state})\n` : 'weft: no exit node\n');
    });

  agentClient(program.command('ping'))
    .description('ping a peer through the WireGuard engine (name, DNS name or mesh IP)')
    .argument('<peer>')
    .option('-c, --count <n>', 'number of pings', '3')
    .option('--timeout <ms>', 'how long to wait for each reply', '2000')
    .action(async (peer: string, o: { count: string; timeout: string; stateDir: string }) => {
      const count = parseIntArg('--count', o.count, 1, 1000);
      const timeoutMs = parseIntArg('--timeout', o.timeout, 1, 60_000);
      process.exitCode = await runPing(socketPath(o.stateDir), peer, count, timeoutMs);
    });

  agentClient(program.command('down'))
    .description('stop the agent (removing its interface); --logout also deregisters the node')
    .option('--logout', 'remove this node from the network first')
    .action(async (o: { logout?: boolean; stateDir: string }) => {
      await callAgent(socketPath(o.stateDir), 'POST', '/v1/down', { logout: o.logout === true });
      await waitGone(socketPath(o.stateDir));
      process.stdout.write(o.logout ? 'weft: logged out and stopped\n' : 'weft: stopped\n');
    });
}

async function runUp(raw: RawUpArgs, magicDns: { acceptDns: boolean } | false, log: LogOptions): Promise<void> {
  const args = parseUpArgs(raw);
  const logger = daemonLogger(log, 'info');
  preferShortSlices(); // this thread moves the packets
  // The agent's modules load here, not for the client commands (status, ping, down);
  // serverless, the userspace proxies and circuits only with the flags that use them.
  const [{ createAgent }, serverless] = await Promise.all([import('../agent/agent.js'), args.serverless ? import('../serverless/mesh.js') : null]);
  const mesh = args.serverless && serverless ? new serverless.ServerlessMesh({ stateDir: args.stateDir, authorizedKeys: args.serverless.authorizedKeys, seeds: args.serverless.seeds, discovery: args.serverless.discovery, relay: args.serverless.relay, magicDns: magicDns !== false, logger }) : undefined;
  const agent = createAgent({
    stateDir: args.stateDir,
    serverUrl: args.server,
    authKey: args.authKey,
    insecureHttp: args.insecureHttp,
    resetServerKey: args.resetServerKey,
    forceReauth: args.forceReauth,
    hostname: args.hostname ?? (await import('node:os')).hostname().split('.')[0],
    iface: args.iface,
    port: args.port ?? (mesh ? DEFAULT_SERVERLESS_PORT : undefined),
    magicDns,
    localSource: mesh,
    logger,
    advertiseRoutes: args.advertiseRoutes,
    advertiseExitNode: args.advertiseExitNode,
    snatSubnetRoutes: args.snatSubnetRoutes,
    portMapping: args.portMapping,
    exitPolicy: args.exitPolicy,
    exitNode: args.exitNode,
    exitNodeAllowLanAccess: args.exitNodeAllowLanAccess,
    exitNodeFallback: args.exitNodeFallback,
    exitCircuit: args.circuits?.exitCircuit !== undefined,
    metricsListen: args.metricsListen,
    tun: args.tun,
    backend: args.backend,
  });
  const onSignal = (sig: string) => {
    logger.info({ signal: sig }, 'stopping');
    void agent.stop();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  await agent.start();
  const self = agent.self!;
  let circuits: Awaited<ReturnType<typeof import('../agent/circuit-start.js').startCircuitAgent>> | null = null;
  const route = (h: string, p: number) => circuits?.routeOutside(h, p) ?? null;
  const doors = agent.netstack ? await (await import('../netstack/front-doors.js')).startFrontDoors(agent, { ...args, stateDir: args.stateDir, route }, logger) : null;
  process.stdout.write(`weft: up as ${self.name} (${self.ipv4}, ${self.ipv6}) on ${agent.netstack ? 'the userspace stack' : args.iface}\n`);
  for (const line of doors?.describe() ?? []) process.stdout.write(`weft: ${line}\n`);
  agentStarted();
  optimizeWhenBusy(agent.device);
  const stopTrim = trimMemoryPeriodically();
  if (args.circuits) circuits = await (await import('../agent/circuit-start.js')).startCircuitAgent(agent, args, logger);
  await agent.stopped;
  stopTrim();
  await circuits?.stop();
  await doors?.close();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
}

async function runPing(socket: string, peer: string, count: number, timeoutMs: number): Promise<number> {
  let pongs = 0;
  for (let i = 0; i < count; i++) {
    try {
      const r = await callAgent<PingReply>(socket, 'POST', '/v1/ping', { peer, timeoutMs });
      pongs++;
      const via = r.path === 'relay' ? `relay ${r.relay} (${r.pathReason})` : r.path === 'direct' ? `direct ${r.endpoint}` : (r.endpoint ?? '?');
      process.stdout.write(`pong from ${r.name} (${r.ip}) via ${via} in ${r.ms} ms\n`);
    } catch (err) {
      if ((err as WeftError).code !== 'ERR_PING_TIMEOUT') throw err;
      process.stdout.write(`timeout waiting for pong from ${peer} (${timeoutMs} ms)\n`);
      continue;
    }
    if (i + 1 < count) await new Promise((r) => setTimeout(r, PING_INTERVAL_MS));
  }
  if (pongs === 0) throw new AgentError('ERR_PING_TIMEOUT', `no reply from ${peer}`);
  return 0;
}

// `down` returns once the agent has removed its socket (it does so last but one, before
// closing the engine), bounded so a wedged agent cannot hang the CLI.
async function waitGone(socket: string, timeoutMs = 10_000): Promise<void> {
  const { existsSync } = await import('node:fs');
  const deadline = Date.now() + timeoutMs;
  while (existsSync(socket) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}
