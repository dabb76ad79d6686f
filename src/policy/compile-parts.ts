import { formatPrefix, type Prefix } from '../net/prefix.js';
import type { AclRule, Selector } from './types.js';

// The pieces of a compiled policy that do not depend on the node set: the wire shape of
// a filter rule, prefix and port-range arithmetic, and a router's forwarding rules.

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

export const FAM4 = 1;
export const FAM6 = 2;
export const ALL_SRCS = ['0.0.0.0/0', '::/0'];

/** A node's approved routes, parsed once per compile. */
export interface Router {
  routes: Prefix[];
  /** `autogroup:internet` on an approved exit node: everything but its own subnets. */
  internet: string[];
}

export function contains(p: Prefix, addr: Prefix): boolean {
  if (p.family !== addr.family) return false;
  for (let bit = 0; bit < p.bits; bit++) {
    const i = bit >> 3;
    const m = 0x80 >> (bit & 7);
    if ((p.bytes[i] & m) !== (addr.bytes[i] & m)) return false;
  }
  return true;
}

/** The part of `a` inside `b` (CIDRs either nest or are disjoint), or null. */
export function overlap(a: Prefix, b: Prefix): Prefix | null {
  if (a.bits >= b.bits) return contains(b, a) ? a : null;
  return contains(a, b) ? b : null;
}

export function mergePorts(ranges: Array<[number, number]>): Array<[number, number]> {
  const sorted = ranges.map((r) => [r[0], r[1]] as [number, number]).sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push(r);
  }
  return out;
}

export function samePorts(a: Array<[number, number]>, b: Array<[number, number]>): boolean {
  return a === b || (a.length === b.length && a.every((r, k) => r[0] === b[k][0] && r[1] === b[k][1]));
}

export function selectorKey(s: Selector): string {
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

export function wire(acl: AclRule, srcs: string[], ports: Array<[number, number]>, family?: 4 | 6, dsts?: string[]): WireFilterRule {
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
export function forwardRules(acl: AclRule, srcs: string[], dstPorts: Array<Array<[number, number]>>, router: Router): WireFilterRule[] {
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
