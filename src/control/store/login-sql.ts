import type { LoginStore, NodeLoginRecord, PendingOidcLogin } from './login-types.js';
import type { Row, SqlDriver } from './sql.js';

// LoginStore over the store's SqlDriver (one query text for SQLite and PostgreSQL).
// Bounds are checked in the inserting transaction; with several instances inserting at
// once under PostgreSQL's read committed the table may exceed `max` by the number of
// concurrent inserts, which is still bounded.

const toPending = (r: Row): PendingOidcLogin => ({ stateHash: String(r.state_hash), purpose: String(r.purpose), verifier: String(r.verifier), nonce: String(r.nonce), createdAt: Number(r.created_at) });
const toNodeLogin = (r: Row): NodeLoginRecord => ({ id: String(r.id), nodeKey: String(r.node_key), createdAt: Number(r.created_at), user: (r.user_login as string | null) ?? null });

export class SqlLoginStore implements LoginStore {
  constructor(private readonly db: SqlDriver) {}

  putOidcLogin(p: PendingOidcLogin, since: number, max: number): Promise<boolean> {
    return this.db.tx(async (q) => {
      await q.run('DELETE FROM oidc_logins WHERE created_at <= ?', [since]);
      const [row] = await q.all<{ n: unknown }>('SELECT COUNT(*) AS n FROM oidc_logins');
      if (Number(row.n) >= max) return false;
      await q.run('INSERT INTO oidc_logins (state_hash, purpose, verifier, nonce, created_at) VALUES (?, ?, ?, ?, ?)', [p.stateHash, p.purpose, p.verifier, p.nonce, p.createdAt]);
      return true;
    });
  }

  async takeOidcLogin(stateHash: string, since: number): Promise<PendingOidcLogin | null> {
    const [row] = await this.db.all('DELETE FROM oidc_logins WHERE state_hash = ? RETURNING *', [stateHash]);
    return row && Number(row.created_at) > since ? toPending(row) : null;
  }

  waitNodeLogin(fresh: NodeLoginRecord, since: number, max: number): Promise<NodeLoginRecord | null> {
    return this.db.tx(async (q) => {
      await q.run('DELETE FROM node_logins WHERE created_at <= ?', [since]);
      const [known] = await q.all('SELECT * FROM node_logins WHERE node_key = ?', [fresh.nodeKey]);
      if (known) return toNodeLogin(known);
      const [row] = await q.all<{ n: unknown }>('SELECT COUNT(*) AS n FROM node_logins');
      if (Number(row.n) >= max) return null;
      // Another instance may insert this node's login first: then that one is the login.
      await q.run('INSERT INTO node_logins (id, node_key, created_at) VALUES (?, ?, ?) ON CONFLICT (node_key) DO NOTHING', [fresh.id, fresh.nodeKey, fresh.createdAt]);
      const [now] = await q.all('SELECT * FROM node_logins WHERE node_key = ?', [fresh.nodeKey]);
      return toNodeLogin(now);
    });
  }

  async findWaitingNodeLogin(id: string, since: number): Promise<NodeLoginRecord | null> {
    const [row] = await this.db.all('SELECT * FROM node_logins WHERE id = ? AND user_login IS NULL AND created_at > ?', [id, since]);
    return row ? toNodeLogin(row) : null;
  }

  async grantNodeLogin(id: string, user: string, since: number): Promise<boolean> {
    return (await this.db.run('UPDATE node_logins SET user_login = ? WHERE id = ? AND user_login IS NULL AND created_at > ?', [user, id, since])) === 1;
  }

  async takeGrantedNodeLogin(nodeKey: string, since: number): Promise<string | null> {
    const [row] = await this.db.all('DELETE FROM node_logins WHERE node_key = ? AND user_login IS NOT NULL RETURNING user_login, created_at', [nodeKey]);
    return row && Number(row.created_at) > since ? String(row.user_login) : null;
  }
}
