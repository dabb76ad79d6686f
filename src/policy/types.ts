import type { Prefix } from '../net/prefix.js';
import type { DnsRecord } from '../wire/control.js';

// The policy after parsing and validation. Every element keeps the 1-based line it came
// from so compile-time and test failures can point at the source.

/** Who a source or destination names. Host aliases are resolved to prefixes by the parser. */
export type Selector =
  | { kind: 'all' }
  | { kind: 'user'; user: string }
  | { kind: 'group'; group: string }
  | { kind: 'tag'; tag: string }
  | { kind: 'node'; name: string }
  | { kind: 'prefix'; prefix: Prefix }
  /** `autogroup:internet` (destinations only): what approved exit nodes reach outside the mesh. */
  | { kind: 'internet' };

/** Inclusive port range. */
export interface PortRange {
  first: number;
  last: number;
}

export interface AclDestination {
  selector: Selector;
  ports: PortRange[];
  line: number;
}

export interface AclRule {
  line: number;
  srcs: Selector[];
  dsts: AclDestination[];
  /** IP protocol numbers; null = the default set (TCP, UDP, ICMP, ICMPv6). */
  protos: number[] | null;
}

export interface PolicyTestCase {
  expect: 'accept' | 'deny';
  /** `host:port` as written. */
  text: string;
  host: Selector;
  port: number;
  line: number;
}

export interface PolicyTest {
  line: number;
  src: Selector;
  srcText: string;
  proto: number;
  cases: PolicyTestCase[];
}

export interface Policy {
  /** group name (with `group:`) -> normalized users */
  groups: Map<string, string[]>;
  /** tag (with `tag:`) -> owners: normalized users, `group:x` or `tag:y` */
  tagOwners: Map<string, string[]>;
  acls: AclRule[];
  tests: PolicyTest[];
  /** `autoApprovers` (routes branch): who may have routes approved without an admin. */
  autoApprovers?: AutoApprovers;
  /** `dnsRecords` (issue 20): MagicDNS records beyond nodes, each valid alone (src/dns/records.ts). */
  dnsRecords?: DnsRecord[];
}

export interface AutoApprovers {
  /** An advertised route inside `prefix` is approved when the node matches a selector. */
  routes: Array<{ prefix: Prefix; srcs: Selector[] }>;
  /** 0.0.0.0/0 and ::/0 (exit node) are approved when the node matches a selector. */
  exitNode: Selector[];
}

/** A node as the policy sees it; `id` is the caller's key (the coordinator's public key). */
export interface PolicyNode {
  id: string;
  name: string;
  /** Owning user; null for tagged nodes. */
  user: string | null;
  tags: readonly string[];
  ipv4: string;
  ipv6: string;
  /** Approved (and advertised) subnet routes, canonical CIDRs without the exit routes. */
  routes?: readonly string[];
  /** Approved exit node (0.0.0.0/0 and ::/0 both approved and advertised). */
  exit?: boolean;
}

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;
export const PROTO_SCTP = 132;

/** Protocols an ACL without `proto` allows (Tailscale's default). */
export const DEFAULT_PROTOS: readonly number[] = [PROTO_TCP, PROTO_UDP, PROTO_ICMP, PROTO_ICMPV6];

/** Protocols whose packets carry ports at the start of the L4 header. */
export function hasPorts(proto: number): boolean {
  return proto === PROTO_TCP || proto === PROTO_UDP || proto === PROTO_SCTP;
}

export const ALL_PORTS: PortRange = { first: 0, last: 65535 };

/**
 * Users are written `alice@` (Headscale) or `alice@example.com`; the key creator on the
 * coordinator may be stored as `alice`. One trailing `@` is dropped so all compare equal.
 */
export function normalizeUser(u: string): string {
  return u.endsWith('@') ? u.slice(0, -1) : u;
}

/** The policy in force when none was set: everyone may reach everything. */
export const DEFAULT_POLICY_TEXT = `// Weft default policy: every node may reach every node on every port.
{
  "acls": [
    { "action": "accept", "src": ["*"], "dst": ["*:*"] },
  ],
}
`;
