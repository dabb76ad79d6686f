import { normalizeUser, type Policy } from './types.js';

// "Only a tag's owners may create keys with it": owners are users, groups of users, or
// other tags (nodes carrying an owning tag may apply it, as in Tailscale). Owner chains
// through tags are followed with a visited set, so cycles end.

export interface TagPrincipal {
  user?: string | null;
  tags?: readonly string[];
}

/** Whether `who` may give `tag` to a node (create a pre-auth key carrying it). */
export function mayUseTag(policy: Policy, tag: string, who: TagPrincipal): boolean {
  const user = who.user ? normalizeUser(who.user) : null;
  const visited = new Set<string>();
  const owns = (t: string): boolean => {
    if (visited.has(t)) return false;
    visited.add(t);
    for (const o of policy.tagOwners.get(t) ?? []) {
      if (o.startsWith('group:')) {
        if (user !== null && (policy.groups.get(o) ?? []).includes(user)) return true;
      } else if (o.startsWith('tag:')) {
        if (who.tags?.includes(o) || owns(o)) return true;
      } else if (o === user) return true;
    }
    return false;
  };
  return owns(tag);
}
