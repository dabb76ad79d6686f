import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AdminClient } from '../../src/control/admin-client.js';
import { createAuthKey } from '../../src/control/auth-keys.js';
import { createCoordinator, type Coordinator } from '../../src/control/server.js';
import type { AdminNodeView } from '../../src/wire/control.js';
import { FakeNetwork } from '../../src/io/bind-fake.js';
import { createInProcessNode, type InProcessNode } from '../../src/lab/in-process.js';
import { VERSION } from '../../src/version.js';
import { joined, startTestCoordinator } from '../helpers/coordinator.js';
import { waitFor } from '../helpers/wait.js';

// Agents report their version and the path to each peer over the map stream (`status`),
// and the admin API (hence the console) shows them by peer name. Bad reports are
// refused with an error on the stream and change nothing.

describe('agent status reports', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-status-report-'));
  const net = new FakeNetwork();
  let coord: Coordinator;
  let a: InProcessNode, b: InProcessNode;

  before(async () => {
    mkdirSync(join(dir, 'server'), { recursive: true, mode: 0o700 });
    coord = createCoordinator({ stateDir: join(dir, 'server'), listen: '127.0.0.1:0', updateIntervalMs: 50 });
    await coord.start();
    const authKey = (await createAuthKey(coord.store, { reusable: true, expirySeconds: 3600 }, Date.now())).key!;
    const node = (name: string, ip: string) => createInProcessNode(net, ip, { stateDir: join(dir, name), serverUrl: coord.url, authKey, hostname: name, localApi: false, endpointPollMs: 300, statusReportMs: 200 });
    a = node('a', '10.9.0.1');
    b = node('b', '10.9.0.2');
    await a.agent.start();
    await b.agent.start();
  });
  after(async () => {
    await a?.agent.stop();
    await b?.agent.stop();
    await coord?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('version and the direct path appear in the admin API once the peers talk', async () => {
    const admin = new AdminClient({ socketPath: coord.adminSocketPath! });
    const view = (n: string) => admin.request<AdminNodeView>('GET', `/api/v1/admin/nodes/${n}`);
    for (let i = 0; i < 5 && !(await a.agent.ping('b', 2000).then(() => true, () => false)); i++);
    assert.ok(await waitFor(async () => (await view('a')).paths?.b === 'direct', 10_000), JSON.stringify(await view('a')));
    assert.ok(await waitFor(async () => (await view('b')).paths?.a === 'direct', 10_000));
    assert.equal((await view('a')).version, VERSION);
    const { nodes } = await admin.request<{ nodes: AdminNodeView[] }>('GET', '/api/v1/admin/nodes');
    assert.deepEqual(nodes.map((n) => [n.name, n.paths]), [['a', { b: 'direct' }], ['b', { a: 'direct' }]]);
  });
});

test('status messages: validated, spaced, shown by peer name; bad ones are errors', async () => {
  const t = await startTestCoordinator();
  try {
    const key = await t.authKey();
    const x = await joined(t, key, 'x');
    const y = await joined(t, key, 'y');
    const full = x.map.messages.find((m) => m.type === 'full');
    assert.equal(full?.type === 'full' && full.netmap.statusReports, true, 'the netmap invites reports');
    const bad: unknown[] = [
      { type: 'status', version: '1.0' },
      { type: 'status', version: 'x y', paths: {} },
      { type: 'status', version: '1.0', paths: [] },
      { type: 'status', version: '1.0', paths: { notakey: 'direct' } },
      { type: 'status', version: '1.0', paths: { [y.node.publicKey]: 'carrier-pigeon' } },
      { type: 'status', version: '1.0', paths: {}, extra: 1 },
    ];
    for (const m of bad) {
      x.map.send(m);
      await x.map.waitFor((r) => r.type === 'error' && (r.code === 'ERR_BAD_STATUS' || r.code === 'ERR_BAD_MESSAGE'));
      x.map.messages.length = 0;
    }
    assert.equal((await t.admin.request<AdminNodeView>('GET', '/api/v1/admin/nodes/x')).version, undefined, 'nothing stored');
    const stranger = 'A'.repeat(43) + '=';
    x.map.send({ type: 'status', version: '0.9.1', paths: { [y.node.publicKey]: 'relay', [stranger]: 'direct' } });
    // The coalescer spaces a node's updates on the (fake) clock.
    assert.ok(await waitFor(async () => (t.clock.advance(1000), (await t.admin.request<AdminNodeView>('GET', '/api/v1/admin/nodes/x')).version === '0.9.1'), 5000));
    assert.deepEqual((await t.admin.request<AdminNodeView>('GET', '/api/v1/admin/nodes/x')).paths, { y: 'relay' }, 'unknown keys are left out');
    const peerView = y.map.messages.flatMap((m) => (m.type === 'delta' ? m.upserts : [])).find((u) => u.name === 'x') as AdminNodeView | undefined;
    assert.equal(peerView?.paths, undefined, 'reports are for admins, not sent to peers');
    await x.map.close();
    await y.map.close();
  } finally {
    await t.stop();
  }
});
