import { formatPrefix, parsePrefix, type Prefix } from '../net/prefix.js';
import { aggregate, complement } from './cidr-set.js';
import { normalizeUser, type AclRule, type Policy, type PolicyNode, type Selector } from './types.js';

// Policy -> per-node packet filters and peer visibility (Headscale's compileFilterRules
// + ReduceFilterRules + BuildPeerMap, without their O(n²) per event).
//
// Every selector is resolved once per compile into a per-node family mask (bit 1: the
// node's IPv4 is covered, bit 2: its IPv6) and, for sources, an aggregated CIDR list.
// A node's filter is then read off the rules in O(rules) and visibility of a pair is
// O(rules); only listing all peers of a node is proportional to its peer count.

/**
 * One packet-filter rule as sent to a node: packets from `srcs` to this node's own
 * address (of `family`, absent = both) with protocol in `protos` (absent = TCP, UDP,
 * ICMP, ICMPv6) and, for TCP/UDP/SCTP, destination port in `ports` are accepted.
 * With `dsts` (protocol v5) the rule is a forwarding rule instead: it admits packets the
 * node routes (subnet router, exit node) to those prefixes, never its own addresses.
 */
export interface WireFilterRule {
  srcs: string[];
  /** Inclusive [first, last] ranges, sorted and disjoint. */
  ports: Array<[number, number]>;
  protos?: number[];
  family?: 4 | 6;
  dsts?: string[];
}

const FAM4 = 1;
const FAM6 = 2;
const ALL_SRCS = ['0.0.0.0/0', '::/0'];

interface CompiledRule {
  acl: AclRule;
  srcs: string[];
  /** Per node: its addresses covered by some source (visibility only needs != 0). */
  srcMask: Uint8Array;
  srcNodes: Int32Array;
  dstMasks: Uint8Array[];
  dstPorts: Array<Array<[number, number]>>;
  dstNodes: Int32Array;
  dstUnion: Uint8Array;
  /** Every address of every node is a source: visibility shortcut. */
  srcAllNodes: boolean;
  /** Per router node index: the forwarding rules this ACL gives it. */
  forward: Map<number, WireFilterRule[]>;
}

/** A node's approved routes, parsed once per compile. */
interface Router {
  routes: Prefix[];
  /** `autogroup:internet` on an approved exit node: everything but its own subnets. */
  internet: string[];
}

function contains(p: Prefix, addr: Prefix): boolean {
  if (p.family !== addr.family) return false;
  for (let bit = 0; bit < p.bits; bit++) {
    const i = bit >> 3;
    const m = 0x80 >> (bit & 7);
    if ((p.bytes[i] & m) !== (addr.bytes[i] & m)) return false;
  }
  return true;
}

/** The part of `a` inside `b` (CIDRs either nest or are disjoint), or null. */
function overlap(a: Prefix, b: Prefix): Prefix | null {
  if (a.bits >= b.bits) return contains(b, a) ? a : null;
  return contains(a, b) ? b : null;
}

function mergePorts(ranges: Array<[number, number]>): Array<[number, number]> {
  const sorted = ranges.map((r) => [r[0], r[1]] as [number, number]).sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push(r);
  }
  return out;
}

function samePorts(a: Array<[number, number]>, b: Array<[number, number]>): boolean {
  return a === b || (a.length === b.length && a.every((r, k) => r[0] === b[k][0] && r[1] === b[k][1]));
}

function nodesOf(mask: Uint8Array): Int32Array {
  let n = 0;
  for (const m of mask) if (m) n++;
  const out = new Int32Array(n);
  for (let i = 0, j = 0; i < mask.length; i++) if (mask[i]) out[j++] = i;
  return out;
}

function selectorKey(s: Selector): string {
  switch (s.kind) {
    case 'all': return '*';
    case 'user': return `u:${s.user}`;
    case 'group': return s.group;
    case 'tag': return s.tag;
    case 'node': return `n:${s.name}`;
    case 'prefix': return `p:${s.prefix.family}:${s.prefix.bytes.join('.')}/${s.prefix.bits}`;
    case 'internet': return 'autogroup:internet';
  }
}

export class CompiledPolicy {
  private readonly index = new Map<string, number>();
  private readonly v4: Prefix[];
  private readonly v6: Prefix[];
  private readonly masks = new Map<string, Uint8Array>();
  private readonly rules: CompiledRule[];
  private readonly scratch: Uint8Array;

  constructor(
    private readonly policy: Policy,
    readonly nodes: readonly PolicyNode[],
  ) {
    nodes.forEach((n, i) => this.index.set(n.id, i));
    this.v4 = nodes.map((n) => parsePrefix(n.ipv4));
    this.v6 = nodes.map((n) => parsePrefix(n.ipv6));
    this.scratch = new Uint8Array(nodes.length);
    const routers = new Map<number, Router>();
    nodes.forEach((n, i) => {
      if (!n.routes?.length && !n.exit) return;
      const routes = (n.routes ?? []).map((r) => parsePrefix(r));
      routers.set(i, { routes, internet: n.exit ? [...complement(routes, 4), ...complement(routes, 6)] : [] });
    });
    const srcCache = new Map<string, string[]>();
    this.rules = policy.acls.map((acl) => {
      const srcMask = new Uint8Array(nodes.length);
      for (const s of acl.srcs) {
        const m = this.mask(s);
        for (let i = 0; i < m.length; i++) srcMask[i] |= m[i];
      }
      const srcKey = acl.srcs.map(selectorKey).sort().join(' ');
      let srcs = srcCache.get(srcKey);
      if (!srcs) srcCache.set(srcKey, (srcs = this.sourceCidrs(acl.srcs)));
      const dstMasks = acl.dsts.map((d) => this.mask(d.selector));
      const dstUnion = new Uint8Array(nodes.length);
      for (const m of dstMasks) for (let i = 0; i < m.length; i++) dstUnion[i] |= m[i];
      const dstPorts = acl.dsts.map((d) => mergePorts(d.ports.map((p) => [p.first, p.last] as [number, number])));
      const forward = new Map<number, WireFilterRule[]>();
      for (const [i, router] of routers) {
        const rules = forwardRules(acl, srcs, dstPorts, router);
        if (!rules.length) continue;
        forward.set(i, rules);
        // Sources allowed through the router see it (and it them), in any family.
        dstUnion[i] = FAM4 | FAM6;
      }
      const srcNodes = nodesOf(srcMask);
      return {
        acl,
        srcs,
        srcMask,
        srcNodes,
        dstMasks,
        dstPorts,
        dstNodes: nodesOf(dstUnion),
        dstUnion,
        srcAllNodes: srcMask.every((m) => m === (FAM4 | FAM6)),
        forward,
      };
    });
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  /** The filter for node `id` (rules where it is the destination); [] = deny all. */
  filter(id: string): WireFilterRule[] {
    const i = this.indexOf(id);
    const out: WireFilterRule[] = [];
    for (const r of this.rules) {
      // Ports per address family: a CIDR destination may cover only one of the two.
      const v4 = this.portsFor(r, i, FAM4);
      const v6 = this.portsFor(r, i, FAM6);
      if (v4 && v6 && samePorts(v4, v6)) out.push(wire(r.acl, r.srcs, v4));
      else {
        if (v4) out.push(wire(r.acl, r.srcs, v4, 4));
        if (v6) out.push(wire(r.acl, r.srcs, v6, 6));
      }
    }
    for (const r of this.rules) out.push(...(r.forward.get(i) ?? []));
    return out;
  }

  /** Whether a and b may talk in at least one direction (then each is sent the other). */
  canSee(a: string, b: string): boolean {
    const i = this.indexOf(a);
    const j = this.indexOf(b);
    if (i === j) return false;
    for (const r of this.rules) {
      if (r.srcMask[i] & r.dstUnion[j] || r.srcMask[j] & r.dstUnion[i]) return true;
    }
    return false;
  }

  /** Ids of the nodes visible to `id`, in node-list order. */
  peers(id: string): string[] {
    const i = this.indexOf(id);
    const seen = this.scratch;
    seen.fill(0);
    let all = false;
    for (const r of this.rules) {
      const asDst = r.dstUnion[i];
      if (asDst) {
        if (r.srcAllNodes) {
          all = true;
          break;
        }
        for (const s of r.srcNodes) if (r.srcMask[s] & asDst) seen[s] = 1;
      }
      const asSrc = r.srcMask[i];
      if (asSrc) for (const d of r.dstNodes) if (r.dstUnion[d] & asSrc) seen[d] = 1;
    }
    const out: string[] = [];
    for (let k = 0; k < this.nodes.length; k++) if (k !== i && (all || seen[k])) out.push(this.nodes[k].id);
    return out;
  }

  private portsFor(r: CompiledRule, i: number, fam: number): Array<[number, number]> | null {
    let ports: Array<[number, number]> | null = null;
    for (let d = 0; d < r.dstMasks.length; d++) {
      if (!(r.dstMasks[d][i] & fam)) continue;
      // The common single-entry case shares the entry's array across all nodes.
      if (!ports) ports = r.dstPorts[d];
      else ports = mergePorts([...ports, ...r.dstPorts[d]]);
    }
    return ports;
  }

  private indexOf(id: string): number {
    const i = this.index.get(id);
    if (i === undefined) throw new RangeError(`unknown node ${id}`);
    return i;
  }

  private sourceCidrs(srcs: Selector[]): string[] {
    if (srcs.some((s) => s.kind === 'all')) return ALL_SRCS;
    const prefixes: Prefix[] = [];
    for (const s of srcs) {
      if (s.kind === 'prefix') {
        prefixes.push(s.prefix);
        continue;
      }
      const m = this.mask(s);
      for (let i = 0; i < m.length; i++) {
        if (m[i] & FAM4) prefixes.push(this.v4[i]);
        if (m[i] & FAM6) prefixes.push(this.v6[i]);
      }
    }
    return aggregate(prefixes);
  }

  /** Per node, which of its addresses the selector covers. Cached per selector. */
  private mask(s: Selector): Uint8Array {
    const key = selectorKey(s);
    let m = this.masks.get(key);
    if (m) return m;
    m = new Uint8Array(this.nodes.length);
    const both = FAM4 | FAM6;
    switch (s.kind) {
      case 'all':
        m.fill(both);
        break;
      case 'user':
        this.nodes.forEach((n, i) => { if (n.user !== null && normalizeUser(n.user) === s.user && n.tags.length === 0) m![i] = both; });
        break;
      case 'group': {
        const users = new Set(this.policy.groups.get(s.group) ?? []);
        this.nodes.forEach((n, i) => { if (n.user !== null && users.has(normalizeUser(n.user)) && n.tags.length === 0) m![i] = both; });
        break;
      }
      case 'tag':
        this.nodes.forEach((n, i) => { if (n.tags.includes(s.tag)) m![i] = both; });
        break;
      case 'node':
        this.nodes.forEach((n, i) => { if (n.name.toLowerCase() === s.name) m![i] = both; });
        break;
      case 'prefix':
        for (let i = 0; i < this.nodes.length; i++) {
          if (contains(s.prefix, this.v4[i])) m[i] |= FAM4;
          if (contains(s.prefix, this.v6[i])) m[i] |= FAM6;
        }
        break;
      case 'internet':
        // Names no node: only routers' forwarding rules (forwardRules) see it.
        break;
    }
    this.masks.set(key, m);
    return m;
  }
}

function wire(acl: AclRule, srcs: string[], ports: Array<[number, number]>, family?: 4 | 6, dsts?: string[]): WireFilterRule {
  const rule: WireFilterRule = { srcs, ports };
  if (acl.protos) rule.protos = acl.protos;
  if (family) rule.family = family;
  if (dsts) rule.dsts = dsts;
  return rule;
}

/**
 * What `acl` lets its sources reach through `router`: each destination clipped to the
 * router's approved subnets (`*` = all of them plus, on an exit node, the internet;
 * `autogroup:internet` = the internet on an exit node). Destinations with equal ports
 * share one rule.
 */
function forwardRules(acl: AclRule, srcs: string[], dstPorts: Array<Array<[number, number]>>, router: Router): WireFilterRule[] {
  const out: WireFilterRule[] = [];
  acl.dsts.forEach((d, k) => {
    const sel = d.selector;
    let dsts: string[] = [];
    if (sel.kind === 'all') dsts = [...router.routes.map(formatPrefix), ...router.internet];
    else if (sel.kind === 'internet') dsts = router.internet;
    else if (sel.kind === 'prefix') {
      for (const r of router.routes) {
        const o = overlap(sel.prefix, r);
        if (o) dsts.push(formatPrefix(o));
      }
    }
    if (!dsts.length) return;
    const same = out.find((r) => samePorts(r.ports, dstPorts[k]));
    if (same) same.dsts = [...new Set([...same.dsts!, ...dsts])];
    else out.push(wire(acl, srcs, dstPorts[k], undefined, dsts));
  });
  return out;
}

/** Compiles `policy` against the current node list. Cheap to redo on any change. */
export function compilePolicy(policy: Policy, nodes: readonly PolicyNode[]): CompiledPolicy {
  return new CompiledPolicy(policy, nodes);
}

const sameList = <T>(a: readonly T[] | undefined, b: readonly T[] | undefined, eq: (x: T, y: T) => boolean): boolean =>
  a === b || (!!a && !!b && a.length === b.length && a.every((x, i) => eq(x, b[i])));

/** Whether two filters are identical: the coordinator sends a node a new filter only when not. */
export function filtersEqual(a: readonly WireFilterRule[], b: readonly WireFilterRule[]): boolean {
  return sameList(a, b, (x, y) =>
    x.family === y.family &&
    sameList(x.dsts, y.dsts, (s, t) => s === t) &&
    sameList(x.protos, y.protos, (p, q) => p === q) &&
    sameList(x.ports, y.ports, (p, q) => p[0] === q[0] && p[1] === q[1]) &&
    sameList(x.srcs, y.srcs, (s, t) => s === t),
  );
}
