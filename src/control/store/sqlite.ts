import Database from 'better-sqlite3';
import { closeSync, fsync, fsyncSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
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

/** Flushes a file descriptor to stable storage; injected by tests to hold it back. */
export type Fsync = (fd: number, done: (err: Error | null) => void) => void;

/**
 * better-sqlite3 is synchronous, but the Store is async (for PostgreSQL), so an async
 * transaction could interleave with other callers on the one connection. A promise
 * chain serializes every operation; BEGIN IMMEDIATE takes the write lock up front.
 *
 * Group commit: operations that queue up while one group runs share one transaction:
 * each runs in its own SAVEPOINT (a failing one is rolled back alone and rejected at
 * once), and the group COMMITs once on the next turn of the event loop; every
 * operation's promise settles only after that COMMIT is durable.
 *
 * Durability off the event loop: with synchronous=FULL each COMMIT's fsync blocked the
 * JS thread (7 ms idle, tens of ms under load; a quarter of the coordinator's time at
 * 10k nodes, where every stream waited behind it). Here SQLite commits with
 * synchronous=NORMAL (WAL: consistent after a crash or power loss, no fsync per
 * commit), and the group is acknowledged after an fsync of the WAL file on libuv's
 * thread pool: what was acknowledged is on stable storage, as with FULL. Checkpoints
 * fsync the database file themselves.
 */
class SqliteDriver implements SqlDriver {
  readonly dialect = 'sqlite' as const;
  private readonly db: Database.Database;
  private chain: Promise<unknown> = Promise.resolve();
  /** A group transaction is open; `done` settles its operations after COMMIT. */
  private open = false;
  private done: Array<{ ok: () => void; fail: (err: unknown) => void }> = [];
  /** The WAL file, opened at the first commit (SQLite creates it lazily). */
  private walFd: number | null = null;
  /** The last group's acknowledgement; each waits for the one before (and close for all). */
  private acked: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string,
    private readonly fsyncFd: Fsync = fsync,
  ) {
    // Created 0600 before SQLite opens it (never readable by others for an instant);
    // SQLite gives the -wal and -shm files the database file's mode.
    if (file !== ':memory:') closeSync(openSync(file, 'a', 0o600));
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
  }

  /** The WAL's descriptor; the first time, its directory entry is made durable too. */
  private wal(): number | null {
    if (this.walFd !== null || this.file === ':memory:') return this.walFd;
    try {
      this.walFd = openSync(`${this.file}-wal`, 'r');
    } catch (err) {
      // No WAL yet: nothing was written, nothing to flush.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const dir = openSync(dirname(this.file), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
    return this.walFd;
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
    return new Promise<T>((resolve, reject) => {
      this.chain = this.chain.then(async () => {
        try {
          this.begin();
        } catch (err) {
          return reject(mapError(err));
        }
        this.db.exec('SAVEPOINT op');
        try {
          const out = await fn();
          this.db.exec('RELEASE op');
          this.done.push({ ok: () => resolve(out), fail: reject });
        } catch (err) {
          this.db.exec('ROLLBACK TO op');
          this.db.exec('RELEASE op');
          reject(err);
        }
      });
    });
  }

  private begin(): void {
    if (this.open) return;
    this.db.exec('BEGIN IMMEDIATE');
    this.open = true;
    // Runs after every operation already queued (and those their I/O turn adds).
    setImmediate(() => (this.chain = this.chain.then(() => this.commit())));
  }

  private commit(): void {
    if (!this.open) return;
    const group = this.done;
    this.done = [];
    this.open = false;
    let fd: number | null;
    try {
      this.db.exec('COMMIT');
      fd = this.wal();
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      for (const d of group) d.fail(err);
      return;
    }
    const settle = (err: Error | null): void => {
      for (const d of group) {
        if (err) d.fail(err);
        else d.ok();
      }
    };
    // Groups are acknowledged in commit order even when their fsyncs finish out of order:
    // a caller that applies each result to memory must not see an older write land last.
    const synced = fd === null ? Promise.resolve(null) : new Promise<Error | null>((resolve) => this.fsyncFd(fd, resolve));
    this.acked = this.acked.then(() => synced).then(settle);
  }

  all<T = Row>(sql: string, params?: unknown[]): Promise<T[]> {
    return this.serial(() => this.direct.all<T>(sql, params));
  }

  run(sql: string, params?: unknown[]): Promise<number> {
    return this.serial(() => this.direct.run(sql, params));
  }

  /** One operation of the group: its own SAVEPOINT makes it all or nothing. */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.serial(() => fn(this.direct));
  }

  async start(): Promise<void> {}
  async migrationLock(): Promise<void> {}
  async announce(_q: Queryable, _c: StoreChange): Promise<void> {}
  subscribe(): () => void {
    return () => {};
  }

  async close(): Promise<void> {
    await (this.chain = this.chain.then(async () => {
      this.commit();
      await this.acked;
      this.db.close();
    }));
    if (this.walFd !== null) closeSync(this.walFd);
    this.walFd = null;
  }
}

export function openSqliteStore(file: string, fsyncFd?: Fsync): Store {
  return new SqlStore(new SqliteDriver(file, fsyncFd));
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
