import type { NodeView } from '../wire/control.js';
import { keyFromBase64 } from '../crypto/keys.js';
import type { PacketFilter } from '../policy/index.js';
import type { PeerStatusView } from '../wireguard/device.js';
import type { Engine } from '../wireguard/engine.js';
import { externalBackendStatus, externalPathReason, type BackendStatus } from './external-engine.js';
import type { AgentNat } from './nat.js';
import type { RouteController } from './routes.js';
import type { PersistedState } from './state.js';
import type { MeshMemberStatus } from './netmap-source.js';
import type { DhtStatus } from '../dht/discovery.js';

// What `weft status --json` prints: ourselves and every peer with how we reach it.
// `path` is `direct` once a handshake with the peer's endpoint happened; otherwise
// `none` and `pathReason` says why (relays do not exist yet).

export interface NodeStatus {
  name: string;
  fqdn: string;
  ipv4: string;
  ipv6: string;
  publicKey: string;
  online: boolean;
}

export interface PeerStatus extends NodeStatus {
  endpoint: string | null;
  path: 'direct' | 'relay' | 'none';
  pathReason: string | null;
  /** The relay id when `path` is relay (NAT traversal). */
  relay?: string | null;
  /** ISO time of the latest handshake, or null. */
  latestHandshake: string | null;
  rxBytes: number;
  txBytes: number;
}

export interface StatusJson {
  /** `expiresAt`: when the coordinator stops accepting this node's key (ISO), null for never. */
  self: NodeStatus & { endpoints: string[]; listenPort: number; iface: string; expiresAt: string | null };
  /** cachedNetmap: the peers are from netmap.json (the coordinator has not answered since the start). */
  coordinator: { url: string; connected: boolean; error?: { code: string; message: string }; cachedNetmap?: boolean };
  peers: PeerStatus[];
  /** Ingress packet filter counters (denied packets are the dropped* ones). */
  /** `rules`: how many rules the coordinator's filter for this node has. */
  filter?: import('../policy/index.js').FilterStats & { trackedFlows: number; rules: number };
  /** NAT traversal: netcheck facts, home relay, counters (absent when off). */
  nat?: Record<string, unknown>;
  /** Routes branch: the selected exit node and its state (null: none selected). */
  exitNode?: import('./routes.js').ExitNodeStatus | null;
  /** Routes this node advertises and which of them are approved. */
  routes?: { advertised: string[]; approved: string[] };
  /** Serverless mode: every member known by gossip, with its SWIM state (dead ones too). */
  members?: MeshMemberStatus[];
  /** Serverless mode with `--discovery dht|both`: the Kademlia DHT (src/dht/discovery.ts). */
  dht?: DhtStatus;
  /** An external engine (--backend kernel|wireguard-go) and what it changes; absent for the builtin one. */
  backend?: BackendStatus;
  /** `--exit-circuit`: the onion circuit and what the TUN handed it (circuits.ts). */
  circuit?: import('./circuits.js').CircuitStatus;
  /** The tunnel is down (local API /v1/tunnel, `weft web`) while the agent runs. */
  tunnelDown?: boolean;
}

/** What `status()` reads from the running agent. */
export interface AgentStatusInput {
  state: PersistedState;
  engine: Engine;
  peers: Iterable<NodeView>;
  connected: boolean;
  endpoints: string[];
  coordinatorError: { code: string; message: string } | null;
  fromCache: boolean;
  filter: PacketFilter | null;
  filterRules: number;
  nat: AgentNat | null;
  routes: RouteController;
  members?: MeshMemberStatus[];
  dht?: DhtStatus | null;
}

export function agentStatus(a: AgentStatusInput): StatusJson {
  const { state: s, engine } = a;
  const kind = engine.kind;
  const peers = [...a.peers]
    .map((v) => withPath(peerStatus(v, engine.peerStatus(keyFromBase64(v.publicKey))), a.nat?.path(v.publicKey)))
    .map((p) => (kind === 'builtin' || a.nat ? p : { ...p, pathReason: externalPathReason(p.pathReason, kind) }))
    // Code-unit order (names are lowercase DNS labels): localeCompare would load ICU's
    // collation data into the agent (~2 MB of RSS) at the first status report.
    .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  return {
    self: selfStatus(s.node, a.connected, a.endpoints, engine.listenPort, engine.ifname),
    coordinator: { url: s.serverUrl, connected: a.connected, ...(a.coordinatorError ? { error: a.coordinatorError } : {}), ...(a.fromCache ? { cachedNetmap: true } : {}) },
    peers,
    ...(a.filter ? { filter: { ...a.filter.stats, trackedFlows: a.filter.trackedFlows, rules: a.filterRules } } : {}),
    ...(a.nat ? { nat: a.nat.summary() } : {}),
    exitNode: a.routes.status(),
    routes: a.routes.selfRoutes(),
    ...(a.members ? { members: a.members } : {}),
    ...(a.dht ? { dht: a.dht } : {}),
    ...(kind === 'builtin' ? {} : { backend: externalBackendStatus(kind, a.nat?.magic.port ?? null) }),
  };
}

function nodeStatus(v: NodeView): NodeStatus {
  return { name: v.name, fqdn: v.fqdn, ipv4: v.ipv4, ipv6: v.ipv6, publicKey: v.publicKey, online: v.online };
}

export function peerStatus(v: NodeView, peer: PeerStatusView | undefined): PeerStatus {
  const hs = peer?.lastHandshakeWallMs ?? 0;
  let path: PeerStatus['path'] = 'none';
  let reason: string | null = null;
  if (!peer) reason = 'not configured in the engine';
  else if (hs > 0 && peer.endpoint) path = 'direct';
  else if (!peer.endpoint) reason = v.endpoints.length ? 'no usable endpoint' : 'peer has not reported any endpoint';
  else if (peer.handshakeAttempts > 0) reason = `handshake not answered (${peer.handshakeAttempts} retries)`;
  else reason = 'no handshake yet (no traffic to this peer)';
  return {
    ...nodeStatus(v),
    endpoint: peer?.endpoint ?? null,
    path,
    pathReason: reason,
    latestHandshake: hs > 0 ? new Date(hs).toISOString() : null,
    rxBytes: peer?.rxBytes ?? 0,
    txBytes: peer?.txBytes ?? 0,
  };
}

/** Overrides the engine-derived path with the NAT traversal path manager's view. */
export function withPath(s: PeerStatus, p: { path: 'direct' | 'relay' | 'none'; endpoint: string | null; relay: string | null; reason: string | null } | undefined): PeerStatus {
  if (!p) return s;
  return { ...s, path: p.path, endpoint: p.path === 'direct' ? p.endpoint : p.relay, relay: p.relay, pathReason: p.reason };
}

export function selfStatus(v: NodeView, connected: boolean, endpoints: string[], listenPort: number, iface: string): StatusJson['self'] {
  return { ...nodeStatus(v), online: connected, endpoints, listenPort, iface, expiresAt: v.expiresAt };
}

/** How long before its key expires `weft status` starts warning. */
export const EXPIRY_WARNING_MS = 7 * 86_400_000;

/** The warning `weft status` prints when this node's key expires within a week (or has expired). */
export function expiryWarning(expiresAt: string | null, name: string, now: number): string | null {
  const at = expiresAt === null ? NaN : Date.parse(expiresAt);
  if (!(at - now < EXPIRY_WARNING_MS)) return null;
  const fix = `re-authenticate with 'weft up --force-reauth --auth-key KEY', or have an admin run 'weft nodes extend ${name}'`;
  if (at <= now) return `warning: this node's key expired at ${expiresAt}; ${fix}`;
  const hours = Math.round((at - now) / 3_600_000);
  const left = hours >= 48 ? `${Math.floor(hours / 24)} days` : hours >= 1 ? `${hours} hours` : 'less than an hour';
  return `warning: this node's key expires in ${left} (${expiresAt}); ${fix}`;
}

/** The human-readable table `weft status` prints, after an expiry warning when one is due. */
export function formatStatus(s: StatusJson, now = Date.now()): string {
  const members = s.members ? new Map(s.members.map((m) => [m.publicKey, m])) : null;
  const selfState = s.tunnelDown ? 'tunnel down (weft web Connect brings it up)' : members ? `serverless, ${s.members!.filter((m) => m.state !== 'dead').length} of ${members.size} members up` : coordinatorState(s.coordinator);
  const rows: string[][] = [[s.self.ipv4, s.self.name, 'self', selfState]];
  for (const p of s.peers) {
    const how = p.path === 'none' ? `- (${p.pathReason})` : p.path === 'relay' ? `relay ${p.relay ?? p.endpoint} (${p.pathReason})` : `${p.path} ${p.endpoint}`;
    rows.push([p.ipv4, p.name, members?.get(p.publicKey)?.state ?? (p.online ? 'online' : 'offline'), `${how}, rx ${p.rxBytes} tx ${p.txBytes}`]);
  }
  // Members that are not peers: dead (or without addresses) and so out of the engine.
  const peerKeys = new Set(s.peers.map((p) => p.publicKey));
  for (const m of s.members ?? []) if (!m.self && !peerKeys.has(m.publicKey)) rows.push([m.ipv4 ?? '-', m.name, m.state, `- (${m.state !== 'dead' ? 'no address in the plan' : m.left ? 'left the mesh' : 'no answer to direct or indirect probes'})`]);
  const x = s.exitNode;
  if (x) rows.push([x.ipv4 ?? '-', x.name ?? x.selected, 'exit node', x.state === 'active' ? 'active' : `${x.state}: traffic ${x.fallback === 'block' ? 'blocked' : 'goes direct'}`]);
  const d = s.dht;
  if (d) rows.push(['-', 'dht', `${d.contacts} contacts`, `${d.records} records held, ours ${d.published ? `stored ${d.published.stores}x (seq ${d.published.seq})` : 'not yet published'}, lookups ${d.lookups} (found ${d.found}), dropped ${d.dropped}`]);
  const c = s.circuit;
  if (c) {
    const t = c.tun;
    const via = t ? `TUN: ${t.accepted} TCP streams, ${t.refused} refused, ${t.dialFailed} failed, ${t.nonTcpDropped} non-TCP dropped` : 'SOCKS5 entry only';
    rows.push(['-', 'exit circuit', c.path ? `${c.hops} hops ${c.path.join(' -> ')}` : `${c.hops} hops, none built`, via]);
  }
  if (s.backend) rows.push(['-', `backend ${s.backend.kind}`, s.backend.discoPort === null ? 'no NAT traversal' : `disco port ${s.backend.discoPort}`, `filter: ${s.backend.filter}`]);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const warning = expiryWarning(s.self.expiresAt, s.self.name, now);
  return [...(warning ? [warning] : []), ...rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '))].join('\n');
}

function coordinatorState(c: StatusJson['coordinator']): string {
  if (c.connected) return 'coordinator connected';
  if (c.error) return `coordinator refused: ${c.error.message} (${c.error.code})`;
  return c.cachedNetmap ? 'coordinator unreachable (peers from the cached netmap)' : 'coordinator unreachable';
}
