// Two coordinators sharing one PostgreSQL database: a change on one reaches streams
// held by the other, and concurrent registrations through both never share an address.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { AdminClient } from '../../src/control/admin-client.js';
import { createCoordinator, type Coordinator } from '../../src/control/server.js';
import { isRemovalOf, isUpsertOf, SimNode } from '../helpers/control.js';
import { createDatabase, postgresUnavailable, startPostgres, type TempPostgres } from '../helpers/postgres.js';

const why = postgresUnavailable();
if (why && process.env.WEFT_E2E_REQUIRED === '1') {
  test('coordinators sharing PostgreSQL', () => {
    throw new Error(`required but unavailable: ${why}`);
  });
} else if (why) {
  test('coordinators sharing PostgreSQL', { skip: why }, () => {});
} else {
  let pg: TempPostgres;
  let dir: string;
  let a: Coordinator, b: Coordinator;
  let url: string;
  before(async () => {
    pg = await startPostgres();
    url = await createDatabase(pg.url, 'multi');
    dir = mkdtempSync(join(tmpdir(), 'weft-multi-'));
    a = createCoordinator({ stateDir: join(dir, 'a'), db: url, listen: '127.0.0.1:0', sweepIntervalMs: 200 });
    await a.start();
    // Instances behind one name share the server key, so node signatures verify on both.
    mkdirSync(join(dir, 'b'), { mode: 0o700 });
    copyFileSync(join(dir, 'a', 'server.key'), join(dir, 'b', 'server.key'));
    b = createCoordinator({ stateDir: join(dir, 'b'), db: url, listen: '127.0.0.1:0', sweepIntervalMs: 200 });
    await b.start();
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a node registered via instance A appears on a stream held by instance B, and so do its changes', async () => {
    assert.equal(a.publicKey, b.publicKey);
    const key = (await new AdminClient({ socketPath: a.adminSocketPath! }).request<{ key: string }>('POST', '/api/v1/admin/authkeys', { reusable: true })).key;
    const watcher = new SimNode(b.url, b.publicKey);
    assert.equal((await watcher.register({ hostname: 'watcher', authKey: key })).status, 200);
    const map = await watcher.openMap();
    await map.waitFor((m) => m.type === 'full');

    const newcomer = new SimNode(a.url, a.publicKey);
    const r = await newcomer.register({ hostname: 'watcher', authKey: key });
    assert.equal(r.status, 200);
    assert.equal(r.json.node.name, 'watcher-2', 'names are unique across instances');
    await map.waitFor(isUpsertOf(newcomer.publicKey, (v) => v.ipv4 === r.json.node.ipv4), 3000);

    const stream = await newcomer.openMap();
    await stream.waitFor((m) => m.type === 'full');
    stream.send({ type: 'endpoints', endpoints: ['192.0.2.44:41641'] });
    await map.waitFor(isUpsertOf(newcomer.publicKey, (v) => v.endpoints[0] === '192.0.2.44:41641'), 3000);

    await new AdminClient({ socketPath: a.adminSocketPath! }).request('DELETE', `/api/v1/admin/nodes/${r.json.node.name}`);
    await map.waitFor(isRemovalOf(newcomer.publicKey), 3000);
    await stream.close();
    await map.close();
  });

  test('MagicDNS records set through instance A reach a stream held by instance B', async () => {
    const key = (await new AdminClient({ socketPath: a.adminSocketPath! }).request<{ key: string }>('POST', '/api/v1/admin/authkeys', { reusable: true })).key;
    const node = new SimNode(b.url, b.publicKey);
    assert.equal((await node.register({ hostname: 'dns-watcher', authKey: key })).status, 200);
    const map = await node.openMap();
    await map.waitFor((m) => m.type === 'full');
    await new AdminClient({ socketPath: a.adminSocketPath! }).request('PUT', '/api/v1/admin/dns/records', { name: 'shared.weft.internal', type: 'A', values: ['100.64.0.77'] });
    await map.waitFor((m) => m.type === 'delta' && (m.dns?.records ?? []).some((r) => r.name === 'shared.weft.internal' && r.value === '100.64.0.77'), 3000);
    const list = await new AdminClient({ socketPath: b.adminSocketPath! }).request<{ records: { name: string }[] }>('GET', '/api/v1/admin/dns/records');
    assert.deepEqual(list.records.map((r) => r.name), ['shared.weft.internal']);
    await map.close();
  });

  test('an instance whose change listener drops reconnects and catches up', async () => {
    const key = (await new AdminClient({ socketPath: a.adminSocketPath! }).request<{ key: string }>('POST', '/api/v1/admin/authkeys', { reusable: true })).key;
    const watcher = new SimNode(b.url, b.publicKey);
    await watcher.register({ hostname: 'resync-watcher', authKey: key });
    const map = await watcher.openMap();
    await map.waitFor((m) => m.type === 'full');
    const pgm = (await import('pg')).default;
    const admin = new pgm.Client({ connectionString: url });
    await admin.connect();
    // Kill every LISTEN session (both instances'); changes made meanwhile are not announced to them.
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`);
    await admin.end();
    const late = new SimNode(a.url, a.publicKey);
    assert.equal((await late.register({ hostname: 'late', authKey: key })).status, 200);
    await map.waitFor(isUpsertOf(late.publicKey), 10_000);
    await map.close();
  });

  test('concurrent registrations through both instances get distinct addresses and names', async () => {
    const key = (await new AdminClient({ socketPath: b.adminSocketPath! }).request<{ key: string }>('POST', '/api/v1/admin/authkeys', { reusable: true })).key;
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => new SimNode(i % 2 ? a.url : b.url, a.publicKey).register({ hostname: 'burst', authKey: key })),
    );
    for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.json));
    const nodes = results.map((r) => r.json.node);
    assert.equal(new Set(nodes.map((n) => n.ipv4)).size, 60);
    assert.equal(new Set(nodes.map((n) => n.ipv6)).size, 60);
    assert.equal(new Set(nodes.map((n) => n.name)).size, 60);
  });
}
