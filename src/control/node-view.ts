import type { NodeRecord } from './store/index.js';
import type { NodeView } from '../wire/control.js';

// A stored node as the wire shows it to peers and admins (times as ISO 8601, approved
// routes only while still advertised). The registry caches the result per node.
export function nodeView(n: NodeRecord, domain: string, online: boolean, expired: boolean): NodeView {
  return {
    id: n.id,
    name: n.name,
    fqdn: `${n.name}.${domain}`,
    ipv4: n.ipv4,
    ipv6: n.ipv6,
    publicKey: n.publicKey,
    endpoints: n.endpoints,
    online,
    expired,
    lastSeen: n.lastSeen === null ? null : new Date(n.lastSeen).toISOString(),
    createdAt: new Date(n.createdAt).toISOString(),
    expiresAt: n.expiresAt === null ? null : new Date(n.expiresAt).toISOString(),
    ephemeral: n.ephemeral,
    tags: n.tags,
    user: n.user,
    advertisedRoutes: n.advertisedRoutes,
    approvedRoutes: n.approvedRoutes.filter((r) => n.advertisedRoutes.includes(r)),
  };
}
