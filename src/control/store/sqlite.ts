import Database from 'better-sqlite3';
import { closeSync, openSync } from 'node:fs';
import { SqlStore, type Queryable, type Row, type SqlDriver } from './sql.js';
import { StoreConflictError, type Store, type StoreChange } from './types.js';

function mapError(err: unknown): unknown {
  const e = err as { code?: string; message?: string };
  if (e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
    const m = /UNIQUE constraint failed: \w+\.(\w+)/.exec(e.message ?? '');
    return new StoreConflictError(m?.[1] ?? 'unknown');
  }
  return err;
}

/**
 * better-sqlite3 is synchronous, but the Store is async (for PostgreSQL), so an async
 * transaction could interleave with other callers on the one connection. A promise
 * chain serializes every operation; BEGIN IMMEDIATE takes the write lock up front.
 */
class SqliteDriver implements SqlDriver {
  readonly dialect = 'sqlite' as const;
  private readonly db: Database.Database;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(file: string) {
    // Created 0600 before SQLite opens it (never readable by others for an instant);
    // SQLite gives the -wal and -shm files the database file's mode.
    if (file !== ':memory:') closeSync(openSync(file, 'a', 0o600));
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    // FULL: a commit acknowledged to a client survives power loss, not just a crash.
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
  }

  private readonly direct: Queryable = {
    all: async <T = Row>(sql: string, params: unknown[] = []): Promise<T[]> => {
      try {
        const st = this.db.prepare(sql);
        return (st.reader ? st.all(...params) : (st.run(...params), [])) as T[];
      } catch (err) {
        throw mapError(err);
      }
    },
    run: async (sql: string, params: unknown[] = []): Promise<number> => {
      try {
        return this.db.prepare(sql).run(...params).changes;
      } catch (err) {
        throw mapError(err);
      }
    },
  };

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.chain.then(fn, fn);
    this.chain = p.catch(() => undefined);
    return p;
  }

  all<T = Row>(sql: string, params?: unknown[]): Promise<T[]> {
    return this.serial(() => this.direct.all<T>(sql, params));
  }

  run(sql: string, params?: unknown[]): Promise<number> {
    return this.serial(() => this.direct.run(sql, params));
  }

  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const out = await fn(this.direct);
        this.db.exec('COMMIT');
        return out;
      } catch (err) {
        this.db.exec('ROLLBACK');
        throw err;
      }
    });
  }

  async start(): Promise<void> {}
  async migrationLock(): Promise<void> {}
  async announce(_q: Queryable, _c: StoreChange): Promise<void> {}
  subscribe(): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    await this.serial(async () => this.db.close());
  }
}

export function openSqliteStore(file: string): Store {
  return new SqlStore(new SqliteDriver(file));
}

/** PRAGMA integrity_check on a file, for tests and operators. */
export function sqliteIntegrityCheck(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    return String(db.pragma('integrity_check', { simple: true }));
  } finally {
    db.close();
  }
}
