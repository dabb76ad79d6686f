import { conflict } from '../errors.js';
import { LOCAL_PROVIDER, type AdminRecord, type IdentityStore, type LoginClaims, type NewUser, type UserRecord } from './identity-types.js';
import { toNode, type Queryable, type Row, type SqlDriver } from './sql.js';
import { StoreConflictError, type NodeRecord } from './types.js';

// IdentityStore over the same SqlDriver as the rest of the store (one query text for
// SQLite and PostgreSQL). Node changes made here are announced like any other.

const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function toUser(r: Row): UserRecord {
  return {
    id: Number(r.id),
    login: String(r.login),
    displayName: (r.display_name as string | null) ?? null,
    provider: String(r.provider),
    subject: (r.subject as string | null) ?? null,
    groups: JSON.parse(String(r.provider_groups)) as string[],
    createdAt: Number(r.created_at),
    lastLogin: numOrNull(r.last_login),
  };
}

function toAdmin(r: Row): AdminRecord {
  return { id: Number(r.id), login: String(r.login), passwordHash: String(r.password_hash), createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) };
}

const INSERT_USER = 'INSERT INTO users (login, display_name, provider, subject, provider_groups, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING *';
const userParams = (u: NewUser): unknown[] => [u.login, u.displayName, u.provider, u.subject, JSON.stringify(u.groups), u.createdAt];

export class SqlIdentityStore implements IdentityStore {
  constructor(private readonly db: SqlDriver) {}

  async listUsers(): Promise<UserRecord[]> {
    return (await this.db.all('SELECT * FROM users ORDER BY id')).map(toUser);
  }

  async findUser(login: string): Promise<UserRecord | null> {
    const [row] = await this.db.all('SELECT * FROM users WHERE login = ?', [login]);
    return row ? toUser(row) : null;
  }

  async createUser(u: NewUser): Promise<UserRecord> {
    const [row] = await this.db.all(INSERT_USER, userParams(u));
    return toUser(row);
  }

  async ensureUser(login: string, now: number): Promise<UserRecord> {
    return this.db.tx(async (q) => {
      await q.run('INSERT INTO users (login, provider, created_at) VALUES (?, ?, ?) ON CONFLICT (login) DO NOTHING', [login, LOCAL_PROVIDER, now]);
      const [row] = await q.all('SELECT * FROM users WHERE login = ?', [login]);
      return toUser(row);
    });
  }

  async recordLogin(c: LoginClaims, now: number): Promise<UserRecord> {
    return this.db.tx(async (q) => {
      const [known] = await q.all('SELECT * FROM users WHERE provider = ? AND subject = ?', [c.provider, c.subject]);
      if (known) {
        const [row] = await q.all('UPDATE users SET display_name = ?, provider_groups = ?, last_login = ? WHERE id = ? RETURNING *', [c.displayName, JSON.stringify(c.groups), now, known.id]);
        return toUser(row);
      }
      // A local user an admin created for this login (no subject yet) is adopted by its
      // first login; a login name held by another provider's user is not taken over.
      const [taken] = await q.all('SELECT * FROM users WHERE login = ?', [c.login]);
      if (taken && (taken.provider !== LOCAL_PROVIDER || taken.subject !== null)) throw new StoreConflictError('login');
      if (taken) {
        const [row] = await q.all('UPDATE users SET provider = ?, subject = ?, display_name = ?, provider_groups = ?, last_login = ? WHERE id = ? RETURNING *', [c.provider, c.subject, c.displayName, JSON.stringify(c.groups), now, taken.id]);
        return toUser(row);
      }
      const [row] = await q.all(INSERT_USER, userParams({ ...c, createdAt: now }));
      await q.run('UPDATE users SET last_login = ? WHERE id = ?', [now, row.id]);
      return { ...toUser(row), lastLogin: now };
    });
  }

  async renameUser(id: number, login: string): Promise<{ user: UserRecord; nodeIds: number[] } | null> {
    return this.db.tx(async (q) => {
      const [row] = await q.all('UPDATE users SET login = ? WHERE id = ? RETURNING *', [login, id]);
      if (!row) return null;
      const nodes = await q.all<{ id: unknown }>('UPDATE nodes SET "user" = ? WHERE user_id = ? RETURNING id', [login, id]);
      await q.run('UPDATE auth_keys SET "user" = ? WHERE user_id = ?', [login, id]);
      const nodeIds = nodes.map((n) => Number(n.id));
      for (const nid of nodeIds) await this.db.announce(q, { kind: 'node-upsert', id: nid });
      return { user: toUser(row), nodeIds };
    });
  }

  async userNodes(id: number): Promise<NodeRecord[]> {
    return (await this.db.all('SELECT * FROM nodes WHERE user_id = ? ORDER BY id', [id])).map(toNode);
  }

  async deleteUser(id: number): Promise<UserRecord | null> {
    return this.db.tx(async (q: Queryable) => {
      const [n] = await q.all<{ c: unknown }>('SELECT COUNT(*) AS c FROM nodes WHERE user_id = ?', [id]);
      if (Number(n.c) > 0) throw conflict('ERR_USER_HAS_NODES', `the user still has ${Number(n.c)} node(s): remove them first or pass --cascade`, 'user');
      await q.run('DELETE FROM auth_keys WHERE user_id = ?', [id]);
      const [row] = await q.all('DELETE FROM users WHERE id = ? RETURNING *', [id]);
      return row ? toUser(row) : null;
    });
  }

  async listAdmins(): Promise<AdminRecord[]> {
    return (await this.db.all('SELECT * FROM admins ORDER BY id')).map(toAdmin);
  }

  async findAdmin(login: string): Promise<AdminRecord | null> {
    const [row] = await this.db.all('SELECT * FROM admins WHERE login = ?', [login]);
    return row ? toAdmin(row) : null;
  }

  async createAdmin(login: string, passwordHash: string, now: number): Promise<AdminRecord> {
    const [row] = await this.db.all('INSERT INTO admins (login, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?) RETURNING *', [login, passwordHash, now, now]);
    return toAdmin(row);
  }

  async setAdminPassword(login: string, passwordHash: string, now: number): Promise<AdminRecord | null> {
    const [row] = await this.db.all('UPDATE admins SET password_hash = ?, updated_at = ? WHERE login = ? RETURNING *', [passwordHash, now, login]);
    return row ? toAdmin(row) : null;
  }

  async deleteAdmin(login: string): Promise<AdminRecord | null> {
    const [row] = await this.db.all('DELETE FROM admins WHERE login = ? RETURNING *', [login]);
    return row ? toAdmin(row) : null;
  }

  async getSealed(name: string): Promise<string | null> {
    const [row] = await this.db.all<{ value: string }>('SELECT value FROM sealed_secrets WHERE name = ?', [name]);
    return row ? row.value : null;
  }

  async putSealed(name: string, value: string, now: number): Promise<void> {
    await this.db.run('INSERT INTO sealed_secrets (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at', [name, value, now]);
  }

  async listSealed(): Promise<{ name: string; value: string }[]> {
    return this.db.all<{ name: string; value: string }>('SELECT name, value FROM sealed_secrets ORDER BY name');
  }
}
