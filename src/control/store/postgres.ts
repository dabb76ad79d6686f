import pg from 'pg';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../log.js';
import { SqlStore, type Queryable, type Row, type SqlDriver } from './sql.js';
import { StoreConflictError, type Store, type StoreChange } from './types.js';

export const CHANGE_CHANNEL = 'weft_changes';
// Any constant: the advisory lock that keeps two instances from migrating at once.
const MIGRATION_LOCK_ID = 0x77656674;
const RETRYABLE = new Set(['40001', '40P01']);
const RECONNECT_MS = 1000;

// BIGINT columns come back as strings by default; every BIGINT here is a safe integer.
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

const toPg = (sql: string): string => {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
};

function mapError(err: unknown): unknown {
  const e = err as { code?: string; constraint?: string };
  if (e?.code === '23505') return new StoreConflictError(/^\w+?_(\w+)_key$/.exec(e.constraint ?? '')?.[1] ?? 'unknown');
  return err;
}

function queryable(c: pg.Pool | pg.PoolClient): Queryable {
  return {
    all: async <T = Row>(sql: string, params: unknown[] = []): Promise<T[]> => {
      try {
        return (await c.query(toPg(sql), params)).rows as T[];
      } catch (err) {
        throw mapError(err);
      }
    },
    run: async (sql: string, params: unknown[] = []): Promise<number> => {
      try {
        return (await c.query(toPg(sql), params)).rowCount ?? 0;
      } catch (err) {
        throw mapError(err);
      }
    },
  };
}

/**
 * Several coordinators share one database: unique constraints and conditional updates
 * make allocation race-free, and NOTIFY (sent inside the transaction, so delivered only
 * on commit) tells the other instances what changed. Each instance tags its own
 * notifications and ignores them on receipt.
 */
class PgDriver implements SqlDriver {
  readonly dialect = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly q: Queryable;
  private readonly origin = randomUUID();
  private listener: pg.Client | null = null;
  private readonly subscribers = new Set<(c: StoreChange) => void>();
  private retry: NodeJS.Timeout | null = null;

  constructor(private readonly url: string, private readonly log: Logger) {
    this.pool = new pg.Pool({ connectionString: url, max: 10, types });
    this.pool.on('error', (err) => log.warn({ err: err.message }, 'postgres pool error'));
    this.q = queryable(this.pool);
  }

  all<T = Row>(sql: string, params?: unknown[]): Promise<T[]> {
    return this.q.all<T>(sql, params);
  }

  run(sql: string, params?: unknown[]): Promise<number> {
    return this.q.run(sql, params);
  }

  async tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const client = await this.pool.connect();
      try {
        await client.query('BEGIN');
        const out = await fn(queryable(client));
        await client.query('COMMIT');
        return out;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        if (attempt < 5 && RETRYABLE.has((err as { code?: string }).code ?? '')) continue;
        throw err;
      } finally {
        client.release();
      }
    }
  }

  async migrationLock(q: Queryable): Promise<void> {
    await q.all('SELECT pg_advisory_xact_lock(?)', [MIGRATION_LOCK_ID]);
  }

  async announce(q: Queryable, change: StoreChange): Promise<void> {
    await q.all('SELECT pg_notify(?, ?)', [CHANGE_CHANNEL, JSON.stringify({ origin: this.origin, change })]);
  }

  subscribe(fn: (c: StoreChange) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  // LISTEN is in place before the caller loads its cache, so no committed change is missed.
  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, types });
    this.listener = client;
    let lost = false;
    const onLost = (why: string): void => {
      if (lost || this.listener !== client) return;
      lost = true;
      this.log.warn({ why }, 'postgres change listener lost; reconnecting');
      this.retry = setTimeout(() => void this.reconnect(), RECONNECT_MS);
      this.retry.unref();
    };
    client.on('error', (err) => onLost(err.message));
    client.on('end', () => onLost('connection ended'));
    client.on('notification', (msg) => {
      if (msg.channel !== CHANGE_CHANNEL || !msg.payload) return;
      const { origin, change } = JSON.parse(msg.payload) as { origin: string; change: StoreChange };
      if (origin !== this.origin) this.emit(change);
    });
    await client.connect();
    await client.query(`LISTEN ${CHANGE_CHANNEL}`);
  }

  private emit(change: StoreChange): void {
    for (const fn of this.subscribers) fn(change);
  }

  // Changes committed while the listener was down were not heard: subscribers reload.
  private async reconnect(): Promise<void> {
    this.retry = null;
    if (!this.listener) return;
    try {
      await this.start();
      this.emit({ kind: 'resync' });
    } catch (err) {
      this.log.warn({ err: String(err) }, 'postgres change listener reconnect failed');
      this.retry = setTimeout(() => void this.reconnect(), RECONNECT_MS);
      this.retry.unref();
    }
  }

  async close(): Promise<void> {
    const l = this.listener;
    this.listener = null;
    if (this.retry) clearTimeout(this.retry);
    if (l) await l.end().catch(() => undefined);
    await this.pool.end();
  }
}

export function openPostgresStore(url: string, log: Logger): Store {
  return new SqlStore(new PgDriver(url, log));
}
