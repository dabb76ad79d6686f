// Routes branch: nodes advertise routes on the map stream, admins list and approve them,
// autoApprovers approve without an admin, and peers see the approved routes in netmaps.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ControlError } from '../../src/control/errors.js';
import type { NetMap, NodeView, RouteView, ServerMessage } from '../../src/control/wire.js';
import { DEFAULT_POLICY_TEXT } from '../../src/policy/index.js';
import { isUpsertOf, type MapClient, type SimNode } from '../helpers/control.js';
import { joined, startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.js';

const fullOf = (m: MapClient): NetMap => (m.messages.find((x) => x.type === 'full') as Extract<ServerMessage, { type: 'full' }>).netmap;

describe('subnet routes and exit nodes in the coordinator', () => {
  let t: TestCoordinator;
  before(async () => {
    t = await startTestCoordinator();
  });
  after(() => t.stop());

  test('advertise, list, approve (admin), netmap fields; invalid routes are refused on the stream', async () => {
    const key = await t.authKey({ reusable: true });
    const router = await joined(t, key, 'router');
    const client = await joined(t, key, 'client');
    const rk = router.node.publicKey;
    router.map.send({ type: 'routes', routes: ['10.77.0.9/24', '0.0.0.0/0', '::/0'] });
    const up = await client.map.waitFor(isUpsertOf(rk, (v: NodeView) => (v.advertisedRoutes ?? []).length === 3));
    const v = (up as Extract<ServerMessage, { type: 'delta' }>).upserts[0];
    assert.deepEqual(v.advertisedRoutes, ['0.0.0.0/0', '10.77.0.0/24', '::/0']);
    assert.deepEqual(v.approvedRoutes, []);
    const list = (await t.admin.request<{ routes: RouteView[] }>('GET', '/api/v1/admin/routes')).routes;
    assert.deepEqual(list.map((r) => [r.node, r.route, r.approved, r.exitNode]), [
      ['router', '0.0.0.0/0', false, true],
      ['router', '10.77.0.0/24', false, false],
      ['router', '::/0', false, true],
    ]);
    const approved = await t.admin.request<NodeView>('POST', '/api/v1/admin/routes/approve', { node: 'router', route: '10.77.0.0/24' });
    assert.deepEqual(approved.approvedRoutes, ['10.77.0.0/24']);
    await client.map.waitFor(isUpsertOf(rk, (x: NodeView) => (x.approvedRoutes ?? []).includes('10.77.0.0/24')));
    await router.map.waitFor((m) => m.type === 'delta' && (m.self?.approvedRoutes ?? []).includes('10.77.0.0/24'));
    await t.admin.request('POST', '/api/v1/admin/routes/approve', { node: 'router', route: 'exit' });
    await client.map.waitFor(isUpsertOf(rk, (x: NodeView) => (x.approvedRoutes ?? []).length === 3));
    // A new stream's full netmap carries them too.
    const late = await joined(t, key, 'late');
    const seen = fullOf(late.map).peers.find((p) => p.publicKey === rk)!;
    assert.deepEqual(seen.approvedRoutes, ['0.0.0.0/0', '10.77.0.0/24', '::/0']);
    // Withdrawn advertisement: approval kept but not shown as approved.
    router.map.send({ type: 'routes', routes: ['10.77.0.0/24'] });
    await client.map.waitFor(isUpsertOf(rk, (x: NodeView) => (x.approvedRoutes ?? []).join() === '10.77.0.0/24'));
    await t.admin.request('POST', '/api/v1/admin/routes/unapprove', { node: 'router', route: '10.77.0.0/24' });
    await client.map.waitFor(isUpsertOf(rk, (x: NodeView) => (x.approvedRoutes ?? []).length === 0));
    // Bad input.
    router.map.send({ type: 'routes', routes: ['not-a-cidr'] });
    await router.map.waitFor((m) => m.type === 'error' && m.code === 'ERR_INVALID_ROUTE');
    await assert.rejects(t.admin.request('POST', '/api/v1/admin/routes/approve', { node: 'router', route: 'x' }), (e: unknown) => e instanceof ControlError && e.code === 'ERR_INVALID_ROUTE');
    await assert.rejects(t.admin.request('POST', '/api/v1/admin/routes/approve', { node: 'nobody', route: 'exit' }), (e: unknown) => e instanceof ControlError && e.code === 'ERR_NODE_NOT_FOUND');
    for (const n of [router, client, late]) await n.map.close();
  });

  test('autoApprovers approve matching routes when advertised and when the policy changes', async () => {
    const policy = `{
      "tagOwners": {"tag:router": [], "tag:exit": []},
      "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],
      "autoApprovers": {"routes": {"192.168.0.0/16": ["tag:router"]}, "exitNode": ["tag:exit"]},
    }`;
    await t.admin.request('PUT', '/api/v1/admin/policy', { policy });
    const rkey = await t.authKey({ reusable: true, tags: ['tag:router'] });
    const r = await joined(t, rkey, 'auto-router');
    r.map.send({ type: 'routes', routes: ['192.168.5.0/24', '172.16.0.0/12', '0.0.0.0/0', '::/0'] });
    await r.map.waitFor((m) => m.type === 'delta' && (m.self?.approvedRoutes ?? []).join() === '192.168.5.0/24');
    // Policy change: now the router may also be an exit node.
    await t.admin.request('PUT', '/api/v1/admin/policy', { policy: policy.replace('"exitNode": ["tag:exit"]', '"exitNode": ["tag:router"]') });
    await r.map.waitFor((m) => m.type === 'delta' && (m.self?.approvedRoutes ?? []).length === 3);
    await t.admin.request('PUT', '/api/v1/admin/policy', { policy: DEFAULT_POLICY_TEXT });
    await r.map.close();
  });
});
