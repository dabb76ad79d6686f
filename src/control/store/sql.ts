import { forbidden } from '../errors.js';
import { migrations, SCHEMA_VERSION, type Dialect } from './schema.js';
import { SqlIdentityStore } from './identity-sql.js';
import type { IdentityStore } from './identity-types.js';
import { SqlLoginStore } from './login-sql.js';
import type { LoginStore } from './login-types.js';
import type { DnsRecord, DnsRecordType } from '../../wire/control.js';
import { SchemaTooNewError } from './types.js';
import type { ApiKeyRecord, AuditRecord, AuthKeyRecord, ConsoleSessionRecord, NewAuditRecord, NewApiKey, NewAuthKey, NewNode, NodeRecord, PolicyRecord, Store, StoreChange } from './types.js';

/** The few operations the shared store needs from a database; `?` placeholders. */
export interface Queryable {
  all<T = Row>(sql: string, params?: unknown[]): Promise<T[]>;
  run(sql: string, params?: unknown[]): Promise<number>;
}

export interface SqlDriver extends Queryable {
  readonly dialect: Dialect;
  /** Runs `fn` in one transaction (retried on serialization failures where that applies). */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /** Called after migration: begin receiving other instances' changes. */
  start(): Promise<void>;
  /** Serializes schema migration across instances. */
  migrationLock(q: Queryable): Promise<void>;
  /** Announces a change to other instances when the surrounding transaction commits. */
  announce(q: Queryable, change: StoreChange): Promise<void>;
  subscribe(fn: (c: StoreChange) => void): () => void;
  close(): Promise<void>;
}

export type Row = Record<string, unknown>;

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const bool = (v: unknown): boolean => Number(v) === 1;

export function toNode(r: Row): NodeRecord {
  return {
    id: num(r.id),
    publicKey: String(r.public_key),
    name: String(r.name),
    hostname: (r.hostname as string | null) ?? null,
    ipv4: String(r.ipv4),
    ipv6: String(r.ipv6),
    endpoints: JSON.parse(String(r.endpoints)) as string[],
    createdAt: num(r.created_at),
    lastSeen: numOrNull(r.last_seen),
    expiresAt: numOrNull(r.expires_at),
    ephemeral: bool(r.ephemeral),
    tags: JSON.parse(String(r.tags)) as string[],
    authKeyId: numOrNull(r.auth_key_id),
    user: (r.user as string | null) ?? null,
    advertisedRoutes: JSON.parse(String(r.advertised_routes ?? '[]')) as string[],
    approvedRoutes: JSON.parse(String(r.approved_routes ?? '[]')) as string[],
  };
}

function toAuthKey(r: Row): AuthKeyRecord {
  return {
    id: num(r.id),
    prefix: String(r.prefix),
    hash: String(r.hash),
    reusable: bool(r.reusable),
    ephemeral: bool(r.ephemeral),
    tags: JSON.parse(String(r.tags)) as string[],
    createdAt: num(r.created_at),
    expiresAt: numOrNull(r.expires_at),
    usedCount: num(r.used_count),
    revoked: bool(r.revoked),
    user: (r.user as string | null) ?? null,
  };
}

function toApiKey(r: Row): ApiKeyRecord {
  return { id: num(r.id), prefix: String(r.prefix), hash: String(r.hash), scope: r.scope === 'read' ? 'read' : 'admin', createdAt: num(r.created_at), expiresAt: numOrNull(r.expires_at), revoked: bool(r.revoked) };
}

function toAudit(r: Row): AuditRecord {
  return { id: num(r.id), at: num(r.at), actor: String(r.actor), action: String(r.action), target: String(r.target), detail: JSON.parse(String(r.detail)) as Record<string, unknown>, source: String(r.source) };
}

const toDnsRecord = (r: Row): DnsRecord => ({ name: String(r.name), type: String(r.type) as DnsRecordType, value: String(r.value) });

const b = (v: boolean): number => (v ? 1 : 0);

async function appliedVersion(q: Queryable): Promise<number> {
  const [row] = await q.all<{ v: unknown }>('SELECT MAX(version) AS v FROM schema_migrations');
  return numOrNull(row?.v) ?? 0;
}

/** The Store over any SqlDriver: every query is written once for both dialects. */
export class SqlStore implements Store {
  readonly identity: IdentityStore;
  readonly logins: LoginStore;
  constructor(private readonly db: SqlDriver) {
    this.identity = new SqlIdentityStore(db);
    this.logins = new SqlLoginStore(db);
  }

  async init(): Promise<void> {
    await this.db.run(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at ${this.db.dialect === 'sqlite' ? 'INTEGER' : 'BIGINT'} NOT NULL)`);
    await this.db.tx(async (q) => {
      await this.db.migrationLock(q);
      const current = await appliedVersion(q);
      // Written by a newer Weft: its columns may mean things this code would corrupt.
      if (current > SCHEMA_VERSION) throw new SchemaTooNewError(current, SCHEMA_VERSION);
      for (const m of migrations(this.db.dialect)) {
        if (m.version <= current) continue;
        for (const s of m.statements) await q.run(s);
        await q.run('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)', [m.version, Date.now()]);
      }
    });
    await this.db.start();
  }

  schemaVersion(): Promise<number> {
    return appliedVersion(this.db);
  }

  close(): Promise<void> {
    return this.db.close();
  }

  async getOrCreateMeta(key: string, make: () => string): Promise<string> {
    return this.db.tx(async (q) => {
      await q.run('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING', [key, make()]);
      const [row] = await q.all<{ value: string }>('SELECT value FROM meta WHERE key = ?', [key]);
      return row.value;
    });
  }

  async createAuthKey(k: NewAuthKey): Promise<AuthKeyRecord> {
    const [row] = await this.db.all(
      'INSERT INTO auth_keys (prefix, hash, reusable, ephemeral, tags, created_at, expires_at, "user", user_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, (SELECT id FROM users WHERE login = ?)) RETURNING *',
      [k.prefix, k.hash, b(k.reusable), b(k.ephemeral), JSON.stringify(k.tags), k.createdAt, k.expiresAt, k.user ?? null, k.user ?? null],
    );
    return toAuthKey(row);
  }

  async listAuthKeys(): Promise<AuthKeyRecord[]> {
    return (await this.db.all('SELECT * FROM auth_keys ORDER BY id')).map(toAuthKey);
  }

  async findAuthKeysByPrefix(prefix: string): Promise<AuthKeyRecord[]> {
    return (await this.db.all('SELECT * FROM auth_keys WHERE prefix = ?', [prefix])).map(toAuthKey);
  }

  async revokeAuthKey(id: number): Promise<boolean> {
    return (await this.db.run('UPDATE auth_keys SET revoked = 1 WHERE id = ?', [id])) > 0;
  }

  async createApiKey(k: NewApiKey): Promise<ApiKeyRecord> {
    const [row] = await this.db.all('INSERT INTO api_keys (prefix, hash, scope, created_at, expires_at) VALUES (?, ?, ?, ?, ?) RETURNING *', [k.prefix, k.hash, k.scope, k.createdAt, k.expiresAt]);
    return toApiKey(row);
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    return (await this.db.all('SELECT * FROM api_keys ORDER BY id')).map(toApiKey);
  }

  async findApiKeysByPrefix(prefix: string): Promise<ApiKeyRecord[]> {
    return (await this.db.all('SELECT * FROM api_keys WHERE prefix = ?', [prefix])).map(toApiKey);
  }

  async revokeApiKey(id: number): Promise<boolean> {
    return (await this.db.run('UPDATE api_keys SET revoked = 1 WHERE id = ?', [id])) > 0;
  }

  async listNodes(): Promise<NodeRecord[]> {
    return (await this.db.all('SELECT * FROM nodes ORDER BY id')).map(toNode);
  }

  async getNode(id: number): Promise<NodeRecord | null> {
    const [row] = await this.db.all('SELECT * FROM nodes WHERE id = ?', [id]);
    return row ? toNode(row) : null;
  }

  async getNodeByKey(publicKey: string): Promise<NodeRecord | null> {
    const [row] = await this.db.all('SELECT * FROM nodes WHERE public_key = ?', [publicKey]);
    return row ? toNode(row) : null;
  }

  async insertNode(n: NewNode, authKeyId: number | null, now: number): Promise<NodeRecord> {
    return this.db.tx(async (q) => {
      if (authKeyId !== null) await consumeAuthKey(q, authKeyId, now);
      const [row] = await q.all(
        `INSERT INTO nodes (public_key, name, hostname, ipv4, ipv6, endpoints, created_at, last_seen, expires_at, ephemeral, tags, auth_key_id, "user", advertised_routes, approved_routes, user_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT id FROM users WHERE login = ?)) RETURNING *`,
        [n.publicKey, n.name, n.hostname, n.ipv4, n.ipv6, JSON.stringify(n.endpoints), n.createdAt, n.lastSeen, n.expiresAt, b(n.ephemeral), JSON.stringify(n.tags), authKeyId, n.user ?? null, JSON.stringify(n.advertisedRoutes ?? []), JSON.stringify(n.approvedRoutes ?? []), n.user ?? null],
      );
      const node = toNode(row);
      await this.db.announce(q, { kind: 'node-upsert', id: node.id });
      return node;
    });
  }

  async reauthNode(id: number, authKeyId: number, expiresAt: number | null, now: number): Promise<NodeRecord | null> {
    return this.db.tx(async (q) => {
      const [row] = await q.all('UPDATE nodes SET expires_at = ?, last_seen = ?, auth_key_id = ? WHERE id = ? RETURNING *', [expiresAt, now, authKeyId, id]);
      if (!row) return null;
      // After the update, so a missing node uses no key; a refused key rolls the update back.
      await consumeAuthKey(q, authKeyId, now);
      await this.db.announce(q, { kind: 'node-upsert', id });
      return toNode(row);
    });
  }

  async updateNode(id: number, patch: Partial<Pick<NodeRecord, 'name' | 'endpoints' | 'lastSeen' | 'expiresAt' | 'advertisedRoutes' | 'approvedRoutes'>>): Promise<NodeRecord | null> {
    const sets: string[] = [];
    const params: unknown[] = [];
    if (patch.name !== undefined) sets.push('name = ?') && params.push(patch.name);
    if (patch.endpoints !== undefined) sets.push('endpoints = ?') && params.push(JSON.stringify(patch.endpoints));
    if (patch.lastSeen !== undefined) sets.push('last_seen = ?') && params.push(patch.lastSeen);
    if (patch.expiresAt !== undefined) sets.push('expires_at = ?') && params.push(patch.expiresAt);
    if (patch.advertisedRoutes !== undefined) sets.push('advertised_routes = ?') && params.push(JSON.stringify(patch.advertisedRoutes));
    if (patch.approvedRoutes !== undefined) sets.push('approved_routes = ?') && params.push(JSON.stringify(patch.approvedRoutes));
    if (sets.length === 0) return this.getNode(id);
    return this.db.tx(async (q) => {
      const [row] = await q.all(`UPDATE nodes SET ${sets.join(', ')} WHERE id = ? RETURNING *`, [...params, id]);
      if (!row) return null;
      await this.db.announce(q, { kind: 'node-upsert', id });
      return toNode(row);
    });
  }

  async deleteNode(id: number): Promise<NodeRecord | null> {
    return this.db.tx(async (q) => {
      const [row] = await q.all('DELETE FROM nodes WHERE id = ? RETURNING *', [id]);
      if (!row) return null;
      const node = toNode(row);
      await this.db.announce(q, { kind: 'node-remove', node });
      return node;
    });
  }

  async touchNodes(ids: number[], at: number): Promise<void> {
    // Chunked so each statement and each announcement stays small.
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      await this.db.tx(async (q) => {
        await q.run(`UPDATE nodes SET last_seen = ? WHERE id IN (${chunk.map(() => '?').join(',')})`, [at, ...chunk]);
        await this.db.announce(q, { kind: 'seen', ids: chunk, at });
      });
    }
  }

  async getPolicy(): Promise<PolicyRecord | null> {
    const [row] = await this.db.all('SELECT text, updated_at FROM policy WHERE id = 1');
    return row ? { text: String(row.text), updatedAt: num(row.updated_at) } : null;
  }

  async setPolicy(text: string, now: number): Promise<PolicyRecord> {
    return this.db.tx(async (q) => {
      await q.run('INSERT INTO policy (id, text, updated_at) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET text = excluded.text, updated_at = excluded.updated_at', [text, now]);
      await this.db.announce(q, { kind: 'policy' });
      return { text, updatedAt: now };
    });
  }

  async listDnsRecords(): Promise<DnsRecord[]> {
    return (await this.db.all('SELECT name, type, value FROM dns_records ORDER BY name, type, value')).map(toDnsRecord);
  }

  async setDnsRecords(name: string, type: DnsRecordType, values: readonly string[], now: number): Promise<void> {
    await this.db.tx(async (q) => {
      await q.run('DELETE FROM dns_records WHERE name = ? AND type = ?', [name, type]);
      for (const v of new Set(values)) await q.run('INSERT INTO dns_records (name, type, value, created_at) VALUES (?, ?, ?, ?)', [name, type, v, now]);
      await this.db.announce(q, { kind: 'dns' });
    });
  }

  async deleteDnsRecords(name: string, type?: DnsRecordType): Promise<DnsRecord[]> {
    return this.db.tx(async (q) => {
      const rows = await q.all(`DELETE FROM dns_records WHERE name = ?${type ? ' AND type = ?' : ''} RETURNING name, type, value`, type ? [name, type] : [name]);
      if (rows.length) await this.db.announce(q, { kind: 'dns' });
      return rows.map(toDnsRecord).sort((a, b) => (`${a.type} ${a.value}` < `${b.type} ${b.value}` ? -1 : 1));
    });
  }

  async appendAudit(e: NewAuditRecord): Promise<AuditRecord> {
    const [row] = await this.db.all('INSERT INTO audit_log (at, actor, action, target, detail, source) VALUES (?, ?, ?, ?, ?, ?) RETURNING *', [e.at, e.actor, e.action, e.target, JSON.stringify(e.detail), e.source]);
    return toAudit(row);
  }

  async listAudit(since: number, limit: number): Promise<AuditRecord[]> {
    const rows = await this.db.all('SELECT * FROM audit_log WHERE at >= ? ORDER BY id DESC LIMIT ?', [since, limit]);
    return rows.map(toAudit).reverse();
  }

  async createConsoleSession(c: ConsoleSessionRecord): Promise<void> {
    await this.db.run('INSERT INTO console_sessions (token_hash, actor, method, created_at, expires_at) VALUES (?, ?, ?, ?, ?)', [c.tokenHash, c.actor, c.method, c.createdAt, c.expiresAt]);
  }

  async getConsoleSession(tokenHash: string, now: number): Promise<ConsoleSessionRecord | null> {
    const [r] = await this.db.all('SELECT * FROM console_sessions WHERE token_hash = ? AND expires_at > ?', [tokenHash, now]);
    return r ? { tokenHash: String(r.token_hash), actor: String(r.actor), method: String(r.method), createdAt: num(r.created_at), expiresAt: num(r.expires_at) } : null;
  }

  async deleteConsoleSession(tokenHash: string): Promise<boolean> {
    return (await this.db.run('DELETE FROM console_sessions WHERE token_hash = ?', [tokenHash])) > 0;
  }

  deleteExpiredConsoleSessions(now: number): Promise<number> {
    return this.db.run('DELETE FROM console_sessions WHERE expires_at <= ?', [now]);
  }

  subscribe(fn: (c: StoreChange) => void): () => void {
    return this.db.subscribe(fn);
  }
}

// The conditional UPDATE is what makes a one-off key single-use under concurrency (the
// row lock serializes racing registrations); the SELECT only picks the error code.
async function consumeAuthKey(q: Queryable, id: number, now: number): Promise<void> {
  const [row] = await q.all('SELECT * FROM auth_keys WHERE id = ?', [id]);
  const k = row ? toAuthKey(row) : null;
  if (!k || k.revoked) throw forbidden('ERR_AUTHKEY_REVOKED', 'pre-auth key has been revoked', 'authKey');
  if (k.expiresAt !== null && k.expiresAt <= now) throw forbidden('ERR_AUTHKEY_EXPIRED', 'pre-auth key has expired', 'authKey');
  const changed = await q.run('UPDATE auth_keys SET used_count = used_count + 1 WHERE id = ? AND revoked = 0 AND (reusable = 1 OR used_count = 0)', [id]);
  if (changed === 0) throw forbidden('ERR_AUTHKEY_USED', 'one-off pre-auth key has already been used', 'authKey');
}
