// Routes branch: nodes advertise routes on the map stream, admins list and approve them,
// autoApprovers approve without an admin, and peers see the approved routes in netmaps.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ControlError } from '../../src/control/errors.js';
import type { NetMap, NodeView, RouteView, ServerMessage } from '../../src/wire/control.js';
import { DEFAULT_POLICY_TEXT } from '../../src/policy/index.js';
import { isUpsertOf, MapClient, type SimNode } from '../helpers/control.js';
import { joined, startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.js';

const waitFull = async (m: MapClient): Promise<MapClient> => (await m.waitFor((x) => x.type === 'full'), m);
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
      ['router', '10.77.0.0/24', false, false],
      ['router', 'exit', false, true],
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

  test('half an exit node: either default route approves (and unapproves) both; listed as one row', async () => {
    const key = await t.authKey({ reusable: true });
    const exit = await joined(t, key, 'half-exit');
    const viewer = await joined(t, key, 'half-viewer');
    const ek = exit.node.publicKey;
    exit.map.send({ type: 'routes', routes: ['0.0.0.0/0', '::/0'] });
    await viewer.map.waitFor(isUpsertOf(ek, (v: NodeView) => (v.advertisedRoutes ?? []).length === 2));
    const rows = async (): Promise<unknown[]> =>
      (await t.admin.request<{ routes: RouteView[] }>('GET', '/api/v1/admin/routes')).routes.filter((r) => r.node === 'half-exit').map((r) => [r.route, r.approved, r.advertised, r.exitNode]);
    assert.deepEqual(await rows(), [['exit', false, true, true]]);
    for (const [approve, unapprove] of [['0.0.0.0/0', '::/0'], ['::/0', '0.0.0.0/0']]) {
      const n = await t.admin.request<NodeView>('POST', '/api/v1/admin/routes/approve', { node: 'half-exit', route: approve });
      assert.deepEqual(n.approvedRoutes, ['0.0.0.0/0', '::/0'], `approving ${approve} approves both`);
      await viewer.map.waitFor(isUpsertOf(ek, (v: NodeView) => (v.approvedRoutes ?? []).length === 2));
      assert.deepEqual(await rows(), [['exit', true, true, true]]);
      const u = await t.admin.request<NodeView>('POST', '/api/v1/admin/routes/unapprove', { node: 'half-exit', route: unapprove });
      assert.deepEqual(u.approvedRoutes, [], `unapproving ${unapprove} removes both`);
      assert.deepEqual(await rows(), [['exit', false, true, true]]);
    }
    for (const n of [exit, viewer]) await n.map.close();
  });

  test('v5: ACL destinations reach the router as forwarding (dsts) rules, only on streams that announced v5', async () => {
    const key = await t.authKey({ reusable: true });
    const router = await joined(t, key, 'fw-router');
    const client = await joined(t, key, 'fw-client');
    const other = await joined(t, key, 'fw-other');
    const rk = router.node.publicKey;
    router.map.send({ type: 'routes', routes: ['10.78.0.0/24'] });
    await client.map.waitFor(isUpsertOf(rk, (v: NodeView) => (v.advertisedRoutes ?? []).length === 1));
    await t.admin.request('POST', '/api/v1/admin/routes/approve', { node: 'fw-router', route: '10.78.0.0/24' });
    // Allow-all: the whole subnet, for everyone; the older stream (no version header) never gets dsts rules.
    t.clock.advance(1000); // a new signature timestamp (replay protection)
    const v5 = await router.node.openMap(5);
    assert.deepEqual(fullOf(await waitFull(v5)).packetFilter, [
      { srcs: ['0.0.0.0/0', '::/0'], ports: [[0, 65535]] },
      { srcs: ['0.0.0.0/0', '::/0'], ports: [[0, 65535]], dsts: ['10.78.0.0/24'] },
    ]);
    t.clock.advance(1000); // a new signature timestamp (replay protection)
    const v4 = await router.node.openMap(4);
    assert.deepEqual(fullOf(await waitFull(v4)).packetFilter, [{ srcs: ['0.0.0.0/0', '::/0'], ports: [[0, 65535]] }]);
    // Restrict the subnet to one host and port for fw-client: a delta with the new dsts rule.
    await t.admin.request('PUT', '/api/v1/admin/policy', {
      policy: '{"hosts": {"lanhost": "10.78.0.5"}, "acls": [{"action": "accept", "src": ["fw-client"], "dst": ["lanhost:80"]}]}',
    });
    const c = (await client.map.waitFor((m) => m.type === 'delta' && m.packetFilter !== undefined)) as Extract<ServerMessage, { type: 'delta' }>;
    const self = fullOf(client.map).self;
    const delta = (await v5.waitFor((m) => m.type === 'delta' && m.packetFilter !== undefined && m.packetFilter.length === 1)) as Extract<ServerMessage, { type: 'delta' }>;
    assert.equal(delta.packetFilter![0].dsts?.join(), '10.78.0.5/32');
    assert.deepEqual(delta.packetFilter![0].ports, [[80, 80]]);
    assert.deepEqual(delta.packetFilter![0].srcs, [`${self.ipv4}/32`, `${self.ipv6}/128`]);
    assert.ok(!delta.removals.includes(self.publicKey), 'the router still sees the client');
    const old = (await v4.waitFor((m) => m.type === 'delta' && m.packetFilter !== undefined)) as Extract<ServerMessage, { type: 'delta' }>;
    assert.deepEqual(old.packetFilter, []);
    // The client keeps the router (it may use its route); fw-other loses it.
    assert.ok(!c.removals.includes(rk));
    await other.map.waitFor((m) => m.type === 'delta' && m.removals.includes(rk));
    // Unapproving the route recompiles: the forwarding rule goes.
    await t.admin.request('POST', '/api/v1/admin/routes/unapprove', { node: 'fw-router', route: '10.78.0.0/24' });
    await v5.waitFor((m) => m.type === 'delta' && m.packetFilter !== undefined && m.packetFilter.length === 0);
    await client.map.waitFor((m) => m.type === 'delta' && m.removals.includes(rk));
    // A malformed version header is refused.
    t.clock.advance(1000);
    await assert.rejects(MapClient.open(t.url.replace(/^http/, 'ws') + '/api/v1/map', router.node.authHeader('GET', '/api/v1/map'), { 'weft-protocol-version': 'x' }), (e: { status?: number }) => e.status === 400);
    await t.admin.request('PUT', '/api/v1/admin/policy', { policy: DEFAULT_POLICY_TEXT });
    for (const m of [router.map, client.map, other.map, v5, v4]) await m.close();
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
