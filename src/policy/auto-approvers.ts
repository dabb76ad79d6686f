import { parsePrefix, type Prefix } from '../net/prefix.js';
import { normalizeUser, type Policy, type PolicyNode, type Selector } from './types.js';

// autoApprovers (as Tailscale's): an advertised subnet route is approved without an
// admin when it lies inside a listed prefix whose selectors match the advertising node;
// 0.0.0.0/0 and ::/0 (an exit node) when `exitNode` matches it.

function contains(outer: Prefix, inner: Prefix): boolean {
  if (outer.family !== inner.family || outer.bits > inner.bits) return false;
  for (let bit = 0; bit < outer.bits; bit++) {
    const m = 0x80 >> (bit & 7);
    if ((outer.bytes[bit >> 3] & m) !== (inner.bytes[bit >> 3] & m)) return false;
  }
  return true;
}

/** Whether `sel` names `node` (user, group member, tag, node name, or a prefix holding its address). */
export function selectorMatchesNode(policy: Policy, sel: Selector, node: PolicyNode): boolean {
  const user = node.user === null ? null : normalizeUser(node.user);
  switch (sel.kind) {
    case 'all':
      return true;
    case 'user':
      return user === sel.user;
    case 'group':
      return user !== null && (policy.groups.get(sel.group) ?? []).includes(user);
    case 'tag':
      return node.tags.includes(sel.tag);
    case 'node':
      return node.name.toLowerCase() === sel.name;
    case 'prefix':
      return contains(sel.prefix, parsePrefix(node.ipv4)) || contains(sel.prefix, parsePrefix(node.ipv6));
    case 'internet':
      return false;
  }
}

export const isExitRoute = (r: string): boolean => r === '0.0.0.0/0' || r === '::/0';

/** The subset of `routes` (canonical CIDRs) the policy approves for `node`. */
export function autoApproved(policy: Policy, node: PolicyNode, routes: readonly string[]): string[] {
  const a = policy.autoApprovers;
  if (!a) return [];
  return routes.filter((r) => {
    if (isExitRoute(r)) return a.exitNode.some((s) => selectorMatchesNode(policy, s, node));
    const p = parsePrefix(r);
    return a.routes.some((e) => contains(e.prefix, p) && e.srcs.some((s) => selectorMatchesNode(policy, s, node)));
  });
}
