import ipaddr from 'ipaddr.js';
import { keyFromBase64 } from '../crypto/keys.js';
import { Endpoint } from '../io/endpoint.js';
import type { DnsConfig, FilterRule, NetMap, NodeView, ServerMessage } from '../wire/control.js';
import { formatPrefix, parsePrefix } from '../net/prefix.js';
import { REJECT_AFTER_TIME } from '../wireguard/constants.js';
import type { PeerStatusView } from '../wireguard/device.js';

// Netmap handling (what the coordinator sends is decoded in src/wire/decode.ts):
// diffing a full netmap against the peers we run, and the per-peer parts of the engine
// config (allowed IPs, which endpoint); backend.ts assembles them, Device.reconfigure
// applies them.

export interface NetmapChange {
  upserts: NodeView[];
  /** Public keys (base64). */
  removals: string[];
}

/** Expired nodes (protocol v2 `expired`) are kept out of the engine like removed ones. */
export function isUsable(v: NodeView): boolean {
  return (v as NodeView & { expired?: boolean }).expired !== true;
}

/** Fields whose change needs the engine touched (others, like lastSeen, do not). */
function engineRelevant(a: NodeView, b: NodeView): boolean {
  return a.ipv4 !== b.ipv4 || a.ipv6 !== b.ipv6 || a.endpoints.join(',') !== b.endpoints.join(',');
}

/** What turns `current` into `next` (a full netmap's peers). Unchanged peers are not named. */
export function diffPeers(current: ReadonlyMap<string, NodeView>, next: readonly NodeView[], selfKey?: string): NetmapChange {
  const seen = new Set<string>();
  const upserts: NodeView[] = [];
  for (const n of next) {
    if (n.publicKey === selfKey || seen.has(n.publicKey)) continue;
    seen.add(n.publicKey);
    const old = current.get(n.publicKey);
    if (!old || JSON.stringify(old) !== JSON.stringify(n)) upserts.push(n);
  }
  const removals = [...current.keys()].filter((k) => !seen.has(k));
  return { upserts, removals };
}

/** A local interface address with its prefix length (from os.networkInterfaces cidr). */
export interface LocalPrefix {
  cidr: string;
}

/**
 * Picks the endpoint to reach a peer on until NAT traversal exists: the first one in a
 * subnet we are attached to (same LAN), else the first valid one.
 */
export function selectEndpoint(candidates: readonly string[], local: readonly LocalPrefix[]): string | null {
  const valid = candidates.filter((c) => {
    try {
      Endpoint.parse(c);
      return true;
    } catch {
      return false;
    }
  });
  const nets = local.flatMap((l) => {
    try {
      return [ipaddr.parseCIDR(l.cidr)];
    } catch {
      return [];
    }
  });
  for (const c of valid) {
    const ip = ipaddr.parse(Endpoint.parse(c).ip);
    if (nets.some(([net, bits]) => net.kind() === ip.kind() && ip.match([net, bits] as never))) return c;
  }
  return valid[0] ?? null;
}

/** A peer's allowed IPs: its mesh /32 and /128 plus `extra` (routes it serves for us). */
export function allowedIpsFor(view: NodeView, extra: readonly string[]): string[] {
  return [`${view.ipv4}/32`, `${view.ipv6}/128`, ...extra];
}

/**
 * The endpoint to configure for a peer without NAT traversal (backend EndpointPolicy):
 * undefined keeps the one the engine has (possibly learned by roaming) while it is still
 * plausible: the peer's advertised endpoints did not change since the engine was last
 * configured, or still include it, or a session through it is younger than
 * REJECT_AFTER_TIME (it demonstrably works). Else the best advertised one.
 */
export function chooseEndpoint(view: NodeView, previous: NodeView | undefined, live: PeerStatusView | undefined, now: number, local: readonly LocalPrefix[]): string | null | undefined {
  const ep = live?.endpoint;
  if (ep) {
    if (previous && !engineRelevant(previous, view)) return undefined;
    if (view.endpoints.includes(ep)) return undefined;
    if (live.sessionCreatedMs !== null && now - live.sessionCreatedMs < REJECT_AFTER_TIME) return undefined;
  }
  return selectEndpoint(view.endpoints, local);
}
