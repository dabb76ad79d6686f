// Wire types between agent and coordinator, in one place (like Tailscale's tailcfg).
// Every change to a shape here bumps CONTROL_PROTOCOL_VERSION and is logged beside it
// (version.ts) and in docs/CONTROL-PROTOCOL.md. All keys are standard base64 (44
// chars); times are ISO 8601 strings in UTC; addresses are canonical text (ipaddr.js
// toString()). Decoders for what either side receives are in decode.ts.

/** The coordinator's static X25519 key, fetched with GET /api/v1/key. */
export interface ServerKeyResponse {
  version: number;
  publicKey: string;
}

/**
 * POST /api/v1/register (node-authenticated, see node-auth.ts).
 * A new node key needs a valid pre-auth key; a known key re-registers idempotently
 * (same addresses and name) without one.
 */
export interface RegisterRequest {
  version: number;
  hostname?: string;
  authKey?: string;
  /** Endpoints `ip:port` / `[v6]:port` the node can be reached on (v3: plus at most one `relay:<id>`, its home relay). */
  endpoints?: string[];
  /** v6: a known (even expired) node key re-authenticates with `authKey`: same name and addresses, new expiry. */
  reauth?: boolean;
  /**
   * Without `authKey`: the agent can show a login URL (`weft up` with no key). A coordinator
   * with an OIDC provider then answers RegisterLoginResponse until someone completes the
   * login, and registers the node to that user on the next call. Only agents that send
   * this get that answer, so older agents keep seeing ERR_AUTHKEY_REQUIRED.
   */
  interactive?: boolean;
}

/** The answer to an interactive registration still waiting for its login (MAC'd like any 2xx). */
export interface RegisterLoginResponse {
  authUrl: string;
}

export interface RegisterResponse {
  node: NodeView;
  domain: string;
  ipv4Range: string;
  ipv6Range: string;
}

/** One node as other nodes (and admins) see it. */
export interface NodeView {
  id: number;
  name: string;
  /** `<name>.<domain>` */
  fqdn: string;
  ipv4: string;
  ipv6: string;
  publicKey: string;
  endpoints: string[];
  online: boolean;
  /** Set by the coordinator (protocol v2): the node key has expired; peers should not use it. */
  expired?: boolean;
  lastSeen: string | null;
  createdAt: string;
  /** When the node key stops being accepted, or null for never. */
  expiresAt: string | null;
  ephemeral: boolean;
  tags: string[];
  user: string | null;
  /** v4: routes the node advertises (subnet CIDRs; 0.0.0.0/0 and ::/0 for an exit node). */
  advertisedRoutes?: string[];
  /** v4: the advertised routes that are approved; only these are routed to the node. */
  approvedRoutes?: string[];
}

/** v4: `GET /api/v1/admin/routes`: one entry per node advertising or holding approved routes. */
export interface RouteView {
  node: string;
  ipv4: string;
  /** A CIDR, or `exit` for an exit node (0.0.0.0/0 and ::/0, approved together). */
  route: string;
  approved: boolean;
  /** The node advertises it (approved but no longer advertised routes are listed too). */
  advertised: boolean;
  exitNode: boolean;
}

/** v4: `POST /api/v1/admin/routes/approve` and `/unapprove`. */
export interface ApproveRouteRequest {
  node: string;
  /** A CIDR, or `exit` for both 0.0.0.0/0 and ::/0. */
  route: string;
}

export interface NetMap {
  version: number;
  /** Increases with every change the coordinator makes; deltas carry it too. */
  seq: number;
  /** v8: names the coordinator instance's seq numbering (RESUME_HEADER). */
  epoch?: string;
  domain: string;
  ipv4Range: string;
  ipv6Range: string;
  self: NodeView;
  /** Protocol v3: only peers the policy lets talk to this node in some direction. */
  peers: NodeView[];
  /** Rules where this node is the destination (protocol v3). Absent from a v2 server: allow all. */
  packetFilter?: FilterRule[];
  /** MagicDNS settings (protocol v3). */
  dns?: DnsConfig;
  /** Protocol v3: the relays (with their STUN endpoints) nodes may use; absent from older servers. */
  relays?: RelayInfo[];
  /** The coordinator accepts `status` messages (agent version, path per peer); older ones do not. */
  statusReports?: boolean;
}

/**
 * One packet-filter rule for the receiving node (src/policy/compile.ts WireFilterRule):
 * packets from `srcs` to this node's own address (of `family`; absent = both) with
 * protocol in `protos` (absent = TCP, UDP, ICMP, ICMPv6) and, for TCP/UDP/SCTP,
 * destination port in `ports` are accepted. An empty list denies everything.
 * v5: with `dsts` the rule admits only packets the node forwards (subnet router, exit
 * node) to those prefixes; sent only to agents that announced v5 (VERSION_HEADER).
 */
export interface FilterRule {
  srcs: string[];
  ports: Array<[number, number]>;
  protos?: number[];
  family?: 4 | 6;
  dsts?: string[];
}

export interface DnsConfig {
  /** Whether the agent runs MagicDNS and points the OS at it. */
  magicDns: boolean;
  /** Where the agent serves MagicDNS (it adds these to its TUN). */
  resolverIPv4: string;
  resolverIPv6?: string;
  /** Split DNS: domain suffix -> resolvers ("ip", "ip:port", "[v6]:port"). */
  routes: Record<string, string[]>;
  /** v9: records beyond nodes (policy `dnsRecords` and `weft dns records`), served by every agent. */
  records?: DnsRecord[];
}

export type DnsRecordType = 'A' | 'AAAA' | 'CNAME' | 'TXT' | 'SRV';

/**
 * v9: one MagicDNS record (src/dns/records.ts). `name` is a lower-case name inside the
 * mesh domain without the trailing dot; `value` is presentation form: an address (A,
 * AAAA), a name (CNAME), one string of at most 255 bytes (TXT) or
 * `priority weight port target` (SRV).
 */
export interface DnsRecord {
  name: string;
  type: DnsRecordType;
  value: string;
}

/** v9: `GET /api/v1/admin/dns/records`: every record served, and where it is set. */
export interface DnsRecordView extends DnsRecord {
  source: 'policy' | 'admin';
}

/** v9: `PUT /api/v1/admin/dns/records`: replaces the admin-set records of `type` at `name` with `values`. */
export interface SetDnsRecordsRequest {
  name: string;
  type: DnsRecordType;
  values: string[];
}

/**
 * A relay in the netmap (protocol v3). `id` is what a node's `relay:<id>` pseudo-endpoint
 * names (its home relay); `stun` lists `ip:port` STUN servers next to the relay.
 */
/**
 * The pseudo-endpoint a node on an external engine (wireguard-go, kernel) reports: it
 * speaks no disco, so peers send WireGuard straight to its endpoints instead of through
 * the NAT-traversal path manager, and accept WireGuard from them (docs/BACKENDS.md).
 */
export const WIREGUARD_ONLY_ENDPOINT = 'disco:none';

/**
 * `wgport:<port>`: a node on an external engine runs disco on a second port, and its
 * other endpoints are that port's; WireGuard goes to this port at the address of the
 * direct path disco finds (docs/BACKENDS.md).
 */
export const WIREGUARD_PORT_PREFIX = 'wgport:';

/** The port of a `wgport:<port>` pseudo-endpoint in `endpoints`, or null. */
export function wireguardPortOf(endpoints: readonly string[]): number | null {
  for (const e of endpoints) {
    if (!e.startsWith(WIREGUARD_PORT_PREFIX)) continue;
    const port = Number(e.slice(WIREGUARD_PORT_PREFIX.length));
    return /^\d{1,5}$/.test(e.slice(WIREGUARD_PORT_PREFIX.length)) && port >= 1 && port <= 65535 ? port : null;
  }
  return null;
}

export interface RelayInfo {
  id: string;
  url: string;
  stun: string[];
}

/** `GET /api/v1/admin/relays`: a published relay; `clients` (node names) only for the embedded one. */
export interface RelayStatusView extends RelayInfo {
  embedded: boolean;
  clients: string[] | null;
}

/**
 * Messages on the map stream (WebSocket, GET /api/v1/map, node-authenticated).
 * Server to node: first `full`, then `delta` for every change that affects this node.
 * A delta's upserts replace the whole NodeView of that peer (keyed by publicKey);
 * removals name peers by public key. `self` is set when this node itself changed.
 */
export type ServerMessage =
  | { type: 'full'; netmap: NetMap }
  | {
      type: 'delta';
      seq: number;
      upserts: NodeView[];
      removals: string[];
      self?: NodeView;
      /** Present only when this node's filter changed; replaces it whole (v3). */
      packetFilter?: FilterRule[];
      /** Present only when the DNS config changed (v3). */
      dns?: DnsConfig;
    }
  | { type: 'pong'; id: number }
  | { type: 'error'; code: string; message: string };

/** Node to server on the map stream. */
export type ClientMessage =
  | { type: 'endpoints'; endpoints: string[] }
  | { type: 'ping'; id: number }
  /** v4: the routes this node advertises (replaces the set; at most 64 CIDRs). */
  | { type: 'routes'; routes: string[] }
  /** Only to a coordinator whose netmap set `statusReports`: how this node reaches its peers (by public key). */
  | { type: 'status'; version: string; paths: Record<string, PeerPath> };

export type PeerPath = 'direct' | 'relay';

/** The admin API's node: the NodeView plus what the node last reported over its stream. */
export interface AdminNodeView extends NodeView {
  /** The agent's Weft version, once reported. */
  version?: string;
  /** Peer name -> how this node reaches it, as last reported (peers with neither path are left out). */
  paths?: Record<string, PeerPath>;
}

/** POST /api/v1/logout (node-authenticated): deregisters the node and frees its addresses. */
export interface LogoutResponse {
  ok: true;
}

/** Every 4xx/5xx body: `field` names the offending request field when there is one. */
export interface ErrorBody {
  error: { code: string; message: string; field?: string; line?: number; column?: number };
}

/** GET /api/v1/admin/policy (v3). */
export interface PolicyResponse {
  policy: string;
  updatedAt: string | null;
}

/** PUT /api/v1/admin/policy (v3); refused with 400 and `line`/`column` when invalid. */
export interface SetPolicyRequest {
  policy: string;
}

// Admin API (unix socket in the server's state dir, or HTTPS with `Authorization: Bearer <api key>`).

export interface CreateAuthKeyRequest {
  reusable?: boolean;
  ephemeral?: boolean;
  /** Seconds until the key expires; absent = 1 hour, as Tailscale's default is short-lived. */
  expirySeconds?: number;
  tags?: string[];
  /** v3: the user nodes registered with the key belong to (must own every tag). */
  user?: string;
}

export interface AuthKeyView {
  id: string;
  /** Only present in the response to creation: the secret is stored hashed. */
  key?: string;
  prefix: string;
  reusable: boolean;
  ephemeral: boolean;
  tags: string[];
  createdAt: string;
  expiresAt: string | null;
  usedCount: number;
  revoked: boolean;
  /** v3 */
  user: string | null;
}
