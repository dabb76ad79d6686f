// The coordinator's access policy: storage, admin routes with line/column errors, users
// and tag owners on pre-auth keys, per-node filters and visibility in netmaps and deltas.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ControlError } from '../../src/control/errors.js';
import type { NetMap, ServerMessage } from '../../src/wire/control.js';
import { DEFAULT_POLICY_TEXT } from '../../src/policy/index.js';
import { isRemovalOf, isUpsertOf, type MapClient, type SimNode } from '../helpers/control.js';
import { joined, startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.js';

const fullOf = (m: MapClient): NetMap => (m.messages.find((x) => x.type === 'full') as Extract<ServerMessage, { type: 'full' }>).netmap;

const POLICY = `{
  // alice may reach servers on 22; servers may reach nothing; bob nothing.
  "groups": { "group:eng": ["alice@"] },
  "tagOwners": { "tag:server": ["group:eng"] },
  "acls": [
    { "action": "accept", "src": ["group:eng"], "dst": ["tag:server:22"] },
  ],
  "tests": [ { "src": "alice@", "accept": ["tag:server:22"], "deny": ["tag:server:80"] } ],
}`;

async function rejects(p: Promise<unknown>, status: number, code: string): Promise<ControlError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ControlError, String(err));
    assert.equal(err.status, status, err.message);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail('expected a rejection');
}

describe('access policy in the coordinator', () => {
  let t: TestCoordinator;
  before(async () => {
    t = await startTestCoordinator();
  });
  after(() => t.stop());

  test('default policy allows all; invalid policies are refused with line/column and change nothing', async () => {
    const got = await t.admin.request<{ policy: string; updatedAt: null }>('GET', '/api/v1/admin/policy');
    assert.equal(got.policy, DEFAULT_POLICY_TEXT);
    assert.equal(got.updatedAt, null);
    const e1 = await rejects(t.admin.request('PUT', '/api/v1/admin/policy', { policy: '{\n  "acls": [\n    { "action": "accept", "src": ["group:nope"], "dst": ["*:*"] }\n  ]\n}' }), 400, 'ERR_POLICY_UNKNOWN_GROUP');
    assert.equal(e1.line, 3);
    assert.ok(typeof e1.column === 'number');
    await rejects(t.admin.request('PUT', '/api/v1/admin/policy', { policy: '{ "acls": [ ' }), 400, 'ERR_POLICY_SYNTAX');
    const failing = POLICY.replace('"deny": ["tag:server:80"]', '"deny": ["tag:server:22"]');
    const e3 = await rejects(t.admin.request('PUT', '/api/v1/admin/policy', { policy: failing }), 400, 'ERR_POLICY_TEST_FAILED');
    assert.equal(e3.line, 8);
    assert.equal((await t.admin.request<{ policy: string }>('GET', '/api/v1/admin/policy')).policy, DEFAULT_POLICY_TEXT);
  });

  test('keys carry a user; only tag owners may create tagged keys for a user', async () => {
    await t.admin.request('PUT', '/api/v1/admin/policy', { policy: POLICY });
    await rejects(t.admin.request('POST', '/api/v1/admin/authkeys', { user: 'bob', tags: ['tag:server'] }), 403, 'ERR_TAG_NOT_OWNED');
    await rejects(t.admin.request('POST', '/api/v1/admin/authkeys', { user: 'alice', tags: ['tag:other'] }), 403, 'ERR_TAG_NOT_OWNED');
    const k = await t.admin.request<{ user: string | null; tags: string[] }>('POST', '/api/v1/admin/authkeys', { user: 'alice', tags: ['tag:server'] });
    assert.equal(k.user, 'alice');
    await t.admin.request('PUT', '/api/v1/admin/policy', { policy: DEFAULT_POLICY_TEXT });
  });

  test('netmaps carry filters and only visible peers; a policy change arrives as deltas', async () => {
    await t.admin.request('PUT', '/api/v1/admin/policy', { policy: POLICY });
    const aliceKey = await t.authKey({ reusable: true, user: 'alice' });
    const bobKey = await t.authKey({ reusable: true, user: 'bob' });
    const srvKey = await t.authKey({ reusable: true, user: 'alice', tags: ['tag:server'] });
    await t.admin.request('PUT', '/api/v1/admin/policy', { policy: DEFAULT_POLICY_TEXT });
    const a = await joined(t, aliceKey, 'alice1');
    const b = await joined(t, bobKey, 'bob1');
    const s = await joined(t, srvKey, 'srv1');
    const nodes = (await t.admin.request<{ nodes: { name: string; user: string | null; tags: string[] }[] }>('GET', '/api/v1/admin/nodes')).nodes;
    assert.deepEqual(nodes.find((n) => n.name === 'alice1'), { ...nodes.find((n) => n.name === 'alice1')!, user: 'alice', tags: [] });
    assert.deepEqual(nodes.find((n) => n.name === 'srv1'), { ...nodes.find((n) => n.name === 'srv1')!, user: null, tags: ['tag:server'] });
    // Allow-all: everyone sees everyone, filter accepts all.
    assert.equal(fullOf(s.map).peers.length, 2);
    assert.deepEqual(fullOf(s.map).packetFilter?.[0].ports, [[0, 65535]]);
    assert.equal(fullOf(s.map).dns?.resolverIPv4, '100.100.100.100');

    const t0 = Date.now();
    await t.admin.request('PUT', '/api/v1/admin/policy', { policy: POLICY });
    // bob sees nobody now; alice and the server see only each other.
    await b.map.waitFor(isRemovalOf(a.node.publicKey), 5000);
    await b.map.waitFor(isRemovalOf(s.node.publicKey), 5000);
    await a.map.waitFor(isRemovalOf(b.node.publicKey), 5000);
    const sf = (await s.map.waitFor((m) => m.type === 'delta' && m.packetFilter !== undefined && m.packetFilter.length === 1, 5000)) as Extract<ServerMessage, { type: 'delta' }>;
    assert.deepEqual(sf.packetFilter![0].ports, [[22, 22]]);
    assert.ok(Date.now() - t0 < 1000);
    const af = (await a.map.waitFor((m) => m.type === 'delta' && m.packetFilter !== undefined, 5000)) as Extract<ServerMessage, { type: 'delta' }>;
    assert.deepEqual(af.packetFilter, []);

    // A new alice node appears to the server (membership change), not to bob.
    const a2 = await joined(t, aliceKey, 'alice2');
    await s.map.waitFor(isUpsertOf(a2.node.publicKey), 5000);
    assert.deepEqual(fullOf(a2.map).peers.map((p) => p.name), ['srv1']);
    assert.ok(!b.map.messages.some(isUpsertOf(a2.node.publicKey)));

    // Back to allow-all: bob gets everyone back as upserts.
    await t.admin.request('PUT', '/api/v1/admin/policy', { policy: DEFAULT_POLICY_TEXT });
    await b.map.waitFor(isUpsertOf(a.node.publicKey), 5000);
    await b.map.waitFor(isUpsertOf(a2.node.publicKey), 5000);
    for (const x of [a, b, s, a2]) await x.map.close();
  });

  test('the policy survives a restart (stored in the database)', async () => {
    await t.admin.request('PUT', '/api/v1/admin/policy', { policy: POLICY });
    const rec = await t.c.store.getPolicy();
    assert.equal(rec?.text, POLICY);
  });
});

describe('policy edits in a row fan out once', () => {
  let t: TestCoordinator;
  before(async () => {
    t = await startTestCoordinator({ policyFanoutWindowMs: 200 });
  });
  after(() => t.stop());

  test('three edits inside the window: one delta per node, with the last policy', async () => {
    const bobKey = await t.authKey({ reusable: true, user: 'bob' });
    const a = await joined(t, await t.authKey({ reusable: true, user: 'alice' }), 'alice1');
    const b = await joined(t, bobKey, 'bob1');
    const before = b.map.messages.length;
    for (const policy of [POLICY, DEFAULT_POLICY_TEXT, POLICY]) await t.admin.request('PUT', '/api/v1/admin/policy', { policy });
    // Nothing leaves before the window closes (the hub runs on the fake clock).
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(b.map.messages.length, before, 'no delta inside the window');
    assert.equal(t.c.hub.policyEditsBatched, 2);
    t.clock.advance(200);
    await b.map.waitFor(isRemovalOf(a.node.publicKey), 5000);
    await new Promise((r) => setTimeout(r, 100));
    const deltas = b.map.messages.slice(before);
    assert.equal(deltas.length, 1, JSON.stringify(deltas));
    assert.deepEqual((deltas[0] as Extract<ServerMessage, { type: 'delta' }>).packetFilter, []);
    for (const x of [a, b]) await x.map.close();
  });
});
