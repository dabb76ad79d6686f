// Issue 17: users (rows nodes belong to), local admins (Argon2id), scoped API keys and
// the sealing key, driven through the real `weft` commands against one coordinator.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { weftAdmin as weft } from '../helpers/weft-cli.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.js';
import { WEFT_MAIN } from '../helpers/cli.js';
import { AdminPasswords } from '../../src/control/identity/passwords.js';
import { getSecret, putSecret } from '../../src/control/identity/secrets-at-rest.js';
import { Sealer } from '../../src/control/identity/sealer.js';
import type { NodeView } from '../../src/wire/control.js';

/** The real CLI with `input` on stdin (passwords are never arguments); async, as the coordinator runs in this process. */
export function weftStdin(input: string, ...args: string[]): Promise<{ status: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [WEFT_MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000 });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  child.stdin.end(input);
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, out, err })));
}

describe('identity administration', () => {
  let t: TestCoordinator;
  let stateDir: string;
  before(async () => {
    t = await startTestCoordinator();
    stateDir = join(t.dir, 'state');
  });
  after(() => t.stop());

  test('users: create, list, rename (nodes follow, policy sees the new name), rm refused with nodes unless --cascade', async () => {
    assert.match(await weft('users', 'create', 'bob@', '--display-name', 'Bob', '--state-dir', stateDir), /created user bob@/);
    await assert.rejects(weft('users', 'create', 'bob@', '--state-dir', stateDir), (e: { code: string }) => e.code === 'ERR_ALREADY_EXISTS');
    const key = (await weft('keys', 'create', '--reusable', '--user', 'carol@', '--state-dir', stateDir)).trim();
    for (const hostname of ['c1', 'c2']) assert.equal((await t.node().register({ hostname, authKey: key })).status, 200);
    const list = await weft('users', 'list', '--state-dir', stateDir);
    assert.match(list, /bob@\s+Bob\s+local\s+-\s+0\s/);
    assert.match(list, /carol@\s+-\s+local\s+-\s+2\s/, 'a pre-auth key user is a user row, its nodes counted');

    assert.match(await weft('users', 'rename', 'carol@', 'caroline@', '--state-dir', stateDir), /renamed carol@ to caroline@/);
    const nodes = await t.admin.request<{ nodes: NodeView[] }>('GET', '/api/v1/admin/nodes');
    assert.deepEqual(nodes.nodes.map((n) => n.user), ['caroline@', 'caroline@']);
    assert.equal((await t.node().register({ hostname: 'c3', authKey: key })).json.node.user, 'caroline@', 'the key follows the rename');

    const before = t.snapshot();
    await assert.rejects(weft('users', 'rm', 'caroline@', '--state-dir', stateDir), (e: { code: string; message: string }) => e.code === 'ERR_USER_HAS_NODES' && /c1, c2, c3/.test(e.message));
    assert.equal(t.snapshot(), before, 'a refused delete changes nothing');
    assert.match(await weft('users', 'rm', 'caroline@', '--cascade', '--state-dir', stateDir), /removed user caroline@ and its nodes c1, c2, c3/);
    assert.deepEqual((await t.admin.request<{ nodes: NodeView[] }>('GET', '/api/v1/admin/nodes')).nodes, []);
    assert.equal((await t.node().register({ authKey: key })).json.error.code, 'ERR_AUTHKEY_INVALID', "the user's keys are gone");
    assert.match(await weft('users', 'rm', 'bob@', '--state-dir', stateDir), /removed user bob@\n/);
    await assert.rejects(weft('users', 'rm', 'bob@', '--state-dir', stateDir), (e: { code: string }) => e.code === 'ERR_USER_NOT_FOUND');
  });

  test('admins: password from stdin hashed with Argon2id (OWASP parameters); passwd; rm; never on argv', async () => {
    const created = await weftStdin('correct horse battery\n', 'admins', 'create', 'root', '--state-dir', stateDir);
    assert.equal(created.status, 0, created.err);
    const a = await t.c.store.identity.findAdmin('root');
    assert.match(a!.passwordHash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    assert.ok(!a!.passwordHash.includes('correct horse'));
    const short = await weftStdin('short\n', 'admins', 'create', 'other', '--state-dir', stateDir);
    assert.notEqual(short.status, 0);
    assert.match(short.err, /ERR_PASSWORD_TOO_SHORT|at least 12/);
    const pw = new AdminPasswords(t.c.store.identity, t.clock);
    assert.deepEqual(await pw.verifyAdminPassword('root', 'correct horse battery', '127.0.0.1'), { kind: 'admin', login: 'root', provider: 'local', groups: [] });
    assert.equal((await weftStdin('a much better password\n', 'admins', 'passwd', 'root', '--state-dir', stateDir)).status, 0);
    await assert.rejects(pw.verifyAdminPassword('root', 'correct horse battery', '127.0.0.2'), (e: { code: string }) => e.code === 'ERR_LOGIN_FAILED');
    assert.equal((await pw.verifyAdminPassword('root', 'a much better password', '127.0.0.3')).login, 'root');
    assert.match(await weft('admins', 'list', '--state-dir', stateDir), /^root\s/m);
    assert.match(await weft('admins', 'rm', 'root', '--state-dir', stateDir), /removed admin root/);
    await assert.rejects(pw.verifyAdminPassword('root', 'a much better password', '127.0.0.4'), (e: { code: string }) => e.code === 'ERR_LOGIN_FAILED');
  });

  test('API keys: a read-only key reads and gets 403 JSON on writes; an admin key writes; expiry and revoke end both', async () => {
    const read = (await weft('apikeys', 'create', '--scope', 'read', '--expiry', '1h', '--state-dir', stateDir)).trim();
    const adminKey = (await weft('apikeys', 'create', '--scope', 'admin', '--state-dir', stateDir)).trim();
    assert.match(await weft('apikeys', 'list', '--state-dir', stateDir), /\sread\s[\s\S]*\sadmin\s/);
    const call = async (key: string, method: string, path: string, body?: unknown) => {
      const res = await fetch(`${t.url}${path}`, { method, headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
      return { status: res.status, type: res.headers.get('content-type'), json: (await res.json()) as { error?: { code: string; field?: string } } };
    };
    assert.equal((await call(read, 'GET', '/api/v1/admin/nodes')).status, 200);
    assert.equal((await call(read, 'GET', '/api/v1/admin/users')).status, 200);
    const before = t.snapshot();
    for (const [method, path, body] of [['POST', '/api/v1/admin/authkeys', {}], ['POST', '/api/v1/admin/users', { login: 'x@' }], ['PUT', '/api/v1/admin/policy', { policy: '{}' }], ['DELETE', '/api/v1/admin/nodes/nope', undefined]] as const) {
      const r = await call(read, method, path, body);
      assert.equal(r.status, 403, `${method} ${path}`);
      assert.match(r.type ?? '', /application\/json/);
      assert.deepEqual([r.json.error?.code, r.json.error?.field], ['ERR_READ_ONLY_KEY', 'authorization']);
    }
    assert.equal(t.snapshot(), before, 'refused writes change nothing');
    assert.equal((await call(adminKey, 'POST', '/api/v1/admin/users', { login: 'dave@' })).status, 200);
    assert.equal((await call(read, 'POST', '/api/v1/admin/apikeys', {})).json.error?.code, 'ERR_LOCAL_ONLY');
    t.clock.advance(3601_000);
    assert.equal((await call(read, 'GET', '/api/v1/admin/nodes')).json.error?.code, 'ERR_API_KEY_INVALID', 'expired');
    const id = (await t.c.store.listApiKeys()).find((k) => k.scope === 'admin' && !k.revoked)!.id;
    assert.match(await weft('apikeys', 'revoke', String(id), '--state-dir', stateDir), /revoked weftapi-/);
    assert.equal((await call(adminKey, 'GET', '/api/v1/admin/nodes')).status, 401);
  });

  test('secrets at rest: the key file is 0600; rotate reseals stored values under a new key and drops the old', async () => {
    const file = join(stateDir, 'secrets.key');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const ring = await Sealer.open(stateDir);
    await putSecret(t.c.store.identity, ring, 'test.token', 'hunter2-token', 1);
    const old = await t.c.store.identity.getSealed('test.token');
    assert.ok(old && !old.includes('hunter2'));
    const out = await weft('secrets', 'rotate', '--state-dir', stateDir);
    const m = /sealing key rotated: (\w+) -> (\w+)/.exec(out);
    assert.ok(m && m[1] === ring.currentKeyId && m[2] !== m[1], out);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const after = await Sealer.open(stateDir);
    assert.deepEqual(after.keyIds, [m[2]], 'only the new key is kept');
    assert.equal(await getSecret(t.c.store.identity, after, 'test.token'), 'hunter2-token');
    assert.throws(() => after.open('test.token', old), (e: { code: string }) => e.code === 'ERR_SEALED_SECRET', 'the old key is gone');
  });
});
