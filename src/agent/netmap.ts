import ipaddr from 'ipaddr.js';
import { keyFromBase64, publicKeyFromBytes } from '../crypto/keys.js';
import { Endpoint } from '../io/endpoint.js';
import type { NodeView } from '../wire/control.js';
import { formatPrefix, parsePrefix } from '../net/prefix.js';
import { REJECT_AFTER_TIME } from '../wireguard/constants.js';
import type { Device } from '../wireguard/device.js';
import type { Peer } from '../wireguard/peer.js';

// Netmap handling (what the coordinator sends is decoded in src/wire/decode.ts):
// diffing a full netmap against the peers we run, and applying a change to the engine
// touching only the peers it names (so unaffected tunnels keep their sessions).

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

export interface ApplyContext {
  device: Device;
  local: () => readonly LocalPrefix[];
  now: () => number;
  /** Extra allowed IPs of a peer beyond its /32 and /128 (approved subnet routes, exit routes). */
  routesFor?: (v: NodeView) => string[];
}

/** A peer's allowed IPs: its mesh /32 and /128 plus `extra` (routes it serves for us). */
export function allowedIpsFor(view: NodeView, extra: readonly string[]): string[] {
  return [`${view.ipv4}/32`, `${view.ipv6}/128`, ...extra];
}

/** Replaces the peer's allowed IPs when they differ from `want`; true when changed. */
export function setAllowedIps(device: Device, peer: Peer, want: readonly string[]): boolean {
  const have = device.allowedIps.entriesFor(peer).map(formatPrefix).sort().join(',');
  const next = want.map((w) => formatPrefix(parsePrefix(w)));
  if (have === [...next].sort().join(',')) return false;
  device.allowedIps.removeByValue(peer);
  for (const p of next) device.allowedIps.insert(parsePrefix(p), peer);
  return true;
}

/**
 * Keep the endpoint the engine has (possibly learned by roaming) while it is still
 * plausible: the peer advertises it, or a session with it is younger than
 * REJECT_AFTER_TIME, i.e. it demonstrably works.
 */
function keepEndpoint(peer: Peer, view: NodeView, now: number): boolean {
  const ep = peer.endpoint;
  if (!ep) return false;
  if (view.endpoints.includes(ep.key)) return true;
  const kp = peer.keypairs.current;
  return kp !== null && now - kp.created < REJECT_AFTER_TIME;
}

export function applyChange(ctx: ApplyContext, change: NetmapChange, previous: ReadonlyMap<string, NodeView>): void {
  const { device } = ctx;
  for (const key of change.removals) {
    const peer = device.lookupPeer(keyFromBase64(key));
    if (peer) device.removePeer(peer);
  }
  for (const view of change.upserts) {
    const pub = publicKeyFromBytes(keyFromBase64(view.publicKey));
    const peer = device.addPeer(pub);
    const old = previous.get(view.publicKey);
    setAllowedIps(device, peer, allowedIpsFor(view, ctx.routesFor?.(view) ?? []));
    if (old && !engineRelevant(old, view) && peer.endpoint) continue;
    if (keepEndpoint(peer, view, ctx.now())) continue;
    const chosen = selectEndpoint(view.endpoints, ctx.local());
    peer.endpoint = chosen ? Endpoint.parse(chosen) : null;
  }
}
