import type { BackendKind } from '../wireguard/engine.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Bind } from '../io/bind.js';
import type { TunDevice } from '../io/tun.js';
import { nativeAvailable } from '../io/native.js';
import { AgentError } from './errors.js';
import type { ExitFallback } from './routes.js';
import type { ExitPolicy, ForwardingConfigurator } from './forwarding.js';
import type { InterfaceLister } from './local-endpoints.js';
import type { AgentNatOptions } from './nat.js';
import type { OsConfigurator } from './os-config.js';
import type { LocalNetmapSource } from './netmap-source.js';
import type { RoutingConfigurator } from './routing.js';

// What `weft up` can be told (AgentOptions) and the real TUN and UDP bind the agent
// opens unless a test injects its own.

export const DEFAULT_IFACE = 'weft0';

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
  /**
   * No `authKey`: the coordinator's login URL (OIDC) is handed here (default: printed on
   * stderr), and registration waits until someone completes that login.
   */
  onLoginUrl?: (url: string) => void;
  /** How often a node waiting for its login asks again (default 1 s). */
  loginPollMs?: number;
  hostname?: string;
  iface?: string;
  /** UDP port; default: the one used last time, else random. */
  port?: number;
  createTun?: (name: string, mtu: number) => Promise<TunDevice>;
  /** `userspace`: no TUN, no root, no routes; the engine's packets go to the userspace stack (`netstack`). */
  tun?: 'kernel' | 'userspace';
  /** The data plane (docs/BACKENDS.md): our engine (default), kernel WireGuard or wireguard-go. */
  backend?: BackendKind;
  /** With backend wireguard-go: its command line before `-f IFNAME` (default `wireguard-go`). */
  wireguardGo?: readonly string[];
  createBind?: () => Bind;
  osConfig?: OsConfigurator;
  /** Source of interface addresses for endpoint discovery (default os.networkInterfaces). */
  interfaces?: InterfaceLister;
  endpointPollMs?: number;
  /** How often the peer paths are compared for a `status` report (default 5 s). */
  statusReportMs?: number;
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
  /** Map our UDP port on the home router (PCP, NAT-PMP, UPnP IGD); default on unless createBind is given. */
  portMapping?: boolean;
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
  /** `--exit-circuit`: the default routes go into the interface, for the onion circuit (circuit-tun.ts). */
  exitCircuit?: boolean;
  /** Policy routing into the mesh (default: ip rule/route with a real OS configurator, none when osConfig is injected). */
  routing?: RoutingConfigurator;
  /** Forwarding and NAT as router / exit node (default: nftables/iptables with a real OS configurator). */
  forwarding?: ForwardingConfigurator;
  /** Serverless mode: the netmap comes from this source instead of a coordinator (no --server). */
  localSource?: LocalNetmapSource;
  /** Serve Prometheus /metrics here (`--metrics-listen`); absent = off. Port 0 picks one. */
  metricsListen?: { host: string; port: number };
}

export const NEEDS_ROOT = 'creating the TUN device needs root or CAP_NET_ADMIN';

export async function defaultTun(name: string, mtu: number): Promise<TunDevice> {
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

/** The engine's UDP socket: the native batched bind, or dgram where the addon is missing or off (WEFT_NATIVE=0). */
export async function defaultBind(): Promise<Bind> {
  return (await bindFactory(128))();
}

/** Makes sockets of the same kind as defaultBind; NAT traversal's extra binds use small batches. */
export async function bindFactory(batchSize = 8): Promise<() => Bind> {
  if (!nativeAvailable()) {
    const { DgramBind } = await import('../io/bind-dgram.js');
    return () => new DgramBind();
  }
  const { LinuxBind } = await import('../io/bind-linux.js');
  return () => new LinuxBind({ batchSize });
}

export function normalizeUrl(u: string): string {
  return new URL(u).toString();
}

