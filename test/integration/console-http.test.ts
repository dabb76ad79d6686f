import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import https from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { CONTENT_SECURITY_POLICY } from '../../src/static-files.js';
import { CSRF_HEADER, DEFAULT_SESSION_TTL_MS, SESSION_COOKIE } from '../../src/control/console/session.js';
import type { AuditEntryView } from '../../src/control/audit.js';
import { http, type HttpResult } from '../helpers/control.js';
import { joined, startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.js';

// The web console over HTTP: pages with a strict CSP, login for an admin API key,
// the session cookie's flags, CSRF on writes, the login rate limit, session expiry
// and revocation, and the admin API endpoints the console added.

type Res = HttpResult;

const call = (t: TestCoordinator, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Res> => http(t.url + path, method, body, headers);

const newApiKey = async (t: TestCoordinator): Promise<{ id: string; key: string }> => t.admin.request('POST', '/api/v1/admin/apikeys', {});

async function login(t: TestCoordinator, secret: string): Promise<{ cookie: string; csrf: string; res: Res }> {
  const res = await call(t, 'POST', '/admin/login', { method: 'apikey', secret });
  assert.equal(res.status, 200, res.text);
  const set = res.headers.get('set-cookie')!;
  return { cookie: set.split(';')[0], csrf: res.json.csrf, res };
}

describe('web console over HTTP', () => {
  let t: TestCoordinator;
  before(async () => {
    t = await startTestCoordinator();
  });
  after(() => t.stop());

  test('pages: /admin and its assets with a strict CSP; unknown assets 404', async () => {
    for (const path of ['/admin', '/admin/', '/admin/static/app.js', '/admin/static/pages/policy.js', '/admin/static/console.css']) {
      const r = await call(t, 'GET', path);
      assert.equal(r.status, 200, path);
      assert.equal(r.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    }
    assert.match(CONTENT_SECURITY_POLICY, /default-src 'none'; script-src 'self';/);
    assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval|https?:/);
    assert.match((await call(t, 'GET', '/admin')).text, /<script type="module" src="\/admin\/static\/app.js">/);
    assert.equal((await call(t, 'GET', '/admin/static/../../server.key')).status, 404);
    assert.equal((await call(t, 'GET', '/admin/static/%2e%2e/session.js')).status, 404);
  });

  test('login: cookie is HttpOnly, SameSite=Strict, Path=/, expires with the session; only its hash is stored', async () => {
    const { key } = await newApiKey(t);
    const { res, cookie, csrf } = await login(t, key);
    const set = res.headers.get('set-cookie')!;
    assert.match(set, new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{43}; `));
    for (const flag of ['HttpOnly', 'SameSite=Strict', 'Path=/', `Max-Age=${DEFAULT_SESSION_TTL_MS / 1000}`]) assert.ok(set.split('; ').includes(flag), `${flag} in ${set}`);
    assert.ok(!/Secure/.test(set), 'plain HTTP: not Secure (a browser would drop it)');
    assert.ok(!JSON.stringify(res.json).includes(cookie.split('=')[1]), 'the token is only in the cookie');
    const db = new Database(join(t.dir, 'state', 'weft.db'), { readonly: true });
    const rows = db.prepare('SELECT * FROM console_sessions').all() as { token_hash: string }[];
    db.close();
    assert.ok(rows.length >= 1 && rows.every((r) => /^[0-9a-f]{64}$/.test(r.token_hash)));
    assert.ok(!JSON.stringify(rows).includes(cookie.split('=')[1]), 'the raw token is not stored');
    const s = await call(t, 'GET', '/admin/session', undefined, { cookie });
    assert.equal(s.status, 200);
    assert.equal(s.json.csrf, csrf);
    assert.match(s.json.actor, /^apikey:\d+$/);
  });

  test('admin API with the cookie: reads pass; writes without or with a wrong CSRF token are 403 JSON and change nothing', async () => {
    const { key } = await newApiKey(t);
    const { cookie, csrf } = await login(t, key);
    assert.equal((await call(t, 'GET', '/api/v1/admin/nodes', undefined, { cookie })).status, 200);
    const before = t.snapshot();
    for (const h of [{}, { [CSRF_HEADER]: 'x'.repeat(43) }, { [CSRF_HEADER]: '' }] as Record<string, string>[]) {
      const r = await call(t, 'POST', '/api/v1/admin/authkeys', { reusable: true }, { cookie, ...h });
      assert.equal(r.status, 403);
      assert.equal(r.json.error.code, 'ERR_CSRF');
      assert.equal(r.json.error.field, CSRF_HEADER);
    }
    assert.equal(t.snapshot(), before, 'rejected writes changed nothing');
    const ok = await call(t, 'POST', '/api/v1/admin/authkeys', { reusable: true }, { cookie, [CSRF_HEADER]: csrf });
    assert.equal(ok.status, 200, ok.text);
    const { entries } = await t.admin.request<{ entries: AuditEntryView[] }>('GET', '/api/v1/admin/audit');
    assert.match(entries.at(-1)!.actor, /^console:apikey:\d+$/, 'the audit log names the console session');
    // API keys stay local-socket-only, for the console too.
    assert.equal((await call(t, 'GET', '/api/v1/admin/apikeys', undefined, { cookie })).status, 403);
  });

  test('no cookie, a made-up cookie, or after logout: 401', async () => {
    const { key } = await newApiKey(t);
    const { cookie, csrf } = await login(t, key);
    assert.equal((await call(t, 'GET', '/api/v1/admin/nodes')).status, 401);
    assert.equal((await call(t, 'GET', '/api/v1/admin/nodes', undefined, { cookie: `${SESSION_COOKIE}=${'A'.repeat(43)}` })).json.error.code, 'ERR_SESSION_INVALID');
    const out = await call(t, 'POST', '/admin/logout', undefined, { cookie });
    assert.match(out.headers.get('set-cookie')!, /Max-Age=0/);
    assert.equal((await call(t, 'GET', '/api/v1/admin/nodes', undefined, { cookie })).status, 401);
    assert.equal((await call(t, 'POST', '/api/v1/admin/authkeys', {}, { cookie, [CSRF_HEADER]: csrf })).status, 401);
  });

  test('sessions expire, and end when the API key that opened them is revoked', async () => {
    const { key, id } = await newApiKey(t);
    const a = await login(t, key);
    const b = await login(t, key);
    t.clock.advance(DEFAULT_SESSION_TTL_MS - 1000);
    assert.equal((await call(t, 'GET', '/api/v1/admin/nodes', undefined, { cookie: a.cookie })).status, 200);
    t.clock.advance(1000);
    assert.equal((await call(t, 'GET', '/api/v1/admin/nodes', undefined, { cookie: a.cookie })).status, 401, 'expired');
    const c = await login(t, key);
    await t.admin.request('DELETE', `/api/v1/admin/apikeys/${id}`);
    assert.equal((await call(t, 'GET', '/admin/session', undefined, { cookie: c.cookie })).status, 401, 'revoked key ends its sessions');
    assert.equal((await call(t, 'GET', '/admin/session', undefined, { cookie: b.cookie })).status, 401);
  });

  test('a local admin logs in with login and password; a read-only API key opens no session; removing the admin ends its sessions', async () => {
    await t.admin.request('POST', '/api/v1/admin/admins', { login: 'ops', password: 'correct horse battery' });
    const bad = await call(t, 'POST', '/admin/login', { method: 'password', login: 'ops', secret: 'wrong password here' });
    assert.equal(bad.status, 401, bad.text);
    assert.equal(bad.json.error.code, 'ERR_LOGIN_FAILED');
    assert.equal((await call(t, 'POST', '/admin/login', { method: 'password', secret: 'correct horse battery' })).status, 401, 'no login name');
    const ok = await call(t, 'POST', '/admin/login', { method: 'password', login: 'ops', secret: 'correct horse battery' });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.actor, 'admin:ops');
    const cookie = ok.headers.get('set-cookie')!.split(';')[0];
    const write = await call(t, 'POST', '/api/v1/admin/authkeys', {}, { cookie, [CSRF_HEADER]: ok.json.csrf });
    assert.equal(write.status, 200, write.text);
    const audit = (await t.admin.request<{ entries: AuditEntryView[] }>('GET', '/api/v1/admin/audit')).entries;
    assert.ok(audit.some((e) => e.actor === 'console:admin:ops' && e.action === 'authkey.create'), 'the audit log names the admin');
    const ro = await t.admin.request<{ key: string }>('POST', '/api/v1/admin/apikeys', { scope: 'read' });
    assert.equal((await call(t, 'POST', '/admin/login', { method: 'apikey', secret: ro.key })).status, 401, 'the console needs an admin-scoped key');
    await t.admin.request('DELETE', '/api/v1/admin/admins/ops');
    assert.equal((await call(t, 'GET', '/admin/session', undefined, { cookie })).status, 401, 'a removed admin is logged out');
  });

  test('login: wrong keys are 401 JSON; after a burst of failures the source gets 429, even with the right key', async () => {
    const { key } = await newApiKey(t);
    const bad = await call(t, 'POST', '/admin/login', { method: 'apikey', secret: 'weftapi-nope' });
    assert.equal(bad.status, 401);
    assert.equal(bad.json.error.code, 'ERR_LOGIN_FAILED');
    assert.equal((await call(t, 'POST', '/admin/login', { method: 'magic', secret: 'x' })).json.error.field, 'method');
    assert.equal((await call(t, 'POST', '/admin/login', { method: 'apikey' })).json.error.field, 'secret');
    let limited: Res | null = null;
    for (let i = 0; i < 50 && !limited; i++) {
      const r = await call(t, 'POST', '/admin/login', { method: 'apikey', secret: `weftapi-guess${i}` });
      if (r.status === 429) limited = r;
      else assert.equal(r.status, 401);
    }
    assert.ok(limited, 'rate limited within 50 guesses');
    assert.equal(limited.json.error.code, 'ERR_RATE_LIMITED');
    assert.equal((await call(t, 'POST', '/admin/login', { method: 'apikey', secret: key })).status, 429);
    t.clock.advance(60_000);
    assert.equal((await call(t, 'POST', '/admin/login', { method: 'apikey', secret: key })).status, 200, 'the bucket refills');
  });

  test('policy check runs the policy tests without saving; errors carry line and column', async () => {
    const { key } = await newApiKey(t);
    const { cookie, csrf } = await login(t, key);
    const w = { cookie, [CSRF_HEADER]: csrf };
    const good = '{\n  "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}],\n  "tests": [{"src": "100.64.0.1", "accept": ["100.64.0.2:22"]}]\n}';
    const before = (await call(t, 'GET', '/api/v1/admin/policy', undefined, { cookie })).json;
    const ok = await call(t, 'POST', '/api/v1/admin/policy/check', { policy: good }, w);
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.json, { ok: true, acls: 1, testCases: 1 });
    assert.deepEqual((await call(t, 'GET', '/api/v1/admin/policy', undefined, { cookie })).json, before, 'check saves nothing');
    const bad = await call(t, 'POST', '/api/v1/admin/policy/check', { policy: '{\n  "acls": [\n    {"action": "allow"}\n  ]\n}' }, w);
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.line, 3);
    assert.equal(typeof bad.json.error.column, 'number');
    const failing = await call(t, 'POST', '/api/v1/admin/policy/check', { policy: '{\n  "acls": [],\n  "tests": [{"src": "100.64.0.1", "accept": ["100.64.0.2:22"]}]\n}' }, w);
    assert.equal(failing.status, 400, 'a failing policy test fails the check');
    assert.equal(failing.json.error.line, 3);
  });

  test('rename, relays and the live event stream', async () => {
    const { key } = await newApiKey(t);
    const { cookie, csrf } = await login(t, key);
    const w = { cookie, [CSRF_HEADER]: csrf };
    const ac = new AbortController();
    const res = await fetch(`${t.url}/api/v1/admin/events`, { headers: { cookie }, signal: ac.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    const reader = res.body!.getReader();
    let seen = '';
    const until = async (re: RegExp): Promise<void> => {
      while (!re.test(seen)) seen += new TextDecoder().decode((await reader.read()).value);
    };
    const { map } = await joined(t, await t.authKey(), 'renameme');
    await until(/event: node\ndata: \{[^\n]*"name":"renameme"[^\n]*"online":true/);
    const r = await call(t, 'POST', '/api/v1/admin/nodes/renameme/rename', { name: 'renamed' }, w);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.name, 'renamed');
    await until(/"name":"renamed"/);
    assert.equal((await call(t, 'POST', '/api/v1/admin/nodes/renamed/rename', { name: 'Bad Name' }, w)).json.error.field, 'name');
    await joined(t, await t.authKey(), 'other');
    const taken = await call(t, 'POST', '/api/v1/admin/nodes/renamed/rename', { name: 'other' }, w);
    assert.deepEqual([taken.status, taken.json.error.code], [409, 'ERR_NAME_TAKEN']);
    assert.equal((await t.admin.request<{ name: string }>('GET', '/api/v1/admin/nodes/renamed')).name, 'renamed');
    const relays = await call(t, 'GET', '/api/v1/admin/relays', undefined, { cookie });
    assert.equal(relays.status, 200);
    assert.deepEqual(relays.json.relays.map((x: { id: string; embedded: boolean }) => [x.id, x.embedded]), [['default', true]]);
    assert.deepEqual(relays.json.relays[0].clients, []);
    map.close();
    ac.abort();
  });
});

test('over TLS the session cookie is Secure', async () => {
  const certDir = mkdtempSync(join(tmpdir(), 'weft-console-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1', '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem')], { stdio: 'ignore' });
  const t = await startTestCoordinator({ tls: { cert: join(certDir, 'cert.pem'), key: join(certDir, 'key.pem') } });
  try {
    const { key } = await newApiKey(t);
    const body = JSON.stringify({ method: 'apikey', secret: key });
    const set = await new Promise<string>((resolve, reject) => {
      const req = https.request(`${t.url}/admin/login`, { method: 'POST', ca: readFileSync(join(certDir, 'cert.pem')), checkServerIdentity: () => undefined, headers: { 'content-type': 'application/json' } }, (res) => {
        res.resume();
        resolve(String(res.headers['set-cookie']));
      });
      req.on('error', reject);
      req.end(body);
    });
    assert.ok(set.split('; ').includes('Secure'), set);
    assert.ok(set.split('; ').includes('HttpOnly'));
  } finally {
    await t.stop();
    rmSync(certDir, { recursive: true, force: true });
  }
});
