import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import type { Logger } from '../log.js';
import { runCommand, type CommandRunner } from './os-config.js';

// Client side of subnet routes and exit nodes, done like wg-quick's default-route mode:
// routes into the mesh interface live in their own table (ROUTE_TABLE), reached by
//   pref 5200  to <coordinator addr>          lookup main      (exit node active only)
//   pref 5205  lookup main suppress_prefixlength 0             (unless exit node without LAN access)
//   pref 5210  not fwmark ENGINE_FWMARK       lookup ROUTE_TABLE
// The engine's UDP socket carries ENGINE_FWMARK (SO_MARK), so its packets to peers'
// endpoints (and relays it talks to over UDP) skip the table and keep their normal path;
// the control connection to the coordinator gets the explicit rule at pref 5200 (Node's
// sockets cannot be marked). Subnet routes are in the table too, so an advertised
// route covering a peer's endpoint cannot capture the engine's own traffic.
// Everything is re-derived from the desired state on each apply; stale rules and the
// table are flushed at start (after a crash) and on stop.

export const ENGINE_FWMARK = 0x5746;
export const ROUTE_TABLE = 5746;
const PREF_BYPASS = 5200;
const PREF_SUPPRESS = 5205;
const PREF_TABLE = 5210;

export interface RoutingState {
  iface: string;
  /** Subnet routes of peers (approved), routed into the interface. */
  subnetRoutes: string[];
  /** Route everything else into the interface (an exit node is selected). */
  exit: boolean;
  /** With exit: the local LAN (main table's non-default routes) stays direct. */
  allowLan: boolean;
  /** With exit: addresses that keep the main table (the coordinator, relays). */
  bypass: string[];
  /**
   * Our mesh addresses, the source of routed traffic (the interface also holds the
   * MagicDNS address, which peers would drop: it is not in our allowed IPs).
   */
  src4?: string;
  src6?: string;
}

export interface RoutingConfigurator {
  apply(s: RoutingState): Promise<void>;
  /** Removes every rule and route; never throws. */
  down(): Promise<void>;
}

const fam = (cidr: string): '-4' | '-6' => (cidr.includes(':') ? '-6' : '-4');

/** The commands that establish `s` from a clean slate (exported for unit tests). */
export function routingCommands(s: RoutingState): string[][] {
  const cmds: string[][] = [];
  const routes = [...s.subnetRoutes, ...(s.exit ? ['0.0.0.0/0', '::/0'] : [])];
  if (routes.length === 0) return cmds;
  for (const r of routes) {
    const src = fam(r) === '-6' ? s.src6 : s.src4;
    cmds.push(['ip', fam(r), 'route', 'replace', r, 'dev', s.iface, 'table', String(ROUTE_TABLE), ...(src ? ['src', src] : [])]);
  }
  for (const f of ['-4', '-6'] as const) {
    if (s.exit) {
      for (const b of s.bypass.filter((x) => fam(x) === f)) cmds.push(['ip', f, 'rule', 'add', 'pref', String(PREF_BYPASS), 'to', b, 'lookup', 'main']);
    }
    if (!s.exit || s.allowLan) cmds.push(['ip', f, 'rule', 'add', 'pref', String(PREF_SUPPRESS), 'lookup', 'main', 'suppress_prefixlength', '0']);
    cmds.push(['ip', f, 'rule', 'add', 'pref', String(PREF_TABLE), 'not', 'fwmark', `0x${ENGINE_FWMARK.toString(16)}`, 'lookup', String(ROUTE_TABLE)]);
  }
  return cmds;
}

/** Removes our rules (by preference) and flushes our table, whatever put them there. */
export function cleanupCommands(): string[][] {
  const cmds: string[][] = [];
  for (const f of ['-4', '-6']) {
    for (const pref of [PREF_BYPASS, PREF_SUPPRESS, PREF_TABLE]) cmds.push(['ip', f, 'rule', 'del', 'pref', String(pref)]);
    cmds.push(['ip', f, 'route', 'flush', 'table', String(ROUTE_TABLE)]);
  }
  return cmds;
}

export class PolicyRoutingConfigurator implements RoutingConfigurator {
  private last = '';
  private dirty = true;

  constructor(
    private readonly logger: Logger,
    private readonly run: CommandRunner = runCommand,
  ) {}

  private async cleanup(): Promise<void> {
    for (const argv of cleanupCommands()) {
      // A rule preference may hold several rules (bypass addresses): delete until none.
      for (let i = 0; i < 64; i++) {
        const ok = await this.run(argv).then(
          () => true,
          () => false,
        );
        if (!ok || argv[3] === 'flush') break;
      }
    }
  }

  async apply(s: RoutingState): Promise<void> {
    const key = JSON.stringify(s);
    if (!this.dirty && key === this.last) return;
    await this.cleanup();
    this.dirty = false;
    this.last = key;
    const cmds = routingCommands(s);
    if (cmds.length) await this.run(['sysctl', '-q', '-w', 'net.ipv4.conf.all.src_valid_mark=1']).catch(() => {});
    for (const argv of cmds) {
      await this.run(argv).catch((err: Error) => this.logger.warn({ err: err.message }, 'routing command failed'));
    }
    this.logger.info({ subnetRoutes: s.subnetRoutes, exit: s.exit, allowLan: s.allowLan, bypass: s.bypass }, 'routes into the mesh configured');
  }

  async down(): Promise<void> {
    await this.cleanup();
    this.dirty = true;
    this.last = '';
  }
}

export const noRouting: RoutingConfigurator = { apply: async () => {}, down: async () => {} };

/** The addresses of servers (coordinator, relays) as host routes, deduplicated; a URL that does not resolve adds none. */
export async function hostRoutes(urls: readonly string[], resolve: (host: string) => Promise<{ address: string; family: number }[]> = lookupAll): Promise<string[]> {
  const out = new Set<string>();
  for (const url of urls) {
    try {
      const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
      const addrs = ipaddr.isValid(host) ? [{ address: host, family: host.includes(':') ? 6 : 4 }] : await resolve(host);
      for (const a of addrs) out.add(`${ipaddr.parse(a.address).toString()}/${a.family === 6 ? 128 : 32}`);
    } catch {
      // unresolvable or not a URL: nothing to keep out of the tunnel
    }
  }
  return [...out];
}

const lookupAll = (host: string): Promise<{ address: string; family: number }[]> => lookup(host, { all: true });
