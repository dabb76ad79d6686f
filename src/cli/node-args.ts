import { BACKEND_KINDS, type BackendKind } from '../wireguard/engine.js';
import { InvalidArgumentError } from '../errors.js';
import { DEFAULT_IFACE } from '../agent/agent-options.js';
import { DEFAULT_STATE_DIR } from '../agent/state.js';
import { validExitNodeArg } from '../agent/routes.js';
import { canonicalRoute } from '../control/routes.js';
import { parseListen } from '../listen.js';
import { DISCOVERY_MODES, type DiscoveryMode } from '../serverless/config.js';
import { parseCircuitArgs, type CircuitArgs, type RawCircuitArgs } from './circuit-commands.js';

// Validation of the node commands' options, separate from commander so it is unit-tested
// and the errors carry stable codes (ERR_INVALID_ARGUMENT).

export interface UpArgs {
  server?: string;
  authKey?: string;
  insecureHttp: boolean;
  resetServerKey: boolean;
  forceReauth: boolean;
  hostname?: string;
  stateDir: string;
  iface: string;
  port?: number;
  /** Routes branch. */
  advertiseRoutes: string[];
  advertiseExitNode: boolean;
  snatSubnetRoutes: boolean;
  /** `--no-port-mapping`: never ask the gateway for a port mapping. */
  portMapping: boolean;
  exitPolicy: { allowPorts: string[]; block: string[] };
  exitNode?: string;
  exitNodeAllowLanAccess: boolean;
  exitNodeFallback: 'block' | 'direct';
  metricsListen?: { host: string; port: number };
  /** `--tun=userspace`: no TUN, no root (src/netstack). */
  tun: 'kernel' | 'userspace';
  /** `--backend`: the data plane (docs/BACKENDS.md). */
  backend: BackendKind;
  socks5?: { host: string; port: number };
  httpProxy?: { host: string; port: number };
  /** `--serverless`: no coordinator; members from authorized_keys and gossip (src/serverless). */
  serverless?: { seeds: string[]; authorizedKeys?: string; relay: boolean; discovery: DiscoveryMode };
  /** `--circuits`, `--circuit-exit`, `--exit-circuit N` (src/agent/circuits.ts). */
  circuits?: CircuitArgs;
}

export interface RawUpArgs extends RawCircuitArgs {
  serverless?: boolean;
  seed?: string;
  discovery?: string;
  authorizedKeys?: string;
  relay?: boolean;
  advertiseRoutes?: string;
  advertiseExitNode?: boolean;
  snatSubnetRoutes?: boolean;
  portMapping?: boolean;
  exitPolicyAllowPorts?: string;
  exitPolicyBlock?: string[];
  exitNode?: string;
  exitNodeAllowLanAccess?: boolean;
  exitNodeFallback?: string;
  server?: string;
  authKey?: string;
  insecureHttp?: boolean;
  resetServerKey?: boolean;
  forceReauth?: boolean;
  hostname?: string;
  stateDir?: string;
  iface?: string;
  port?: string;
  metricsListen?: string;
  tun?: string;
  backend?: string;
  socks5?: string;
  httpProxy?: string;
}

const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const IFNAME = /^[A-Za-z0-9_.=+-]{1,15}$/;

export function parseIntArg(name: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be an integer, got ${JSON.stringify(v)}`);
  const n = Number(v);
  if (n < min || n > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

export function parseServerUrl(s: string): string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new InvalidArgumentError(`--server must be a URL like https://weft.example.com, got ${JSON.stringify(s)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new InvalidArgumentError(`--server must use http or https, got ${u.protocol}`);
  return u.toString();
}

/** The auth key may come from WEFT_AUTH_KEY (options.ts), so it need not appear in argv (and `ps`). */
export function parseUpArgs(raw: RawUpArgs): UpArgs {
  const authKey = raw.authKey;
  if (authKey !== undefined && authKey.trim() === '') throw new InvalidArgumentError('--auth-key is empty');
  if (raw.forceReauth && authKey === undefined) throw new InvalidArgumentError('--force-reauth needs --auth-key (or WEFT_AUTH_KEY)');
  if (raw.hostname !== undefined && !HOSTNAME.test(raw.hostname)) throw new InvalidArgumentError(`--hostname must be a DNS label (letters, digits, '-'), got ${JSON.stringify(raw.hostname)}`);
  const iface = raw.iface ?? DEFAULT_IFACE;
  if (!IFNAME.test(iface)) throw new InvalidArgumentError(`--iface must be a Linux interface name (1-15 characters), got ${JSON.stringify(iface)}`);
  return {
    server: raw.server === undefined ? undefined : parseServerUrl(raw.server),
    authKey: authKey?.trim(),
    insecureHttp: raw.insecureHttp === true,
    resetServerKey: raw.resetServerKey === true,
    forceReauth: raw.forceReauth === true,
    hostname: raw.hostname,
    stateDir: raw.stateDir ?? DEFAULT_STATE_DIR,
    iface,
    port: raw.port === undefined ? undefined : parseIntArg('--port', raw.port, 0, 65535),
    advertiseRoutes: parseCidrList('--advertise-routes', raw.advertiseRoutes),
    advertiseExitNode: raw.advertiseExitNode === true,
    snatSubnetRoutes: raw.snatSubnetRoutes !== false,
    portMapping: raw.portMapping !== false,
    exitPolicy: { allowPorts: parsePortList(raw.exitPolicyAllowPorts), block: (raw.exitPolicyBlock ?? []).flatMap((b) => parseCidrList('--exit-policy-block', b)) },
    exitNode: parseExitNode(raw.exitNode),
    exitNodeAllowLanAccess: raw.exitNodeAllowLanAccess === true,
    exitNodeFallback: parseFallback(raw.exitNodeFallback),
    metricsListen: raw.metricsListen === undefined ? undefined : parseListen(raw.metricsListen),
    ...parseUserspaceArgs(raw),
    ...parseServerlessArgs(raw),
    ...parseCircuitArgs(raw),
    backend: parseBackend(raw.backend, raw.tun),
  };
}

/** --serverless, --seed, --discovery, --authorized-keys and --relay: the serverless mode's own flags, and only its. */
function parseServerlessArgs(raw: RawUpArgs): Pick<UpArgs, 'serverless'> {
  if (!raw.serverless) {
    if (raw.seed !== undefined || raw.authorizedKeys !== undefined || raw.relay !== undefined || raw.discovery !== undefined) throw new InvalidArgumentError('--seed, --discovery, --authorized-keys and --relay need --serverless');
    return {};
  }
  const coordinator = (['server', 'authKey', 'forceReauth', 'resetServerKey'] as const).find((k) => raw[k] !== undefined && raw[k] !== false);
  if (coordinator) throw new InvalidArgumentError(`--serverless runs without a coordinator: drop --${coordinator.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`);
  const seeds = (raw.seed ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '');
  for (const s of seeds) {
    const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d+)$/.exec(s);
    if (!m) throw new InvalidArgumentError(`--seed takes HOST:PORT[,HOST:PORT] (IPv6 as [addr]:port), got ${JSON.stringify(s)}`);
    parseIntArg('--seed port', m[2], 1, 65535);
  }
  const discovery = (raw.discovery ?? 'swim') as DiscoveryMode;
  if (!DISCOVERY_MODES.includes(discovery)) throw new InvalidArgumentError(`--discovery takes ${DISCOVERY_MODES.join('|')}, got ${JSON.stringify(raw.discovery)}`);
  return { serverless: { seeds, authorizedKeys: raw.authorizedKeys, relay: raw.relay === true, discovery } };
}

/** --tun, --socks5 and --http-proxy: the proxies need the userspace stack to dial from. */
function parseUserspaceArgs(raw: RawUpArgs): Pick<UpArgs, 'tun' | 'socks5' | 'httpProxy'> {
  const tun = raw.tun ?? 'kernel';
  if (tun !== 'kernel' && tun !== 'userspace') throw new InvalidArgumentError(`--tun is kernel or userspace, got ${JSON.stringify(tun)}`);
  if ((raw.socks5 !== undefined || raw.httpProxy !== undefined) && tun !== 'userspace') throw new InvalidArgumentError('--socks5 and --http-proxy need --tun=userspace');
  return {
    tun,
    socks5: raw.socks5 === undefined ? undefined : parseListen(raw.socks5),
    httpProxy: raw.httpProxy === undefined ? undefined : parseListen(raw.httpProxy),
  };
}

export function parseBackend(v: string | undefined, tun: string | undefined): BackendKind {
  const kind = v ?? 'builtin';
  if (!(BACKEND_KINDS as readonly string[]).includes(kind)) throw new InvalidArgumentError(`--backend is ${BACKEND_KINDS.join(', ')}; got ${JSON.stringify(kind)}`);
  if (kind !== 'builtin' && tun === 'userspace') throw new InvalidArgumentError(`--backend ${kind} runs its own interface: it cannot be combined with --tun=userspace`);
  return kind as BackendKind;
}

/** `CIDR[,CIDR]` (host bits cleared, as the coordinator stores them). */
export function parseCidrList(flag: string, v: string | undefined): string[] {
  if (v === undefined || v.trim() === '') return [];
  return v.split(',').map((c) => {
    const t = c.trim();
    const canon = t.includes('/') ? canonicalRoute(t) : null;
    if (canon === null) throw new InvalidArgumentError(`${flag} takes CIDRs like 10.0.0.0/24, got ${JSON.stringify(t)}`);
    return canon;
  });
}

/** `80,443,8000-8100` for nftables/iptables (ports 1-65535). */
export function parsePortList(v: string | undefined): string[] {
  if (v === undefined || v.trim() === '') return [];
  return v.split(',').map((p) => {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(p.trim());
    const a = m ? Number(m[1]) : NaN, b = m?.[2] ? Number(m[2]) : a;
    if (!m || a < 1 || b > 65535 || a > b) throw new InvalidArgumentError(`--exit-policy-allow-ports takes ports and ranges like 80,443,8000-8100, got ${JSON.stringify(p)}`);
    return a === b ? String(a) : `${a}-${b}`;
  });
}

export function parseExitNode(v: string | undefined): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (!validExitNodeArg(v)) throw new InvalidArgumentError(`--exit-node takes a peer name or mesh IP, got ${JSON.stringify(v)}`);
  return v;
}

export function parseFallback(v: string | undefined): 'block' | 'direct' {
  if (v === undefined || v === 'block') return 'block';
  if (v === 'direct') return 'direct';
  throw new InvalidArgumentError(`--exit-node-fallback is block or direct, got ${JSON.stringify(v)}`);
}
