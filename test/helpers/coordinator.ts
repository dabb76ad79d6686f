// An in-process coordinator on a random 127.0.0.1 port with a temp SQLite file.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../src/clock.js';
import { AdminClient } from '../../src/control/admin-client.js';
import { createCoordinator, type Coordinator, type CoordinatorOptions } from '../../src/control/server.js';
import type { AuthKeyView, CreateAuthKeyRequest } from '../../src/wire/control.js';
import assert from 'node:assert/strict';
import { SimNode, type MapClient } from './control.js';

export interface TestCoordinator {
  c: Coordinator;
  clock: FakeClock;
  dir: string;
  url: string;
  admin: AdminClient;
  authKey(req?: CreateAuthKeyRequest): Promise<string>;
  node(): SimNode;
  /** Every row of every table, to prove a rejected request changed nothing. */
  snapshot(): string;
  stop(): Promise<void>;
}

export async function startTestCoordinator(opts: Partial<CoordinatorOptions> = {}): Promise<TestCoordinator> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-coord-'));
  // The wall clock starts at real time so node-auth timestamps are comparable.
  const clock = new FakeClock(1_000_000, Date.now());
  // Tests register hundreds of keys from 127.0.0.1; the rate limit has its own tests.
  // Policy fan-out at each edit: the batching window runs on the fake clock (its own test).
  const c = createCoordinator({ stateDir: join(dir, 'state'), listen: '127.0.0.1:0', clock, registerRateLimit: null, policyFanoutWindowMs: 0, ...opts });
  await c.start();
  const admin = new AdminClient({ socketPath: c.adminSocketPath! });
  const dbFile = opts.db ?? join(dir, 'state', 'weft.db');
  return {
    c,
    clock,
    dir,
    url: c.url,
    admin,
    authKey: async (req = { reusable: true }) => (await admin.request<AuthKeyView>('POST', '/api/v1/admin/authkeys', req)).key!,
    node: () => new SimNode(c.url, c.publicKey, () => clock.wallNow()),
    snapshot() {
      const db = new Database(dbFile, { readonly: true });
      try {
        const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as { name: string }[]).map((t) => t.name);
        return JSON.stringify(tables.map((t) => [t, db.prepare(`SELECT * FROM "${t}"`).all()]));
      } finally {
        db.close();
      }
    },
    async stop() {
      await c.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Registers a node with `key` and opens its map stream, past the first full netmap. */
export async function joined(t: TestCoordinator, key: string, hostname: string): Promise<{ node: SimNode; map: MapClient }> {
  const node = t.node();
  const r = await node.register({ hostname, authKey: key });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const map = await node.openMap();
  await map.waitFor((m) => m.type === 'full');
  return { node, map };
}
