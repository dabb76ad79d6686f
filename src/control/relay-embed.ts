import type http from 'node:http';
import type https from 'node:https';
import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import { InvalidArgumentError } from '../errors.js';
import { keyFromBase64, keyToBase64 } from '../crypto/keys.js';
import type { Logger } from '../log.js';
import { StunServer } from '../nat/stun-server.js';
import { RelayServer } from '../relay/server.js';
import type { RelayInfo } from '../wire/control.js';

// The relay and STUN servers `weft server` embeds (NAT traversal), and the relay map it
// publishes in the netmap. The relay shares the API's HTTP server at /relay and admits
// registered, unexpired node keys only, and closes a node's connection when the registry
// says it was deleted or expired (nodeChanged). STUN listens on UDP `stunPort` and `stunPort+1`
// (two ports, so a node behind an endpoint-dependent NAT sees two different mappings).
//
// Where devices find them: `publicUrl` (as Headscale's server_url) when given; else, on
// a specific listen address, that address; else (0.0.0.0 or ::, which no device can
// dial) what each device dialled: the Host of its map-stream request, so every node's
// netmap names the address it already reached.

export interface RelayEmbedOptions {
  /** Serve the embedded relay at /relay (default true). */
  relay?: boolean;
  /** `http(s)://host[:port]` devices reach the coordinator at; relay and STUN are derived from it. */
  publicUrl?: string;
  /** Public URL of the embedded relay (default from publicUrl, the listen address or the dialled host). */
  relayUrl?: string;
  /** Region id of the embedded relay (default "default"). */
  relayId?: string;
  /** UDP STUN port; 0 or absent disables the embedded STUN (`weft server` defaults to 3478). */
  stunPort?: number;
  /** STUN endpoints to advertise (default: the relay's host on stunPort and stunPort+1). */
  stunAdvertise?: string[];
  /** Standalone relays (`weft relay`) to publish as well. */
  extraRelays?: RelayInfo[];
}

/** What a device dialled to reach the coordinator: its request's Host header and the socket's local address. */
export interface Dialled {
  host: string | undefined;
  localAddress: string | undefined;
}

export interface EmbeddedRelay {
  /** The relay map for a device that dialled `d`. */
  relaysFor(d: Dialled): RelayInfo[];
  server: RelayServer | null;
  /** Region id of the embedded relay in the map (null when not serving one). */
  id: string | null;
  stun: StunServer[];
  /** Told of every node change: a key no longer active loses its relay connection. */
  nodeChanged(publicKey: string, active: boolean): void;
  stop(): Promise<void>;
}

/** Checks a `--public-url`: http(s), a host, no path, query or credentials. */
export function parsePublicUrl(s: string): URL {
  let u: URL | null = null;
  try {
    u = new URL(s);
  } catch {
    // reported below
  }
  if (!u || !/^https?:$/.test(u.protocol) || !u.hostname || u.username || u.password || u.search || u.hash || (u.pathname !== '/' && u.pathname !== '')) {
    throw new InvalidArgumentError(`invalid public URL ${JSON.stringify(s)} (want http(s)://HOST[:PORT])`);
  }
  return u;
}

const isWildcard = (host: string): boolean => ipaddr.isValid(host) && ipaddr.parse(unmapped(host)).range() === 'unspecified';
const bare = (host: string): string => host.replace(/^\[|\]$/g, '');
// Host header: a DNS name or IP literal, optional port; anything else is ignored.
const HOST_HEADER = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253})(?::\d{1,5})?$/;

function unmapped(addr: string): string {
  const a = ipaddr.parse(addr);
  return a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress() ? (a as ipaddr.IPv6).toIPv4Address().toString() : a.toString();
}

/** The API URL as a device that sent this Host header reached it; null when absent, malformed or the wildcard. */
function dialledHost(header: string | undefined, api: URL): URL | null {
  if (!header || !HOST_HEADER.test(header)) return null;
  try {
    const u = new URL(`${api.protocol}//${header}`);
    return isWildcard(bare(u.hostname)) ? null : u;
  } catch {
    return null; // e.g. a port above 65535
  }
}

function withHost(api: URL, ip: string): URL {
  const u = new URL(api.href);
  u.hostname = ip.includes(':') ? `[${ip}]` : ip;
  return u;
}

const hostPort = (ip: string, port: number): string => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

/** The relay URL's host as IP addresses (a DNS name resolved once, at start). */
async function addressesOf(host: string, log: Logger): Promise<string[]> {
  if (ipaddr.isValid(host)) return [unmapped(host)];
  try {
    return [...new Set((await lookup(host, { all: true })).map((a) => a.address))];
  } catch (err) {
    log.warn({ host, err: (err as Error).message }, 'cannot resolve the public host; STUN is not advertised');
    return [];
  }
}

export async function embedRelay(
  httpServer: http.Server | https.Server,
  apiUrl: string,
  listenHost: string,
  o: RelayEmbedOptions,
  isActive: (keyB64: string) => boolean,
  log: Logger,
): Promise<EmbeddedRelay> {
  const extra = o.extraRelays ?? [];
  let server: RelayServer | null = null;
  const stun: StunServer[] = [];
  let relaysFor: (d: Dialled) => RelayInfo[] = () => extra;
  if (o.relay !== false) {
    server = new RelayServer({ authorize: (k) => isActive(keyToBase64(k)), logger: log });
    server.attach(httpServer);
    const stunPorts: number[] = [];
    if (o.stunPort) {
      for (const port of [o.stunPort, o.stunPort + 1]) {
        const s = new StunServer({ host: listenHost, port, logger: log });
        try {
          stunPorts.push(await s.start());
          stun.push(s);
        } catch (err) {
          log.warn({ port, err: (err as Error).message }, 'embedded STUN could not listen');
        }
      }
    }
    const id = o.relayId ?? 'default';
    const api = new URL(apiUrl);
    const ws = (u: URL): string => `${u.protocol === 'https:' ? 'wss' : 'ws'}://${u.host}`;
    const base = o.publicUrl ? parsePublicUrl(o.publicUrl) : isWildcard(listenHost) ? null : api;
    if (base || o.relayUrl) {
      const url = o.relayUrl ?? `${ws(base!)}/relay`;
      const advertised = o.stunAdvertise ?? (await addressesOf(bare(new URL(url).hostname), log)).flatMap((ip) => stunPorts.map((p) => hostPort(ip, p)));
      const fixed = [{ id, url, stun: advertised }, ...extra];
      relaysFor = () => fixed;
      log.info({ relay: url, stun: advertised }, 'embedded relay and STUN');
    } else {
      relaysFor = (d) => {
        const local = d.localAddress && ipaddr.isValid(d.localAddress) ? unmapped(d.localAddress) : null;
        const u = dialledHost(d.host, api) ?? (local ? withHost(api, local) : null);
        if (!u) return extra;
        const name = bare(u.hostname);
        const stunIp = ipaddr.isValid(name) ? unmapped(name) : local;
        return [{ id, url: `${ws(u)}/relay`, stun: o.stunAdvertise ?? (stunIp ? stunPorts.map((p) => hostPort(stunIp, p)) : []) }, ...extra];
      };
      log.info({ listen: listenHost }, 'embedded relay and STUN: wildcard listen address, advertising what each device dialled (set --public-url to fix one)');
    }
  }
  return {
    relaysFor,
    server,
    id: server ? (o.relayId ?? 'default') : null,
    stun,
    nodeChanged(publicKey, active) {
      if (!active) server?.revoke(keyFromBase64(publicKey));
    },
    async stop() {
      await Promise.all(stun.map((s) => s.stop().catch(() => {})));
      await server?.stop();
    },
  };
}
