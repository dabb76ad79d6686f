import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { weftAdmin } from '../helpers/weft-cli.js';
import type { AuditEntryView } from '../../src/control/audit.js';
import { http } from '../helpers/control.js';
import { joined, startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.js';

// Every admin mutation leaves exactly one audit entry (who, what, when, from where) and
// nothing secret; `weft audit list` shows them; bad queries change nothing.

const weft = weftAdmin;

describe('audit log', () => {
  let t: TestCoordinator;
  let stateDir: string;
  const secrets: string[] = [];
  before(async () => {
    t = await startTestCoordinator();
    stateDir = join(t.dir, 'state');
  });
  after(() => t.stop());

  const entries = async (): Promise<AuditEntryView[]> => (await t.admin.request<{ entries: AuditEntryView[] }>('GET', '/api/v1/admin/audit?limit=1000')).entries;

  /** Runs `change` and checks it added exactly one entry, returned for more checks. */
  async function oneEntry(change: () => Promise<unknown>, action: string, target: string | RegExp): Promise<AuditEntryView> {
    const before = await entries();
    await change();
    const now = await entries();
    assert.equal(now.length, before.length + 1, `${action} adds exactly one entry`);
    const e = now.at(-1)!;
    assert.equal(e.action, action);
    if (typeof target === 'string') assert.equal(e.target, target);
    else assert.match(e.target, target);
    assert.ok(Math.abs(Date.parse(e.time) - t.clock.wallNow()) < 1000);
    return e;
  }

  test('every admin mutation over the local socket: one entry each, actor the socket user', async () => {
    const key = (await weft('keys', 'create', '--state-dir', stateDir, '--reusable', '--tag', 'ci')).trim();
    secrets.push(key);
    const created = (await entries()).at(-1)!;
    assert.equal(created.action, 'authkey.create');
    assert.deepEqual(created.detail, { reusable: true, ephemeral: false, tags: ['tag:ci'], user: null, expiresAt: created.detail.expiresAt });
    assert.deepEqual([created.actor, created.source], [`local:${userInfo().username}`, 'local socket'], 'the socket peer, as the kernel reports it');

    const { map } = await joined(t, key, 'audited');
    await oneEntry(() => weft('routes', 'approve', 'audited', 'exit', '--state-dir', stateDir), 'route.approve', 'audited');
    const un = await oneEntry(() => weft('routes', 'unapprove', 'audited', 'exit', '--state-dir', stateDir), 'route.unapprove', 'audited');
    assert.deepEqual(un.detail, { routes: ['0.0.0.0/0', '::/0'] });
    const policy = '{"acls":[{"action":"accept","src":["*"],"dst":["*:*"]}]}';
    writeFileSync(join(t.dir, 'acl.hujson'), policy);
    const p = await oneEntry(() => weft('policy', 'set', join(t.dir, 'acl.hujson'), '--state-dir', stateDir), 'policy.set', 'policy');
    assert.equal(p.detail.bytes, policy.length);
    assert.match(String(p.detail.sha256), /^[0-9a-f]{64}$/);
    const ext = await oneEntry(() => weft('nodes', 'extend', 'audited', '--by', '30d', '--state-dir', stateDir), 'node.extend', 'audited');
    assert.equal(ext.detail.expiresAt, (await t.admin.request<{ expiresAt: string }>('GET', '/api/v1/admin/nodes/audited')).expiresAt);
    const exp = await oneEntry(() => weft('nodes', 'expire', 'audited', '--state-dir', stateDir), 'node.expire', 'audited');
    assert.ok(Date.parse(String(exp.detail.expiresAt)) <= t.clock.wallNow());
    const del = await oneEntry(() => weft('nodes', 'rm', 'audited', '--state-dir', stateDir), 'node.delete', 'audited');
    assert.match(String(del.detail.ipv4), /^100\.64\./);
    await map.close();
    await oneEntry(() => weft('keys', 'revoke', key, '--state-dir', stateDir), 'authkey.revoke', `authkey:${created.target.split(':')[1]}`);
    let apiKey = '';
    const ak = await oneEntry(async () => (apiKey = (await weft('apikeys', 'create', '--state-dir', stateDir)).trim()), 'apikey.create', /^apikey:\d+$/);
    secrets.push(apiKey);
    await oneEntry(() => weft('apikeys', 'revoke', ak.target.split(':')[1], '--state-dir', stateDir), 'apikey.revoke', ak.target);

    // A refused change is not a change.
    const n = (await entries()).length;
    await assert.rejects(weft('nodes', 'rm', 'nobody', '--state-dir', stateDir));
    await assert.rejects(t.admin.request('PUT', '/api/v1/admin/policy', { policy: '{ "acls": [' }));
    assert.equal((await entries()).length, n);
  });

  test('over the remote API: the API key id and the remote address', async () => {
    const { key: apiKey, id } = await t.admin.request<{ key: string; id: string }>('POST', '/api/v1/admin/apikeys', {});
    secrets.push(apiKey);
    const e = await oneEntry(async () => secrets.push((await weft('keys', 'create', '--server', t.url, '--api-key', apiKey)).trim()), 'authkey.create', /^authkey:\d+$/);
    assert.deepEqual([e.actor, e.source], [`apikey:${id}`, '127.0.0.1']);
    const listed = await http(`${t.url}/api/v1/admin/audit?limit=5`, 'GET', undefined, { authorization: `Bearer ${apiKey}` });
    assert.equal(listed.status, 200);
    assert.equal(listed.json.entries.length, 5);
    const remote = JSON.parse(await weft('audit', 'list', '--since', '2026-01-31T00:00:00Z', '--json', '--server', t.url, '--api-key', apiKey)) as AuditEntryView[];
    assert.deepEqual(remote.at(-1), e);
  });

  test('no entry holds a key or token, not even its listed prefix', async () => {
    const rows = (JSON.parse(t.snapshot()) as [string, unknown[]][]).find(([table]) => table === 'audit_log')![1];
    const text = JSON.stringify(await entries()) + JSON.stringify(rows);
    assert.ok(secrets.length >= 4 && rows.length >= 11);
    for (const secret of secrets) {
      const random = secret.slice(secret.indexOf('-') + 1);
      assert.ok(!text.includes(random.slice(0, 8)), 'no part of a secret in the audit log');
    }
  });

  test('since and limit are validated: 400 naming the field, nothing changes', async () => {
    const snap = t.snapshot();
    for (const [q, field] of [['since=yesterday', 'since'], ['since=2026-13-45T00:00:00Z', 'since'], ['limit=0', 'limit'], ['limit=1001', 'limit'], ['limit=ten', 'limit'], ['until=x', 'until']] as const) {
      const r = await http(`${t.url}/api/v1/admin/audit?${q}`, 'GET', undefined, {});
      assert.equal(r.status, 401, 'the remote API needs a key first');
      await assert.rejects(t.admin.request('GET', `/api/v1/admin/audit?${q}`), (e: { status: number; code: string; field: string }) => e.status === 400 && e.code === 'ERR_VALIDATION' && e.field === field, q);
    }
    assert.equal(t.snapshot(), snap);
    const future = new Date(t.clock.wallNow() + 3_600_000).toISOString();
    assert.deepEqual((await t.admin.request<{ entries: unknown[] }>('GET', `/api/v1/admin/audit?since=${future}`)).entries, []);
  });

  test('weft audit list: table, --json, --since DURATION|TIME, and a one-line error for a bad --since', async () => {
    const table = await weft('audit', 'list', '--state-dir', stateDir);
    const lines = table.trim().split('\n');
    assert.match(lines[0], /^TIME\s+ACTOR\s+SOURCE\s+ACTION\s+TARGET\s+DETAIL$/);
    for (const action of ['authkey.create', 'route.approve', 'route.unapprove', 'policy.set', 'node.extend', 'node.expire', 'node.delete', 'authkey.revoke', 'apikey.create', 'apikey.revoke']) assert.ok(lines.some((l) => l.includes(` ${action} `)), action);
    const json = JSON.parse(await weft('audit', 'list', '--state-dir', stateDir, '--json')) as AuditEntryView[];
    assert.equal(json.length, lines.length - 1);
    assert.equal(JSON.parse(await weft('audit', 'list', '--since', '24h', '--state-dir', stateDir, '--json')).length, json.length);
    assert.equal(JSON.parse(await weft('audit', 'list', '--state-dir', stateDir, '--json', '--since', '2000-01-01')).length, json.length);
    assert.equal(JSON.parse(await weft('audit', 'list', '--state-dir', stateDir, '--json', '--limit', '2')).length, 2);
    assert.deepEqual(JSON.parse(await weft('audit', 'list', '--state-dir', stateDir, '--json', '--since', new Date(t.clock.wallNow() + 60_000).toISOString())), []);
    for (const bad of ['yesterday', '1x', '2026-02-30T25:00:00Z', '']) {
      await assert.rejects(weft('audit', 'list', '--state-dir', stateDir, '--since', bad), (e: Error & { code: string }) => {
        assert.equal(e.code, 'ERR_INVALID_ARGUMENT');
        assert.match(e.message, /^--since wants a duration like 1h or 7d, or a time like 2026-01-31T12:00:00Z; got ".*"$/);
        assert.ok(!e.message.includes('\n'));
        return true;
      });
    }
  });
});
