import { WeftError } from '../../errors.js';
import type { IdentityStore } from './identity-types.js';
import type { LoginStore } from './login-types.js';
import type { DnsRecord, DnsRecordType } from '../../wire/control.js';

// The coordinator's persistent state behind one small interface; SQLite (embedded) and
// PostgreSQL (several coordinators sharing a database) implement it and pass the same
// compliance suite (test/integration/store-compliance.ts). Times are Unix milliseconds.

export interface NodeRecord {
  id: number;
  publicKey: string;
  name: string;
  hostname: string | null;
  ipv4: string;
  ipv6: string;
  endpoints: string[];
  createdAt: number;
  lastSeen: number | null;
  expiresAt: number | null;
  ephemeral: boolean;
  tags: string[];
  authKeyId: number | null;
  user: string | null;
  /** Subnet routes (and 0.0.0.0/0, ::/0 for an exit node) the node advertises (migration 3). */
  advertisedRoutes: string[];
  /** Routes an admin or autoApprovers approved; may hold routes no longer advertised. */
  approvedRoutes: string[];
}

export type NewNode = Omit<NodeRecord, 'id' | 'user' | 'advertisedRoutes' | 'approvedRoutes'> & { user?: string | null; advertisedRoutes?: string[]; approvedRoutes?: string[] };

export interface AuthKeyRecord {
  id: number;
  prefix: string;
  hash: string;
  reusable: boolean;
  ephemeral: boolean;
  tags: string[];
  createdAt: number;
  expiresAt: number | null;
  usedCount: number;
  revoked: boolean;
  /** The user nodes registered with this key belong to (untagged keys only). */
  user: string | null;
}

export type NewAuthKey = Omit<AuthKeyRecord, 'id' | 'usedCount' | 'revoked' | 'user'> & { user?: string | null };

/** The stored access policy text (HuJSON, comments kept). */
export interface PolicyRecord {
  text: string;
  updatedAt: number;
}

/** `read` keys may only GET; `admin` keys may change state (migration 7; older keys are admin). */
export type ApiKeyScope = 'admin' | 'read';

export interface ApiKeyRecord {
  id: number;
  prefix: string;
  hash: string;
  scope: ApiKeyScope;
  createdAt: number;
  expiresAt: number | null;
  revoked: boolean;
}

export type NewApiKey = Omit<ApiKeyRecord, 'id' | 'revoked'>;

/** One admin change (audit log). `detail` is a summary without secrets. */
export interface AuditRecord {
  id: number;
  at: number;
  /** `apikey:<id>`, or `local:<user>` for the admin socket. */
  actor: string;
  /** e.g. `authkey.create`, `node.delete`, `policy.set`. */
  action: string;
  target: string;
  detail: Record<string, unknown>;
  /** The remote address, or `local socket`. */
  source: string;
}

export type NewAuditRecord = Omit<AuditRecord, 'id'>;

/** A web console session (migration 6); the cookie token itself is never stored. */
export interface ConsoleSessionRecord {
  /** SHA-256 of the session token, hex. */
  tokenHash: string;
  /** Who logged in, e.g. `apikey:3`. */
  actor: string;
  /** How they proved it, e.g. `apikey`. */
  method: string;
  createdAt: number;
  expiresAt: number;
}

/** What other coordinator instances sharing the database announce (PostgreSQL only). */
export type StoreChange =
  | { kind: 'node-upsert'; id: number }
  | { kind: 'node-remove'; node: NodeRecord }
  | { kind: 'seen'; ids: number[]; at: number }
  | { kind: 'policy' }
  /** The admin-set MagicDNS records changed (migration 9). */
  | { kind: 'dns' }
  /** Announcements may have been missed (listener reconnected): reload everything. */
  | { kind: 'resync' };

export interface Store {
  /** Creates or migrates the schema; safe to run from several instances at once. */
  init(): Promise<void>;
  close(): Promise<void>;
  /** Users, local admins and sealed values (identity-types.ts). */
  readonly identity: IdentityStore;
  /** OIDC logins in progress (login-types.ts). */
  readonly logins: LoginStore;
  /** The highest migration applied (schema_migrations). */
  schemaVersion(): Promise<number>;

  /** Returns the stored value for `key`, storing `make()` first if there is none. */
  getOrCreateMeta(key: string, make: () => string): Promise<string>;

  createAuthKey(k: NewAuthKey): Promise<AuthKeyRecord>;
  listAuthKeys(): Promise<AuthKeyRecord[]>;
  findAuthKeysByPrefix(prefix: string): Promise<AuthKeyRecord[]>;
  revokeAuthKey(id: number): Promise<boolean>;

  createApiKey(k: NewApiKey): Promise<ApiKeyRecord>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  findApiKeysByPrefix(prefix: string): Promise<ApiKeyRecord[]>;
  revokeApiKey(id: number): Promise<boolean>;

  listNodes(): Promise<NodeRecord[]>;
  getNode(id: number): Promise<NodeRecord | null>;
  getNodeByKey(publicKey: string): Promise<NodeRecord | null>;
  /**
   * Inserts a node, consuming one use of `authKeyId` in the same transaction. Throws
   * ControlError ERR_AUTHKEY_{REVOKED,EXPIRED,USED} (checked at `now`) or
   * StoreConflictError naming the unique column that collided.
   */
  insertNode(n: NewNode, authKeyId: number | null, now: number): Promise<NodeRecord>;
  /**
   * Re-authentication of a known node key (`weft up --force-reauth`): consumes one use of
   * `authKeyId` (same errors as insertNode) and sets the node's expiry, in one transaction.
   */
  reauthNode(id: number, authKeyId: number, expiresAt: number | null, now: number): Promise<NodeRecord | null>;
  updateNode(id: number, patch: Partial<Pick<NodeRecord, 'name' | 'endpoints' | 'lastSeen' | 'expiresAt' | 'advertisedRoutes' | 'approvedRoutes'>>): Promise<NodeRecord | null>;
  deleteNode(id: number): Promise<NodeRecord | null>;
  /** Batch "checked in at `at`" for nodes with a live stream. */
  touchNodes(ids: number[], at: number): Promise<void>;

  /** The access policy; null until an admin sets one. */
  getPolicy(): Promise<PolicyRecord | null>;
  setPolicy(text: string, now: number): Promise<PolicyRecord>;

  /** MagicDNS records set by admins (migration 9), sorted by name, type, value. */
  listDnsRecords(): Promise<DnsRecord[]>;
  /** Replaces the records of `type` at `name` with `values` in one transaction (none: removes them). */
  setDnsRecords(name: string, type: DnsRecordType, values: readonly string[], now: number): Promise<void>;
  /** Removes the records at `name` (of `type`, or all); returns those removed. */
  deleteDnsRecords(name: string, type?: DnsRecordType): Promise<DnsRecord[]>;

  appendAudit(e: NewAuditRecord): Promise<AuditRecord>;
  /** The newest `limit` entries at or after `since`, oldest first. */
  listAudit(since: number, limit: number): Promise<AuditRecord[]>;

  createConsoleSession(s: ConsoleSessionRecord): Promise<void>;
  /** The session with this token hash, if it has not expired at `now`. */
  getConsoleSession(tokenHash: string, now: number): Promise<ConsoleSessionRecord | null>;
  deleteConsoleSession(tokenHash: string): Promise<boolean>;
  /** Drops sessions expired at `now`; returns how many. */
  deleteExpiredConsoleSessions(now: number): Promise<number>;

  /** Changes made by other instances; returns an unsubscribe function. */
  subscribe(fn: (c: StoreChange) => void): () => void;
}

export class StoreConflictError extends Error {
  readonly code = 'ERR_STORE_CONFLICT';
  constructor(readonly column: string) {
    super(`unique constraint on ${column}`);
  }
}

/** The database was migrated by a newer Weft than this one; nothing is changed. */
export class SchemaTooNewError extends WeftError {
  constructor(readonly found: number, readonly supported: number) {
    super('ERR_SCHEMA_TOO_NEW', `database schema version ${found} is newer than this weft supports (${supported}); run the newer weft or restore a backup`);
  }
}
