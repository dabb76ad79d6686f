import assert from 'node:assert/strict';
import fc from 'fast-check';
import { after, before, describe, test } from 'node:test';
import { ControlError } from '../../src/control/errors.js';
import type { NodeView } from '../../src/wire/control.js';
import { CONTROL_PROTOCOL_VERSION } from '../../src/wire/version.js';
import { http, type HttpResult } from '../helpers/control.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.js';

function assertError(r: HttpResult, status: number, code: string, field?: string): void {
  assert.equal(r.status, status, JSON.stringify(r.json));
  assert.equal(r.json?.error?.code, code, JSON.stringify(r.json));
  assert.equal(typeof r.json.error.message, 'string');
  if (field !== undefined) assert.equal(r.json.error.field, field, JSON.stringify(r.json));
}

async function adminRejects(p: Promise<unknown>, status: number, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof ControlError && err.status === status && err.code === code);
}

describe('coordinator HTTP API', () => {
  let t: TestCoordinator;
  before(async () => {
    t = await startTestCoordinator({ nodeExpiryMs: 3_600_000 });
  });
  after(() => t.stop());

  test('GET /api/v1/key publishes the server key', async () => {
    const r = await http(`${t.url}/api/v1/key`, 'GET');
    assert.deepEqual(r.json, { version: CONTROL_PROTOCOL_VERSION, publicKey: t.c.publicKey });
  });

  test('register, idempotent re-registration, unique names, lookups', async () => {
    const key = await t.authKey({ reusable: true });
    const a = t.node();
    const r1 = await a.register({ hostname: 'Laptop', authKey: key, endpoints: ['192.0.2.1:41641'] });
    assert.equal(r1.status, 200, JSON.stringify(r1.json));
    const n = r1.json.node;
    assert.equal(n.name, 'laptop');
    assert.equal(n.fqdn, 'laptop.weft.internal');
    assert.match(n.ipv4, /^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./);
    assert.ok(n.ipv6.startsWith(r1.json.ipv6Range.split('::')[0]));
    assert.equal(r1.json.domain, 'weft.internal');
    assert.equal(r1.json.ipv4Range, '100.64.0.0/10');
    assert.match(r1.json.ipv6Range, /^fd[0-9a-f]{2}:/);
    assert.deepEqual(n.endpoints, ['192.0.2.1:41641']);

    const again = await a.register({ hostname: 'other-name' });
    assert.equal(again.status, 200);
    assert.deepEqual([again.json.node.name, again.json.node.ipv4, again.json.node.ipv6, again.json.node.id], [n.name, n.ipv4, n.ipv6, n.id]);

    const b = await t.node().register({ hostname: 'laptop', authKey: key });
    assert.equal(b.json.node.name, 'laptop-2');
    const c = await t.node().register({ authKey: key });
    assert.match(c.json.node.name, /^[a-z]+-[a-z]+(-\d+)?$/);
    const d = await t.node().register({ hostname: '***', authKey: key });
    assert.match(d.json.node.name, /^[a-z]+-[a-z]+(-\d+)?$/);

    for (const ref of [n.name, n.ipv4, n.ipv6]) assert.equal((await t.admin.request<{ id: number }>('GET', `/api/v1/admin/nodes/${ref}`)).id, n.id);
    await adminRejects(t.admin.request('GET', '/api/v1/admin/nodes/nope'), 404, 'ERR_NODE_NOT_FOUND');
  });

  test('a new node needs a key; one-off, revoked and expired keys are refused with distinct codes', async () => {
    assertError(await t.node().register({ hostname: 'x' }), 401, 'ERR_AUTHKEY_REQUIRED', 'authKey');
    assertError(await t.node().register({ authKey: 'weftkey-' + 'A'.repeat(43) }), 401, 'ERR_AUTHKEY_INVALID', 'authKey');
    assertError(await t.node().register({ authKey: 'garbage' }), 401, 'ERR_AUTHKEY_INVALID', 'authKey');

    const oneOff = await t.authKey({});
    assert.equal((await t.node().register({ authKey: oneOff })).status, 200);
    const before = t.snapshot();
    assertError(await t.node().register({ authKey: oneOff }), 403, 'ERR_AUTHKEY_USED', 'authKey');

    const revoked = await t.authKey({ reusable: true });
    await t.admin.request('DELETE', `/api/v1/admin/authkeys/${revoked}`);
    assertError(await t.node().register({ authKey: revoked }), 403, 'ERR_AUTHKEY_REVOKED', 'authKey');

    const expiring = await t.authKey({ reusable: true, expirySeconds: 60 });
    const snap = t.snapshot();
    t.clock.advance(61_000);
    assertError(await t.node().register({ authKey: expiring }), 403, 'ERR_AUTHKEY_EXPIRED', 'authKey');
    assert.equal(t.snapshot(), snap, 'refused registrations change nothing');
    assert.notEqual(before, snap);
  });

  test('pre-auth keys: list shows no secret; revoke by prefix or id', async () => {
    const key = await t.authKey({ reusable: false, ephemeral: true, tags: ['tag:ci'], expirySeconds: 0 });
    const { authKeys } = await t.admin.request<{ authKeys: { id: string; prefix: string; key?: string; tags: string[]; expiresAt: null }[] }>('GET', '/api/v1/admin/authkeys');
    const mine = authKeys.find((k) => key.startsWith(k.prefix))!;
    assert.equal(mine.key, undefined);
    assert.deepEqual(mine.tags, ['tag:ci']);
    assert.equal(mine.expiresAt, null);
    assert.ok(!JSON.stringify(authKeys).includes(key));
    assert.ok(!t.snapshot().includes(key), 'the database holds only the hash');
    const r = await t.admin.request<{ revoked: boolean }>('DELETE', `/api/v1/admin/authkeys/${mine.prefix}`);
    assert.equal(r.revoked, true);
    await adminRejects(t.admin.request('DELETE', '/api/v1/admin/authkeys/999999'), 404, 'ERR_AUTHKEY_NOT_FOUND');
  });

  test('deletion frees the address for reuse; logout deregisters', async () => {
    const key = await t.authKey({ reusable: true });
    const a = t.node();
    const ra = await a.register({ hostname: 'freeme', authKey: key });
    await t.admin.request('DELETE', '/api/v1/admin/nodes/freeme');
    await adminRejects(t.admin.request('GET', '/api/v1/admin/nodes/freeme'), 404, 'ERR_NODE_NOT_FOUND');
    const rb = await t.node().register({ hostname: 'freeme', authKey: key });
    assert.equal(rb.json.node.ipv4, ra.json.node.ipv4, 'freed address is handed out again');
    assert.equal(rb.json.node.name, 'freeme');

    const c = t.node();
    await c.register({ hostname: 'leaver', authKey: key });
    assert.deepEqual((await c.logout()).json, { ok: true });
    // Identical requests within one second carry the same MAC and would be replays.
    t.clock.advance(1000);
    assertError(await c.logout(), 403, 'ERR_NODE_NOT_REGISTERED');
    assertError(await c.register({}), 401, 'ERR_AUTHKEY_REQUIRED', 'authKey');
  });

  test('node keys expire: refused with ERR_NODE_EXPIRED and shown expired', async () => {
    const key = await t.authKey({ reusable: true, expirySeconds: 0 });
    const a = t.node();
    const r = await a.register({ hostname: 'shortlived', authKey: key });
    assert.ok(r.json.node.expiresAt);
    t.clock.advance(3_600_001);
    assertError(await a.register({}), 403, 'ERR_NODE_EXPIRED');
    assertError(await a.logout(), 403, 'ERR_NODE_EXPIRED');
    await assert.rejects(a.openMap(), (err: { status: number; body: { error: { code: string } } }) => {
      assert.equal(err.status, 403);
      assert.equal(err.body.error.code, 'ERR_NODE_EXPIRED');
      return true;
    });
    const v = await t.admin.request<{ expired: boolean }>('GET', '/api/v1/admin/nodes/shortlived');
    assert.equal(v.expired, true);
  });

  test('re-authentication (weft up --force-reauth): same key, name and addresses, new expiry; refused keys change nothing', async () => {
    const key = await t.authKey({ reusable: true, expirySeconds: 0 });
    const a = t.node();
    const first = (await a.register({ hostname: 'reauth', authKey: key })).json.node;
    t.clock.advance(3_600_001);
    assertError(await a.register({}), 403, 'ERR_NODE_EXPIRED');
    const snap = t.snapshot();
    assertError(await a.register({ reauth: true }), 401, 'ERR_AUTHKEY_REQUIRED', 'authKey');
    assertError(await a.register({ reauth: true, authKey: 'weftkey-nope' }), 401, 'ERR_AUTHKEY_INVALID', 'authKey');
    const oneOff = await t.authKey({ reusable: false });
    await t.node().register({ authKey: oneOff });
    const snapUsed = t.snapshot();
    assertError(await a.register({ reauth: true, authKey: oneOff }), 403, 'ERR_AUTHKEY_USED', 'authKey');
    assert.equal(t.snapshot(), snapUsed, 'a refused re-authentication changes nothing');
    assert.notEqual(snap, snapUsed);
    assertError(await a.register({ reauth: 'yes', authKey: key }), 400, 'ERR_VALIDATION', 'reauth');
    const fresh = await t.authKey({ reusable: false });
    const r = await a.register({ reauth: true, authKey: fresh, endpoints: ['192.0.2.9:41641'] });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const n = r.json.node;
    assert.deepEqual([n.id, n.name, n.ipv4, n.ipv6, n.publicKey], [first.id, first.name, first.ipv4, first.ipv6, first.publicKey]);
    assert.equal(n.expired, false);
    assert.equal(Date.parse(n.expiresAt), t.clock.wallNow() + 3_600_000);
    assert.deepEqual(n.endpoints, ['192.0.2.9:41641']);
    assertError(await a.register({ reauth: true, authKey: fresh }), 403, 'ERR_AUTHKEY_USED', 'authKey');
    (await a.openMap()).ws.terminate();
  });

  test('admin expire and extend (v6): cut off now, revived from now, pushed back from the current expiry', async () => {
    const key = await t.authKey({ reusable: true, expirySeconds: 0 });
    const a = t.node();
    await a.register({ hostname: 'extendme', authKey: key });
    const map = await a.openMap();
    const expired = await t.admin.request<NodeView>('POST', '/api/v1/admin/nodes/extendme/expire', {});
    assert.equal(expired.expired, true);
    assert.equal(Date.parse(expired.expiresAt!), t.clock.wallNow());
    await map.waitFor((m) => m.type === 'error' && m.code === 'ERR_NODE_EXPIRED');
    const selfIdx = map.messages.findIndex((m) => m.type === 'delta' && m.self?.expired === true);
    assert.ok(selfIdx >= 0 && selfIdx < map.messages.findIndex((m) => m.type === 'error'), 'the node hears its own expiry before the stream closes');
    assertError(await a.register({}), 403, 'ERR_NODE_EXPIRED');
    t.clock.advance(5000);
    const revived = await t.admin.request<NodeView>('POST', '/api/v1/admin/nodes/extendme/extend', {});
    assert.equal(Date.parse(revived.expiresAt!), t.clock.wallNow() + 3_600_000, 'default: the server key lifetime, from now');
    assert.equal((await a.register({})).status, 200);
    const pushed = await t.admin.request<NodeView>('POST', `/api/v1/admin/nodes/${revived.ipv4}/extend`, { bySeconds: 86_400 });
    assert.equal(Date.parse(pushed.expiresAt!), Date.parse(revived.expiresAt!) + 86_400_000, 'from the current expiry');
    await map.close();
    await t.c.registry.settled();
    const snap = t.snapshot();
    await adminRejects(t.admin.request('POST', '/api/v1/admin/nodes/extendme/extend', { bySeconds: 0 }), 400, 'ERR_VALIDATION');
    await adminRejects(t.admin.request('POST', '/api/v1/admin/nodes/extendme/extend', { by: 1 }), 400, 'ERR_VALIDATION');
    await adminRejects(t.admin.request('POST', '/api/v1/admin/nodes/extendme/expire', { now: true }), 400, 'ERR_VALIDATION');
    await adminRejects(t.admin.request('POST', '/api/v1/admin/nodes/ghost/expire', {}), 404, 'ERR_NODE_NOT_FOUND');
    await adminRejects(t.admin.request('POST', '/api/v1/admin/nodes/ghost/extend', {}), 404, 'ERR_NODE_NOT_FOUND');
    assert.equal(t.snapshot(), snap, 'refused admin requests change nothing');
  });

  test('admin API over TCP needs an API key; API keys are managed only locally', async () => {
    const nodes = `${t.url}/api/v1/admin/nodes`;
    assertError(await http(nodes, 'GET'), 401, 'ERR_UNAUTHENTICATED', 'authorization');
    // Percent-encoded spellings reach the same route and must meet the same guard.
    for (const p of ['/api/v1/%61dmin/nodes', '/api/v1/admin/node%73', '/api/v1/./admin/nodes', '/api/v1/admin/nodes/laptop']) assertError(await http(t.url + p, 'GET'), 401, 'ERR_UNAUTHENTICATED');
    assertError(await http(`${t.url}/api/v1/%61dmin/apikeys`, 'POST', {}), 401, 'ERR_UNAUTHENTICATED');
    assertError(await http(nodes, 'GET', undefined, { authorization: 'Bearer weftapi-' + 'x'.repeat(43) }), 401, 'ERR_API_KEY_INVALID');
    const { key, id } = await t.admin.request<{ key: string; id: string }>('POST', '/api/v1/admin/apikeys', {});
    assert.ok(!t.snapshot().includes(key));
    const bearer = { authorization: `Bearer ${key}` };
    assert.equal((await http(nodes, 'GET', undefined, bearer)).status, 200);
    assertError(await http(`${t.url}/api/v1/admin/apikeys`, 'GET', undefined, bearer), 403, 'ERR_LOCAL_ONLY');
    const created = await http(`${t.url}/api/v1/admin/authkeys`, 'POST', { reusable: true }, bearer);
    assert.match(created.json.key, /^weftkey-/);
    await t.admin.request('DELETE', `/api/v1/admin/apikeys/${id}`);
    assertError(await http(nodes, 'GET', undefined, bearer), 401, 'ERR_API_KEY_INVALID');
  });

  test('GET /api/v1/map without a WebSocket upgrade is 426; unknown routes are 404 JSON', async () => {
    assertError(await http(`${t.url}/api/v1/map`, 'GET'), 426, 'ERR_UPGRADE_REQUIRED');
    assertError(await http(`${t.url}/api/v1/nope`, 'GET'), 404, 'ERR_NOT_FOUND');
  });

  describe('bad requests get a 4xx naming the problem and change no state', () => {
    const big = JSON.stringify({ version: 2, hostname: 'x'.repeat(70 * 1024) });
    let key: string;
    before(async () => {
      key = await t.authKey({ reusable: true });
    });

    const unchanged = async (fn: () => Promise<void>): Promise<void> => {
      const before = t.snapshot();
      await fn();
      assert.equal(t.snapshot(), before);
    };

    test('register: body shape', async () => {
      await unchanged(async () => {
        const n = t.node();
        assertError(await n.call('POST', '/api/v1/register', '{"version":2,'), 400, 'ERR_BAD_JSON', 'body');
        assertError(await n.call('POST', '/api/v1/register', '[]'), 400, 'ERR_VALIDATION', 'body');
        assertError(await n.call('POST', '/api/v1/register', { hostname: 'x', authKey: key }), 400, 'ERR_VALIDATION', 'version');
        assertError(await n.register({ version: '2', authKey: key }), 400, 'ERR_VALIDATION', 'version');
        assertError(await n.register({ version: 99, authKey: key }), 400, 'ERR_VALIDATION', 'version');
        assertError(await n.register({ hostname: 5, authKey: key }), 400, 'ERR_VALIDATION', 'hostname');
        assertError(await n.register({ authKey: 7 }), 400, 'ERR_VALIDATION', 'authKey');
        assertError(await n.register({ endpoints: 'x', authKey: key }), 400, 'ERR_VALIDATION', 'endpoints');
        assertError(await n.register({ endpoints: [5], authKey: key }), 400, 'ERR_VALIDATION', 'endpoints[0]');
        assertError(await n.register({ endpoints: ['1.2.3.4:5', 'nope'], authKey: key }), 400, 'ERR_INVALID_ENDPOINT', 'endpoints[1]');
        assertError(await n.register({ authKey: key, admin: true }), 400, 'ERR_VALIDATION', 'admin');
        assertError(await n.call('POST', '/api/v1/register', big), 413, 'ERR_BODY_TOO_LARGE', 'body');
        assertError(await n.call('POST', '/api/v1/register?x=1', { version: 2, authKey: key }), 400, 'ERR_VALIDATION', 'x');
        const raw = JSON.stringify({ version: 2, authKey: key });
        assertError(await http(`${t.url}/api/v1/register`, 'POST', raw, { 'content-type': 'text/plain', authorization: n.authHeader('POST', '/api/v1/register', raw) }), 415, 'ERR_UNSUPPORTED_MEDIA_TYPE');
      });
    });

    test('register and logout: authentication', async () => {
      const victim = t.node();
      await victim.register({ hostname: 'victim', authKey: key });
      const member = t.node();
      await member.register({ hostname: 'member', authKey: key });
      await unchanged(async () => {
        for (const path of ['/api/v1/register', '/api/v1/logout']) {
          // Register admits an unknown key (it brings a pre-auth key); logout only a registered one.
          const register = path.endsWith('register');
          const body = register ? JSON.stringify({ version: 2, authKey: 'weftkey-' + 'A'.repeat(43) }) : '{}';
          const n = register ? t.node() : member;
          assertError(await http(t.url + path, 'POST', body), 401, 'ERR_UNAUTHENTICATED', 'authorization');
          assertError(await http(t.url + path, 'POST', body, { authorization: 'Bearer nope' }), 401, 'ERR_AUTH_MALFORMED', 'authorization');
          const good = n.authHeader('POST', path, body);
          const badMac = good.replace(/mac=(.)/, (_m, ch: string) => `mac=${ch === 'A' ? 'B' : 'A'}`);
          assertError(await n.call('POST', path, body, { auth: badMac }), 401, 'ERR_AUTH_BAD_MAC');
          const badNonce = good.replace(/nonce=(.)/, (_m, ch: string) => `nonce=${ch === 'A' ? 'B' : 'A'}`);
          assertError(await n.call('POST', path, body, { auth: badNonce }), 401, 'ERR_AUTH_BAD_MAC');
          assertError(await n.call('POST', path, body, { auth: good.replace(/ nonce=[^,]+,/, '') }), 401, 'ERR_AUTH_MALFORMED', 'authorization');
          assertError(await n.call('POST', path, body, { auth: n.authHeader('POST', path, '{"other":1}') }), 401, 'ERR_AUTH_BAD_MAC');
          assertError(await n.call('POST', path, body, { auth: n.authHeader('POST', '/api/v1/elsewhere', body) }), 401, 'ERR_AUTH_BAD_MAC');
          const stale = Math.floor(t.clock.wallNow() / 1000) - 600;
          assertError(await n.call('POST', path, body, { ts: stale }), 401, 'ERR_AUTH_STALE');
          // A far-future timestamp is refused too (it would pin replay state longer).
          assertError(await n.call('POST', path, body, { ts: stale + 1200 }), 401, 'ERR_AUTH_STALE');
          // Signed by n but claiming to be the victim: the MAC does not verify under the victim's key.
          const forged = good.replace(/key=[^,]+/, `key=${victim.publicKey}`);
          assertError(await n.call('POST', path, body, { auth: forged }), 401, 'ERR_AUTH_BAD_MAC');
          if (!register) {
            // An unknown key is refused before its MAC is even looked at.
            const stranger = t.node();
            assertError(await stranger.call('POST', path, body, { auth: stranger.authHeader('POST', path, body).replace(/mac=(.)/, 'mac=A') }), 403, 'ERR_NODE_NOT_REGISTERED');
            continue;
          }
          const first = await n.call('POST', path, body, { auth: good });
          assertError(first, 401, 'ERR_AUTHKEY_INVALID');
          assertError(await n.call('POST', path, body, { auth: good }), 401, 'ERR_AUTH_REPLAY');
        }
      });
    });

    test('fuzz: arbitrary signed register bodies never cause a 5xx', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.string(),
            fc.json(),
            fc.record({ version: fc.anything(), hostname: fc.anything(), authKey: fc.anything(), endpoints: fc.anything() }, { requiredKeys: [] }).map((m) => JSON.stringify(m)),
          ),
          async (body) => {
            const r = await t.node().call('POST', '/api/v1/register', body);
            assert.ok(r.status < 500 && typeof r.json?.error?.code === 'string', `${r.status} ${JSON.stringify(r.json)}`);
          },
        ),
        { numRuns: 150 },
      );
    });

    test('logout: body shape', async () => {
      const n = t.node();
      await n.register({ hostname: 'stays', authKey: key });
      await unchanged(async () => {
        assertError(await n.call('POST', '/api/v1/logout', '{"now":true}'), 400, 'ERR_VALIDATION', 'now');
        assertError(await n.call('POST', '/api/v1/logout', '{'), 400, 'ERR_BAD_JSON', 'body');
        assertError(await n.call('POST', '/api/v1/logout', '[1]'), 400, 'ERR_VALIDATION', 'body');
        assertError(await n.call('POST', '/api/v1/logout', JSON.stringify({ pad: 'x'.repeat(70_000) })), 413, 'ERR_BODY_TOO_LARGE');
      });
    });

    test('map upgrade: authentication', async () => {
      const n = t.node();
      await n.register({ hostname: 'mapper', authKey: key });
      await unchanged(async () => {
        const url = t.url.replace('http', 'ws') + '/api/v1/map';
        const { MapClient } = await import('../helpers/control.js');
        const refused = (status: number, code: string) => (err: { status: number; body: { error: { code: string } } }) => err.status === status && err.body.error.code === code;
        await assert.rejects(MapClient.open(url, ''), refused(401, 'ERR_UNAUTHENTICATED'));
        await assert.rejects(MapClient.open(url, n.authHeader('GET', '/api/v1/map', 'x')), refused(401, 'ERR_AUTH_BAD_MAC'));
        await assert.rejects(MapClient.open(url, n.authHeader('GET', '/api/v1/map', '', Math.floor(t.clock.wallNow() / 1000) - 600)), refused(401, 'ERR_AUTH_STALE'));
        await assert.rejects(MapClient.open(url, t.node().authHeader('GET', '/api/v1/map')), refused(403, 'ERR_NODE_NOT_REGISTERED'));
        await assert.rejects(MapClient.open(url + '?x=1', n.authHeader('GET', '/api/v1/map')), refused(404, 'ERR_NOT_FOUND'));
      });
      const header = n.authHeader('GET', '/api/v1/map');
      const { MapClient } = await import('../helpers/control.js');
      const m = await MapClient.open(t.url.replace('http', 'ws') + '/api/v1/map', header);
      await m.close();
      await assert.rejects(MapClient.open(t.url.replace('http', 'ws') + '/api/v1/map', header), (err: { status: number }) => err.status === 401);
    });

    test('admin: body shape, params and unknown ids', async () => {
      const apiKey = (await t.admin.request<{ key: string }>('POST', '/api/v1/admin/apikeys', {})).key;
      await unchanged(async () => {
        await adminRejects(t.admin.request('POST', '/api/v1/admin/authkeys', { reusable: 'yes' }), 400, 'ERR_VALIDATION');
        await adminRejects(t.admin.request('POST', '/api/v1/admin/authkeys', { tags: ['nocolon'] }), 400, 'ERR_VALIDATION');
        await adminRejects(t.admin.request('POST', '/api/v1/admin/authkeys', { expirySeconds: -1 }), 400, 'ERR_VALIDATION');
        await adminRejects(t.admin.request('POST', '/api/v1/admin/authkeys', { expirySeconds: 1.5 }), 400, 'ERR_VALIDATION');
        await adminRejects(t.admin.request('POST', '/api/v1/admin/authkeys', { extra: 1 }), 400, 'ERR_VALIDATION');
        await adminRejects(t.admin.request('POST', '/api/v1/admin/apikeys', { expirySeconds: 'soon' }), 400, 'ERR_VALIDATION');
        await adminRejects(t.admin.request('DELETE', '/api/v1/admin/apikeys/abc'), 400, 'ERR_VALIDATION');
        await adminRejects(t.admin.request('DELETE', '/api/v1/admin/apikeys/424242'), 404, 'ERR_API_KEY_NOT_FOUND');
        await adminRejects(t.admin.request('DELETE', '/api/v1/admin/nodes/ghost'), 404, 'ERR_NODE_NOT_FOUND');
        const bearer = { authorization: `Bearer ${apiKey}` };
        const u = `${t.url}/api/v1/admin/authkeys`;
        assertError(await http(u, 'POST', '{"reusable":', bearer), 400, 'ERR_BAD_JSON', 'body');
        assertError(await http(u, 'POST', { reusable: 1 }, bearer), 400, 'ERR_VALIDATION', 'reusable');
        assertError(await http(u, 'POST', { tags: ['tag:ok', 'bad'] }, bearer), 400, 'ERR_VALIDATION', 'tags[1]');
        assertError(await http(u, 'POST', { nope: 1 }, bearer), 400, 'ERR_VALIDATION', 'nope');
        assertError(await http(u, 'POST', JSON.stringify({ tags: Array(2000).fill('tag:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa') }), bearer), 413, 'ERR_BODY_TOO_LARGE');
        assertError(await http(u, 'POST', { reusable: true }), 401, 'ERR_UNAUTHENTICATED');
      });
    });
  });
});
