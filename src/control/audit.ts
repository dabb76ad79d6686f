import type { Socket } from 'node:net';
import { loadNative } from '../io/native.js';
import { badRequest } from './errors.js';
import type { AuditRecord, Store } from './store/index.js';

// The audit log: one entry per admin change, written after the change succeeded.
// Entries name keys by id only and summarize changes (a policy by size and hash), so
// nothing secret is ever stored in them.

export const DEFAULT_AUDIT_LIMIT = 100;
export const MAX_AUDIT_LIMIT = 1000;

export interface AuditEntryView {
  id: string;
  time: string;
  actor: string;
  action: string;
  target: string;
  detail: Record<string, unknown>;
  source: string;
}

/** Who made an admin request and from where. */
export interface AuditActor {
  actor: string;
  source: string;
}

/**
 * The admin-socket user, `local:<user>` (SO_PEERCRED, so the kernel vouches for it). The
 * socket is 0600, so it is the server's user or root; `local` when the addon cannot say.
 */
export function localActor(socket: Socket): string {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) return 'local';
  try {
    const c = loadNative().peerCred(fd);
    return `local:${c.user ?? `uid=${c.uid}`}`;
  } catch {
    return 'local';
  }
}

export const auditView = (r: AuditRecord): AuditEntryView => ({ id: String(r.id), time: new Date(r.at).toISOString(), actor: r.actor, action: r.action, target: r.target, detail: r.detail, source: r.source });

export function recordAudit(store: Store, who: AuditActor, at: number, action: string, target: string, detail: Record<string, unknown> = {}): Promise<AuditRecord> {
  return store.appendAudit({ at, ...who, action, target, detail });
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** `since` and `limit` of GET /api/v1/admin/audit (strings from the query). */
export function parseAuditQuery(q: { since?: string; limit?: string }): { since: number; limit: number } {
  const since = q.since === undefined ? 0 : ISO_TIME.test(q.since) ? Date.parse(q.since) : NaN;
  if (!Number.isFinite(since)) throw badRequest('ERR_VALIDATION', 'since must be an ISO 8601 time like 2026-01-31T12:00:00Z', 'since');
  const limit = q.limit === undefined ? DEFAULT_AUDIT_LIMIT : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_LIMIT) throw badRequest('ERR_VALIDATION', `limit must be an integer from 1 to ${MAX_AUDIT_LIMIT}`, 'limit');
  return { since, limit };
}
