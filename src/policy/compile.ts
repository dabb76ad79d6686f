import { formatPrefix, parsePrefix, type Prefix } from '../net/prefix.js';
import { aggregate, complement } from './cidr-set.js';
import { ALL_SRCS, contains, FAM4, FAM6, forwardRules, mergePorts, samePorts, selectorKey, wire, type Router, type WireFilterRule } from './compile-parts.js';
import { normalizeUser, type AclRule, type Policy, type PolicyNode, type Selector } from './types.js';

export { filtersEqual, type WireFilterRule } from './compile-parts.js';

// Policy -> per-node packet filters and peer visibility (Headscale's compileFilterRules
// + ReduceFilterRules + BuildPeerMap, without their O(n²) per event).
//
// Every selector keeps a per-node family mask (bit 1: the node's IPv4 is covered, bit 2:
// its IPv6) and every rule the member sets of its sources and destinations. A node that
// joins, leaves or changes touches only its own slot in each mask (O(selectors + rules));
// the aggregated source CIDRs of the rules it is a source of are recomputed on demand.
// A node's filter is read off the rules in O(rules), visibility of a pair is O(rules),
// and listing a node's peers is proportional to the members of the rules it is in.

const BOTH = FAM4 | FAM6;

/** One selector's per-slot family mask (replaced, not resized, when the slots grow). */
interface Mask {
  selector: Selector;
  mask: Uint8Array;
}

interface CompiledRule {
  acl: AclRule;
  /** What the rule compiles from (its line aside): equal texts compile equally. */
  text: string;
  /** The masks of its source and destination selectors, looked up once. */
  srcMasks: Mask[];
  dstMasks: Mask[];
  /** Source selectors as a key: rules with equal sources share their CIDR list. */
  srcKey: string;
  /** Per slot: its addresses covered by some source (visibility only needs != 0). */
  srcMask: Uint8Array;
  srcNodes: Set<number>;
  /** Slots whose srcMask covers both addresses: all live nodes = everyone is a source. */
  srcFull: number;
  dstPorts: Array<Array<[number, number]>>;
  dstNodes: Set<number>;
  dstUnion: Uint8Array;
  /** Per router slot: the forwarding rules this ACL gives it (srcs filled in by filter()). */
  forward: Map<number, WireFilterRule[]>;
}

/** The CIDRs of one set of source selectors: named nodes' addresses plus literal prefixes. */
interface Sources {
  selectors: Selector[];
  members: Set<number>;
  cidrs: string[] | null;
}

export class CompiledPolicy {
  private readonly index = new Map<string, number>();
  private slots: Array<PolicyNode | null> = [];
  private v4: Array<Prefix | null> = [];
  private v6: Array<Prefix | null> = [];
  private readonly free: number[] = [];
  private live = 0;
  private readonly masks = new Map<string, Mask>();
  private readonly sources = new Map<string, Sources>();
  private readonly rules: CompiledRule[];
  private readonly groups = new Map<string, Set<string>>();

  constructor(policy: Policy, nodes: readonly PolicyNode[]) {
    for (const [g, users] of policy.groups) this.groups.set(g, new Set(users));
    this.rules = policy.acls.map((acl) => {
      const srcKey = acl.srcs.map(selectorKey).sort().join(' ');
      if (!this.sources.has(srcKey)) this.sources.set(srcKey, { selectors: acl.srcs, members: new Set(), cidrs: acl.srcs.some((s) => s.kind === 'all') ? ALL_SRCS : null });
      const mask = (s: Selector): Mask => {
        const k = selectorKey(s);
        let m = this.masks.get(k);
        if (!m) this.masks.set(k, (m = { selector: s, mask: new Uint8Array(0) }));
        return m;
      };
      const dstMasks = acl.dsts.map((d) => mask(d.selector));
      return {
        acl,
        text: JSON.stringify([acl.srcs, acl.dsts, acl.protos]),
        srcMasks: acl.srcs.map(mask),
        dstMasks,
        srcKey,
        srcMask: new Uint8Array(0),
        srcNodes: new Set<number>(),
        srcFull: 0,
        dstPorts: acl.dsts.map((d) => mergePorts(d.ports.map((p) => [p.first, p.last] as [number, number]))),
        dstNodes: new Set<number>(),
        dstUnion: new Uint8Array(0),
        forward: new Map<number, WireFilterRule[]>(),
      };
    });
    this.grow(Math.max(16, nodes.length));
    for (const n of nodes) this.add(n);
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  /** Live node count. */
  get size(): number {
    return this.live;
  }

  /**
   * Adds `n`, or replaces the node with its id. Returns the ids of the other nodes whose
   * filter may have changed (destinations of rules whose source CIDRs moved).
   */
  upsert(n: PolicyNode): Set<string> {
    const touched = new Set<string>();
    if (this.index.has(n.id)) this.unlink(this.index.get(n.id)!, touched);
    this.add(n, touched);
    return this.othersOf(touched, n.id);
  }

  /** Removes node `id` (absent: nothing); returns the ids whose filter may have changed. */
  remove(id: string): Set<string> {
    const touched = new Set<string>();
    const i = this.index.get(id);
    if (i !== undefined) this.unlink(i, touched);
    return this.othersOf(touched, id);
  }

  /** The filter for node `id` (rules where it is the destination); [] = deny all. */
  filter(id: string): WireFilterRule[] {
    const i = this.indexOf(id);
    const out: WireFilterRule[] = [];
    for (const r of this.rules) {
      if (!r.dstUnion[i]) continue;
      // Ports per address family: a CIDR destination may cover only one of the two.
      const v4 = this.portsFor(r, i, FAM4);
      const v6 = this.portsFor(r, i, FAM6);
      if (!v4 && !v6) continue;
      const srcs = this.srcsOf(r);
      if (v4 && v6 && samePorts(v4, v6)) out.push(wire(r.acl, srcs, v4));
      else {
        if (v4) out.push(wire(r.acl, srcs, v4, 4));
        if (v6) out.push(wire(r.acl, srcs, v6, 6));
      }
    }
    for (const r of this.rules) for (const f of r.forward.get(i) ?? []) out.push({ ...f, srcs: this.srcsOf(r) });
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

  /** Ids of the nodes visible to `id`, in slot order (node-list order after a fresh compile). */
  peers(id: string): string[] {
    const i = this.indexOf(id);
    const seen = new Set<number>();
    for (const r of this.rules) {
      const asDst = r.dstUnion[i];
      if (asDst) {
        if (r.srcFull === this.live) return this.allBut(i);
        for (const s of r.srcNodes) if (r.srcMask[s] & asDst) seen.add(s);
      }
      const asSrc = r.srcMask[i];
      if (asSrc) for (const d of r.dstNodes) if (r.dstUnion[d] & asSrc) seen.add(d);
    }
    seen.delete(i);
    return [...seen].sort((a, b) => a - b).map((s) => this.slots[s]!.id);
  }

  /**
   * The nodes whose peers or filter may differ between `prev` (an earlier compilation)
   * and this one because the policy changed: the members of the rules that differ, by
   * position. null: the groups or the number of rules changed, so any node may differ.
   * Node changes since `prev` are not counted (their own fan-out told their peers).
   */
  changedSince(prev: CompiledPolicy): Set<string> | null {
    if (prev.rules.length !== this.rules.length || !sameGroups(prev.groups, this.groups)) return null;
    const out = new Set<string>();
    for (let k = 0; k < this.rules.length; k++) {
      if (prev.rules[k].text === this.rules[k].text) continue;
      for (const [c, r] of [[prev, prev.rules[k]], [this, this.rules[k]]] as const) {
        for (const s of r.srcNodes) out.add(c.slots[s]!.id);
        for (const d of r.dstNodes) out.add(c.slots[d]!.id);
      }
    }
    return out;
  }

  private allBut(i: number): string[] {
    const out: string[] = [];
    for (let k = 0; k < this.slots.length; k++) if (k !== i && this.slots[k]) out.push(this.slots[k]!.id);
    return out;
  }

  private othersOf(touched: Set<string>, self: string): Set<string> {
    const out = new Set<string>();
    for (const r of this.rules) {
      if (!touched.has(r.srcKey)) continue;
      for (const d of r.dstNodes) out.add(this.slots[d]!.id);
    }
    out.delete(self);
    return out;
  }

  private add(n: PolicyNode, touched?: Set<string>): void {
    if (!this.free.length) this.grow(this.slots.length * 2);
    const i = this.free.pop()!;
    this.index.set(n.id, i);
    this.slots[i] = n;
    this.v4[i] = addressPrefix(n.ipv4);
    this.v6[i] = addressPrefix(n.ipv6);
    this.live++;
    for (const { selector, mask } of this.masks.values()) mask[i] = this.bits(selector, n, i);
    const router = n.routes?.length || n.exit ? this.router(n) : null;
    for (const r of this.rules) {
      let src = 0;
      for (const m of r.srcMasks) src |= m.mask[i];
      r.srcMask[i] = src;
      if (src) r.srcNodes.add(i);
      if (src === BOTH) r.srcFull++;
      let dst = 0;
      for (const m of r.dstMasks) dst |= m.mask[i];
      const fwd = router ? forwardRules(r.acl, [], r.dstPorts, router) : [];
      // Sources allowed through the router see it (and it them), in any family.
      if (fwd.length) {
        r.forward.set(i, fwd);
        dst = BOTH;
      }
      r.dstUnion[i] = dst;
      if (dst) r.dstNodes.add(i);
    }
    this.linkSources(i, n, true, touched);
  }

  private unlink(i: number, touched: Set<string>): void {
    const n = this.slots[i]!;
    this.linkSources(i, n, false, touched);
    for (const r of this.rules) {
      if (r.srcMask[i] === BOTH) r.srcFull--;
      r.srcMask[i] = 0;
      r.srcNodes.delete(i);
      r.dstUnion[i] = 0;
      r.dstNodes.delete(i);
      r.forward.delete(i);
    }
    for (const { mask } of this.masks.values()) mask[i] = 0;
    this.index.delete(n.id);
    this.slots[i] = this.v4[i] = this.v6[i] = null;
    this.free.push(i);
    this.live--;
  }

  // A node named by a source selector (not a literal prefix) puts its addresses in the CIDRs.
  private linkSources(i: number, n: PolicyNode, add: boolean, touched: Set<string> | undefined): void {
    for (const [key, s] of this.sources) {
      if (s.cidrs === ALL_SRCS) continue;
      if (!s.selectors.some((sel) => sel.kind !== 'prefix' && this.bits(sel, n, i))) continue;
      if (add) s.members.add(i);
      else s.members.delete(i);
      s.cidrs = null;
      touched?.add(key);
    }
  }

  private srcsOf(r: CompiledRule): string[] {
    const s = this.sources.get(r.srcKey)!;
    if (s.cidrs) return s.cidrs;
    const prefixes: Prefix[] = [];
    for (const sel of s.selectors) if (sel.kind === 'prefix') prefixes.push(sel.prefix);
    for (const m of s.members) prefixes.push(this.v4[m]!, this.v6[m]!);
    return (s.cidrs = aggregate(prefixes));
  }

  private router(n: PolicyNode): Router {
    const routes = (n.routes ?? []).map((r) => parsePrefix(r));
    return { routes, internet: n.exit ? [...complement(routes, 4), ...complement(routes, 6)] : [] };
  }

  /** Which of node `n`'s addresses (at slot i) selector `s` covers. */
  private bits(s: Selector, n: PolicyNode, i: number): number {
    switch (s.kind) {
      case 'all':
        return BOTH;
      case 'user':
        return n.user !== null && n.tags.length === 0 && normalizeUser(n.user) === s.user ? BOTH : 0;
      case 'group':
        return n.user !== null && n.tags.length === 0 && (this.groups.get(s.group)?.has(normalizeUser(n.user)) ?? false) ? BOTH : 0;
      case 'tag':
        return n.tags.includes(s.tag) ? BOTH : 0;
      case 'node':
        return n.name.toLowerCase() === s.name ? BOTH : 0;
      case 'prefix':
        return (contains(s.prefix, this.v4[i]!) ? FAM4 : 0) | (contains(s.prefix, this.v6[i]!) ? FAM6 : 0);
      case 'internet':
        // Names no node: only routers' forwarding rules (forwardRules) see it.
        return 0;
    }
  }

  private grow(cap: number): void {
    const old = this.slots.length;
    const widen = (a: Uint8Array): Uint8Array => {
      const b = new Uint8Array(cap);
      b.set(a);
      return b;
    };
    for (const m of this.masks.values()) m.mask = widen(m.mask);
    for (const r of this.rules) {
      r.srcMask = widen(r.srcMask);
      r.dstUnion = widen(r.dstUnion);
    }
    for (let k = old; k < cap; k++) {
      this.slots.push(null);
      this.v4.push(null);
      this.v6.push(null);
    }
    // Lowest slots first: a fresh compile keeps node-list order.
    for (let k = cap - 1; k >= old; k--) this.free.push(k);
  }

  private portsFor(r: CompiledRule, i: number, fam: number): Array<[number, number]> | null {
    let ports: Array<[number, number]> | null = null;
    for (let d = 0; d < r.dstMasks.length; d++) {
      if (!(r.dstMasks[d].mask[i] & fam)) continue;
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
}

function sameGroups(a: Map<string, Set<string>>, b: Map<string, Set<string>>): boolean {
  if (a.size !== b.size) return false;
  for (const [g, users] of a) {
    const other = b.get(g);
    if (!other || other.size !== users.size || [...users].some((u) => !other.has(u))) return false;
  }
  return true;
}

// A policy edit recompiles every node: their addresses are parsed once, not per compile.
const ADDRESS_CACHE_MAX = 1 << 16;
const addresses = new Map<string, Prefix>();
function addressPrefix(s: string): Prefix {
  let p = addresses.get(s);
  if (p) return p;
  if (addresses.size >= ADDRESS_CACHE_MAX) addresses.clear();
  addresses.set(s, (p = parsePrefix(s)));
  return p;
}

/** Compiles `policy` against the current node list; then keep it current with upsert/remove. */
export function compilePolicy(policy: Policy, nodes: readonly PolicyNode[]): CompiledPolicy {
  return new CompiledPolicy(policy, nodes);
}
