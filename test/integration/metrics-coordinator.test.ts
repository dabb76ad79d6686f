import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { http } from '../helpers/control.js';
import { joined, startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.js';
import { scrape } from '../helpers/prom-text.js';
import { exited, startServerProcess } from '../helpers/server-process.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('coordinator /metrics', () => {
  let t: TestCoordinator;
  let metrics: string;
  before(async () => {
    t = await startTestCoordinator({ metricsListen: '127.0.0.1:0' });
    metrics = `${t.c.metricsUrl}/metrics`;
  });
  after(() => t.stop());

  test('node, registration, stream, fan-out, policy and DB series move with what happens', async () => {
    const before = await scrape(metrics);
    assert.equal(before.value('weft_coordinator_registrations_total'), 0);
    assert.equal(before.value('weft_coordinator_nodes'), 0);
    assert.equal(before.value('weft_relay_clients'), 0, 'the embedded relay reports too');
    const compiles = before.value('weft_coordinator_policy_compile_seconds_count')!;

    const key = await t.authKey();
    const nodes = [];
    for (const name of ['m1', 'm2', 'm3']) nodes.push(await joined(t, key, name));
    // Registering again with a known key is not a new registration.
    assert.equal((await nodes[0].node.register({ hostname: 'm1' })).status, 200);
    await t.c.registry.settled();

    const mid = await scrape(metrics);
    assert.equal(mid.value('weft_coordinator_registrations_total'), 3);
    assert.equal(mid.value('weft_coordinator_nodes'), 3);
    assert.equal(mid.value('weft_coordinator_nodes_online'), 3);
    assert.equal(mid.value('weft_coordinator_map_streams'), 3);
    assert.equal(mid.value('weft_coordinator_db_query_seconds_count', { op: 'insertNode' }), 3);
    assert.ok(mid.value('weft_coordinator_delta_fanout_seconds_count')! >= 3, 'each registration fanned out');
    assert.ok(mid.value('weft_coordinator_policy_compile_seconds_count')! > compiles, 'new nodes recompile the policy');

    await nodes[2].map.close();
    // The server sees the close a moment later; bounded wait.
    let after = await scrape(metrics);
    for (let i = 0; i < 100 && after.value('weft_coordinator_map_streams') !== 2; i++) {
      await new Promise((r) => setTimeout(r, 20));
      after = await scrape(metrics);
    }
    assert.equal(after.value('weft_coordinator_map_streams'), 2);
    // The close's check-in is written in the background and then fanned out: let it land.
    await t.c.registry.settled();
    after = await scrape(metrics);
    const fanouts = after.value('weft_coordinator_delta_fanout_seconds_count')!;
    await t.admin.request('PUT', '/api/v1/admin/policy', { policy: '{"acls":[{"action":"accept","src":["*"],"dst":["*:*"]}]}' });
    const last = await scrape(metrics);
    assert.equal(last.value('weft_coordinator_delta_fanout_seconds_count'), fanouts + 1, 'a policy change is one fan-out');
    assert.equal(last.value('weft_coordinator_db_query_seconds_count', { op: 'setPolicy' }), 1);
    for (const n of nodes.slice(0, 2)) await n.map.close();
  });

  test('only GET /metrics on the metrics address; not on the API port without an admin key', async () => {
    assert.equal((await fetch(`${t.c.metricsUrl}/other`)).status, 404);
    assert.equal((await fetch(metrics, { method: 'POST' })).status, 405);
    assert.equal((await fetch(`${t.url}/metrics`)).status, 404);
    const r = await http(`${t.url}/api/v1/admin/metrics`, 'GET');
    assert.equal(r.status, 401);
    assert.equal(r.json.error.code, 'ERR_UNAUTHENTICATED');
    const { key } = await t.admin.request<{ key: string }>('POST', '/api/v1/admin/apikeys', {});
    const viaApi = await scrape(`${t.url}/api/v1/admin/metrics`, { authorization: `Bearer ${key}` });
    assert.equal(viaApi.value('weft_coordinator_nodes'), 3);
  });

  test('metrics are off unless asked for', async () => {
    const plain = await startTestCoordinator();
    try {
      assert.equal(plain.c.metricsUrl, null);
    } finally {
      await plain.stop();
    }
  });
});

test('weft server --metrics-listen (the real command in a process) serves /metrics', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-metrics-srv-'));
  const server = await startServerProcess(['--state-dir', dir, '--stun-port', '0', '--metrics-listen', '127.0.0.1:0']);
  try {
    assert.match(server.metrics ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    const m = await scrape(`${server.metrics}/metrics`);
    assert.equal(m.value('weft_coordinator_nodes'), 0);
    assert.ok(m.value('weft_coordinator_db_query_seconds_count', { op: 'listNodes' })! >= 1, 'startup read the nodes');
  } finally {
    server.proc.kill('SIGTERM');
    await exited(server.proc);
    rmSync(dir, { recursive: true, force: true });
  }
});
