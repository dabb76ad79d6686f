import { normalizeUser, type Policy } from '../../policy/index.js';

// Groups from the OIDC provider's claim, as policy groups: a user whose last login said
// it is in `eng` is a member of `group:eng` when the policy declares that group (with
// any local members, or `[]`). Declaring keeps policy references checkable offline
// (`weft policy check`) and means a provider's group never grants access by itself.

/** Provider group name as a policy group name: lower case, or null when it cannot be one. */
export function policyGroupName(g: string): string | null {
  const name = `group:${g.toLowerCase()}`;
  return /^group:[a-z0-9][a-z0-9._-]{0,62}$/.test(name) ? name : null;
}

/** `policy` with each declared group extended by the users the provider puts in it. */
export function withProviderGroups(policy: Policy, userGroups: ReadonlyMap<string, readonly string[]>): Policy {
  if (userGroups.size === 0) return policy;
  const groups = new Map(policy.groups);
  for (const [login, names] of userGroups) {
    const user = normalizeUser(login);
    for (const g of names) {
      const name = policyGroupName(g);
      const members = name === null ? undefined : groups.get(name);
      if (members && !members.includes(user)) groups.set(name!, [...members, user]);
    }
  }
  return { ...policy, groups };
}
