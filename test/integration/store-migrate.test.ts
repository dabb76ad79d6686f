// Upgrades: a database written by an older Weft is migrated in place with its data
// intact; one written by a newer Weft is refused, unchanged, with both versions named.
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { silentLogger } from '../../src/log.js';
import { migrations } from '../../src/control/store/schema.js';
import { openPostgresStore } from '../../src/control/store/postgres.js';
import { openSqliteStore } from '../../src/control/store/sqlite.js';
import { SCHEMA_VERSION, SchemaTooNewError, type Store } from '../../src/control/store/index.js';
import type { NodeView } from '../../src/wire/control.js';
import { createDatabase, postgresUnavailable, startPostgres } from '../helpers/postgres.js';
import { startTestCoordinator } from '../helpers/coordinator.js';
import { createCoordinator } from '../../src/control/server.js';

// Made by the code at b1178bc (schema 3); see test/fixtures/README.md.
const FIXTURE = fileURLToPath(new URL('../../../test/fixtures/weft-schema-v3.db', import.meta.url));
const EXIT_BOTH = ['0.0.0.0/0', '10.1.0.0/24', '::/0'];

const dir = mkdtempSync(join(tmpdir(), 'weft-migrate-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let copies = 0;
const fixtureCopy = (): string => {
  const file = join(dir, `old${++copies}.db`);
  copyFileSync(FIXTURE, file);
  return file;
};

const isTooNew = (found: number) => (e: unknown): boolean =>
  e instanceof SchemaTooNewError && e.code === 'ERR_SCHEMA_TOO_NEW' && e.found === found && e.supported === SCHEMA_VERSION && e.message.includes(String(found)) && e.message.includes(String(SCHEMA_VERSION));

/** What a migration must keep: every node's identity, the keys, the policy. */
async function assertFixtureData(store: Store): Promise<void> {
  const nodes = await store.listNodes();
  assert.deepEqual(nodes.map((n) => [n.name, n.ipv4]), [['alpha', '100.64.0.1'], ['beta', '100.64.0.2'], ['gamma', '100.64.0.3']]);
  assert.ok(nodes.every((n) => n.publicKey.length === 44 && n.ipv6.startsWith('fdd9:4fb:2abc:') && n.expiresAt !== null));
  assert.deepEqual(nodes[1].advertisedRoutes, EXIT_BOTH);
  // Migration 4: the half-approved exit node (only 0.0.0.0/0) is now whole.
  assert.deepEqual(nodes[1].approvedRoutes, EXIT_BOTH);
  const keys = await store.listAuthKeys();
  assert.deepEqual(keys.map((k) => [k.reusable, k.usedCount, k.user]), [[true, 3, null], [false, 0, 'alice']]);
  // Migration 7: the user string on the pre-auth key became a (local) user row; old API keys are admin-scoped.
  assert.deepEqual((await store.identity.listUsers()).map((u) => [u.login, u.provider, u.groups]), [['alice', 'local', []]]);
  assert.deepEqual((await store.listApiKeys()).map((k) => k.scope), ['admin']);
  assert.match((await store.getPolicy())!.text, /^\/\/ fixture policy\n/);
  assert.equal(await store.getOrCreateMeta('ipv6_ula48', () => 'fresh'), 'fdd9:4fb:2abc::/48');
}

describe('SQLite schema upgrades', () => {
  test('a schema-3 database from the previous release is migrated to the current version, data intact', async () => {
    const file = fixtureCopy();
    const store = openSqliteStore(file);
    await store.init();
    try {
      assert.equal(await store.schemaVersion(), SCHEMA_VERSION);
      await assertFixtureData(store);
    } finally {
      await store.close();
    }
    // Migrating again is a no-op.
    const again = openSqliteStore(file);
    await again.init();
    await assertFixtureData(again);
    await again.close();
  });

  test('a coordinator started on the old database serves its nodes', async () => {
    const t = await startTestCoordinator({ db: fixtureCopy() });
    try {
      const { nodes } = await t.admin.request<{ nodes: NodeView[] }>('GET', '/api/v1/admin/nodes');
      assert.deepEqual(nodes.map((n) => [n.name, n.ipv4, n.approvedRoutes]), [['alpha', '100.64.0.1', []], ['beta', '100.64.0.2', EXIT_BOTH], ['gamma', '100.64.0.3', []]]);
      assert.equal(await t.c.store.schemaVersion(), SCHEMA_VERSION);
    } finally {
      await t.stop();
    }
  });

  test('a database from a newer version is refused with both versions named, and left untouched', async () => {
    const file = fixtureCopy();
    const db = new Database(file);
    db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(SCHEMA_VERSION + 5, Date.now());
    db.close();
    const before = readFileSync(file);
    const store = openSqliteStore(file);
    await assert.rejects(store.init(), isTooNew(SCHEMA_VERSION + 5));
    await store.close();
    assert.ok(readFileSync(file).equals(before), 'the refused database was not modified');
    const c = createCoordinator({ stateDir: join(dir, 'refusing'), db: file, listen: '127.0.0.1:0', adminSocket: false });
    await assert.rejects(c.start(), isTooNew(SCHEMA_VERSION + 5));
    await c.stop();
  });
});

const why = postgresUnavailable();
describe('PostgreSQL schema upgrades', { skip: process.env.WEFT_E2E_REQUIRED === '1' ? false : (why ?? false) }, () => {
  test('schema 3 with a half-approved exit node migrates to the current version; a newer one is refused', async () => {
    if (why) throw new Error(`required but unavailable: ${why}`);
    const server = await startPostgres();
    try {
      const url = await createDatabase(server.url, 'migrate3');
      // The database exactly as the previous release left it: migrations 1-3 only.
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
      for (const m of migrations('postgres').filter((m) => m.version <= 3)) {
        for (const s of m.statements) await c.query(s);
        await c.query('INSERT INTO schema_migrations VALUES ($1, 0)', [m.version]);
      }
      await c.query(`INSERT INTO nodes (public_key, name, ipv4, ipv6, endpoints, created_at, ephemeral, tags, advertised_routes, approved_routes)
        VALUES ('k1', 'beta', '100.64.0.2', 'fd00::2', '[]', 1, 0, '[]', '["0.0.0.0/0","10.1.0.0/24","::/0"]', '["10.1.0.0/24","::/0"]'),
               ('k2', 'alpha', '100.64.0.1', 'fd00::1', '[]', 1, 0, '[]', '["10.2.0.0/24"]', '["10.2.0.0/24"]')`);
      const store = openPostgresStore(url, silentLogger);
      await store.init();
      assert.equal(await store.schemaVersion(), SCHEMA_VERSION);
      assert.deepEqual((await store.listNodes()).map((n) => [n.name, n.approvedRoutes]), [['beta', EXIT_BOTH], ['alpha', ['10.2.0.0/24']]]);
      await store.close();

      await c.query('INSERT INTO schema_migrations VALUES ($1, 0)', [SCHEMA_VERSION + 1]);
      await c.end();
      const newer = openPostgresStore(url, silentLogger);
      await assert.rejects(newer.init(), isTooNew(SCHEMA_VERSION + 1));
      await newer.close();
    } finally {
      server.stop();
    }
  });
});
