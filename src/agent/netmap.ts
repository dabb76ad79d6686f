import ipaddr from 'ipaddr.js';
import { keyFromBase64, publicKeyFromBytes } from '../crypto/keys.js';
import { Endpoint } from '../io/endpoint.js';
import type { DnsConfig, FilterRule, NetMap, NodeView, ServerMessage } from '../control/wire.js';
import { formatPrefix, parsePrefix } from '../net/prefix.js';
import { REJECT_AFTER_TIME } from '../wireguard/constants.js';
import type { Device } from '../wireguard/device.js';
import type { Peer } from '../wireguard/peer.js';

// Netmap handling: validating what the coordinator sends, diffing a full netmap
// against the peers we run, and applying a change to the engine touching only the
// peers it names (so unaffected tunnels keep their sessions).

export interface NetmapChange {
  upserts: NodeView[];
  /** Public keys (base64). */
  removals: string[];
}

const isStr = (x: unknown): x is string => typeof x === 'string';

/** True when `x` has every field the agent relies on, with valid keys and addresses. */
export function isValidNodeView(x: unknown): x is NodeView {
  if (typeof x !== 'object' || x === null) return false;
  const n = x as Record<string, unknown>;
  if (!isStr(n.name) || !isStr(n.fqdn) || !isStr(n.publicKey) || !isStr(n.ipv4) || !isStr(n.ipv6)) return false;
  if (!Array.isArray(n.endpoints) || !n.endpoints.every(isStr) || typeof n.online !== 'boolean') return false;
  try {
    keyFromBase64(n.publicKey);
  } catch {
    return false;
  }
  return ipaddr.IPv4.isValidFourPartDecimal(n.ipv4) && ipaddr.IPv6.isValid(n.ipv6) && !n.ipv6.includes('%');
}

/**
 * Parses one stream message; null when it is not valid JSON or not a message we know.
 * Invalid peers inside an otherwise valid message are dropped, not fatal.
 */
export function parseServerMessage(text: string): ServerMessage | null {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof m !== 'object' || m === null) return null;
  const msg = m as Record<string, unknown>;
  switch (msg.type) {
    case 'full': {
      const nm = msg.netmap as Record<string, unknown> | undefined;
      if (!nm || typeof nm.seq !== 'number' || !isValidNodeView(nm.self) || !Array.isArray(nm.peers)) return null;
      if (!isStr(nm.domain) || !isStr(nm.ipv4Range) || !isStr(nm.ipv6Range)) return null;
      const netmap: NetMap = { ...(nm as unknown as NetMap), peers: nm.peers.filter(isValidNodeView) };
      if (nm.packetFilter !== undefined && !Array.isArray(nm.packetFilter)) delete netmap.packetFilter;
      if (nm.dns !== undefined && !isDnsConfig(nm.dns)) delete netmap.dns;
      return { type: 'full', netmap };
    }
    case 'delta': {
      if (typeof msg.seq !== 'number' || !Array.isArray(msg.upserts) || !Array.isArray(msg.removals)) return null;
      if (msg.self !== undefined && !isValidNodeView(msg.self)) return null;
      return {
        type: 'delta',
        seq: msg.seq,
        upserts: msg.upserts.filter(isValidNodeView),
        removals: msg.removals.filter(isStr),
        ...(msg.self ? { self: msg.self as NodeView } : {}),
        ...(Array.isArray(msg.packetFilter) ? { packetFilter: msg.packetFilter as FilterRule[] } : {}),
        ...(isDnsConfig(msg.dns) ? { dns: msg.dns } : {}),
      };
    }
    case 'pong':
      return typeof msg.id === 'number' ? { type: 'pong', id: msg.id } : null;
    case 'error':
      return { type: 'error', code: isStr(msg.code) ? msg.code : 'unknown', message: isStr(msg.message) ? msg.message : '' };
    default:
      return null;
  }
}

function isDnsConfig(x: unknown): x is DnsConfig {
  if (typeof x !== 'object' || x === null) return false;
  const d = x as Record<string, unknown>;
  return typeof d.magicDns === 'boolean' && isStr(d.resolverIPv4) && ipaddr.IPv4.isValidFourPartDecimal(d.resolverIPv4) && typeof d.routes === 'object' && d.routes !== null;
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
