// One compliance suite that every Store implementation must pass (SQLite and PostgreSQL).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ControlError } from '../../src/control/errors.js';
import { SCHEMA_VERSION, StoreConflictError, type NewNode, type Store, type StoreChange } from '../../src/control/store/index.js';

export interface StoreFixture {
  /** A fresh, empty store (not yet initialised). */
  open(): Promise<Store>;
  /** A second store on the same database as the last `open()`, when sharing is supported. */
  openShared?(): Promise<Store>;
}

const NOW = Date.UTC(2026, 0, 1);
let seq = 0;
const node = (over: Partial<NewNode> = {}): NewNode => {
  const i = ++seq;
  return {
    publicKey: `pk-${i}`, name: `n${i}`, hostname: null, ipv4: `100.64.${i >> 8}.${i & 255}`, ipv6: `fd00::${i}`,
    endpoints: [], createdAt: NOW, lastSeen: NOW, expiresAt: null, ephemeral: false, tags: [], authKeyId: null, ...over,
  };
};
const key = (over: Partial<{ reusable: boolean; expiresAt: number | null; user: string | null }> = {}) => ({
  prefix: `weftkey-${++seq}`, hash: `h${seq}`, reusable: false, ephemeral: false, tags: ['tag:x'], createdAt: NOW, expiresAt: null, ...over,
});

async function rejectsCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ControlError || err instanceof StoreConflictError, String(err));
    assert.equal((err as { code: string }).code, code);
    return true;
  });
}

export function storeCompliance(fixture: StoreFixture): void {
  let s: Store;
  const fresh = async (): Promise<Store> => {
    s = await fixture.open();
    await s.init();
    return s;
  };

  test('reauthNode consumes the key and sets the expiry in one transaction', async () => {
    await fresh();
    const k = await s.createAuthKey(key());
    const n = await s.insertNode(node({ expiresAt: NOW }), null, NOW);
    const renewed = await s.reauthNode(n.id, k.id, NOW + 1000, NOW + 1);
    assert.deepEqual([renewed?.name, renewed?.ipv4, renewed?.expiresAt, renewed?.lastSeen, renewed?.authKeyId], [n.name, n.ipv4, NOW + 1000, NOW + 1, k.id]);
    // The one-off key is used up: the node keeps the expiry it had.
    await rejectsCode(s.reauthNode(n.id, k.id, null, NOW + 2), 'ERR_AUTHKEY_USED');
    assert.equal((await s.getNode(n.id))?.expiresAt, NOW + 1000);
    const k2 = await s.createAuthKey(key({ reusable: true }));
    assert.equal(await s.reauthNode(424242, k2.id, null, NOW), null);
    assert.equal((await s.listAuthKeys()).find((x) => x.id === k2.id)?.usedCount, 0, 'no node, no key used');
    assert.equal(await s.schemaVersion(), SCHEMA_VERSION);
    await s.close();
  });

  test('init is idempotent and meta values are created once', async () => {
    await fresh();
    await s.init();
    const a = await s.getOrCreateMeta('ula', () => 'first');
    const b = await s.getOrCreateMeta('ula', () => 'second');
    assert.equal(a, 'first');
    assert.equal(b, 'first');
    await s.close();
  });

  test('policy text (migration 2): absent until set, then replaced whole; key user reaches its nodes', async () => {
    await fresh();
    assert.equal(await s.getPolicy(), null);
    await s.setPolicy('// one\n{}', NOW);
    await s.setPolicy('// two\n{ "acls": [] }', NOW + 1);
    assert.deepEqual(await s.getPolicy(), { text: '// two\n{ "acls": [] }', updatedAt: NOW + 1 });
    const k = await s.createAuthKey(key({ user: 'alice' }));
    assert.equal(k.user, 'alice');
    assert.equal((await s.listAuthKeys())[0].user, 'alice');
    const n = await s.insertNode(node({ user: 'alice' }), null, NOW);
    assert.equal(n.user, 'alice');
    await s.close();
  });

  test('auth keys: create, find by prefix, list, revoke', async () => {
    await fresh();
    const k = await s.createAuthKey(key({ reusable: true, expiresAt: NOW + 1000 }));
    assert.equal(k.usedCount, 0);
    assert.equal(k.revoked, false);
    assert.deepEqual(k.tags, ['tag:x']);
    assert.deepEqual((await s.findAuthKeysByPrefix(k.prefix)).map((x) => x.id), [k.id]);
    assert.equal((await s.listAuthKeys()).length, 1);
    assert.equal(await s.revokeAuthKey(k.id), true);
    assert.equal(await s.revokeAuthKey(999_999), false);
    assert.equal((await s.listAuthKeys())[0].revoked, true);
    await s.close();
  });

  test('insertNode consumes a one-off key exactly once, even under concurrency', async () => {
    await fresh();
    const k = await s.createAuthKey(key());
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => s.insertNode(node(), k.id, NOW)));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as ControlError).code, 'ERR_AUTHKEY_USED');
    assert.equal((await s.listNodes()).length, 1);
    assert.equal((await s.listAuthKeys())[0].usedCount, 1);
    await s.close();
  });

  test('revoked and expired keys are refused with distinct codes and nothing is written', async () => {
    await fresh();
    const revoked = await s.createAuthKey(key({ reusable: true }));
    await s.revokeAuthKey(revoked.id);
    const expired = await s.createAuthKey(key({ reusable: true, expiresAt: NOW - 1 }));
    await rejectsCode(s.insertNode(node(), revoked.id, NOW), 'ERR_AUTHKEY_REVOKED');
    await rejectsCode(s.insertNode(node(), expired.id, NOW), 'ERR_AUTHKEY_EXPIRED');
    assert.equal((await s.listNodes()).length, 0);
    await s.close();
  });

  test('unique columns conflict by name and roll back the key use', async () => {
    await fresh();
    const k = await s.createAuthKey(key({ reusable: true }));
    const first = await s.insertNode(node(), k.id, NOW);
    for (const column of ['public_key', 'name', 'ipv4', 'ipv6'] as const) {
      const field = { public_key: 'publicKey', name: 'name', ipv4: 'ipv4', ipv6: 'ipv6' }[column] as keyof NewNode;
      await assert.rejects(s.insertNode(node({ [field]: first[field] }), k.id, NOW), (err: unknown) => err instanceof StoreConflictError && err.column === column);
    }
    assert.equal((await s.listAuthKeys())[0].usedCount, 1);
    assert.equal((await s.listNodes()).length, 1);
    await s.close();
  });

  test('nodes: get, update, touch, delete frees the unique values', async () => {
    await fresh();
    const n = await s.insertNode(node({ endpoints: ['1.2.3.4:5'], tags: ['tag:a'], ephemeral: true, expiresAt: NOW + 5 }), null, NOW);
    assert.deepEqual(await s.getNode(n.id), n);
    assert.deepEqual(await s.getNodeByKey(n.publicKey), n);
    assert.equal(n.ephemeral, true);
    assert.deepEqual(n.tags, ['tag:a']);
    const u = await s.updateNode(n.id, { endpoints: ['[::1]:9'], lastSeen: NOW + 7 });
    assert.deepEqual(u?.endpoints, ['[::1]:9']);
    assert.equal(u?.lastSeen, NOW + 7);
    assert.equal(u?.expiresAt, NOW + 5);
    await s.touchNodes([n.id], NOW + 9);
    assert.equal((await s.getNode(n.id))?.lastSeen, NOW + 9);
    assert.equal(await s.updateNode(12345, { lastSeen: 1 }), null);
    // Migration 3: advertised and approved routes.
    assert.deepEqual(n.advertisedRoutes, []);
    assert.deepEqual(n.approvedRoutes, []);
    const r = await s.updateNode(n.id, { advertisedRoutes: ['0.0.0.0/0', '10.0.0.0/8'], approvedRoutes: ['10.0.0.0/8'] });
    assert.deepEqual(r?.advertisedRoutes, ['0.0.0.0/0', '10.0.0.0/8']);
    assert.deepEqual((await s.getNode(n.id))?.approvedRoutes, ['10.0.0.0/8']);
    assert.equal((await s.deleteNode(n.id))?.id, n.id);
    assert.equal(await s.deleteNode(n.id), null);
    assert.equal(await s.getNode(n.id), null);
    const again = await s.insertNode(node({ name: n.name, ipv4: n.ipv4, ipv6: n.ipv6 }), null, NOW);
    assert.notEqual(again.id, n.id, 'ids are not reused');
    await s.close();
  });

  test('api keys: create, find, revoke', async () => {
    await fresh();
    const k = await s.createApiKey({ prefix: 'weftapi-abc', hash: 'hh', scope: 'read', createdAt: NOW, expiresAt: null });
    assert.deepEqual((await s.findApiKeysByPrefix('weftapi-abc')).map((x) => [x.id, x.scope]), [[k.id, 'read']]);
    assert.equal(await s.revokeApiKey(k.id), true);
    assert.equal((await s.listApiKeys())[0].revoked, true);
    await s.close();
  });

  test('users: nodes and keys belong to user rows; rename carries over; delete refused while nodes remain', async () => {
    await fresh();
    const alice = await s.identity.ensureUser('alice@', NOW);
    assert.equal((await s.identity.ensureUser('alice@', NOW + 5)).id, alice.id, 'ensureUser creates once');
    const k = await s.createAuthKey({ ...key({ user: 'alice@', reusable: true }), tags: [] });
    const n = await s.insertNode(node({ user: 'alice@' }), k.id, NOW);
    assert.deepEqual((await s.identity.userNodes(alice.id)).map((x) => x.id), [n.id]);
    await rejectsCode(s.identity.createUser({ login: 'alice@', displayName: null, provider: 'local', subject: null, groups: [], createdAt: NOW }), 'ERR_STORE_CONFLICT');
    const renamed = await s.identity.renameUser(alice.id, 'alicia@');
    assert.deepEqual(renamed?.nodeIds, [n.id]);
    assert.equal((await s.getNode(n.id))?.user, 'alicia@');
    assert.equal((await s.listAuthKeys()).find((x) => x.id === k.id)?.user, 'alicia@');
    await rejectsCode(s.identity.deleteUser(alice.id), 'ERR_USER_HAS_NODES');
    assert.ok(await s.identity.findUser('alicia@'), 'a refused delete changes nothing');
    await s.deleteNode(n.id);
    assert.equal((await s.identity.deleteUser(alice.id))?.login, 'alicia@');
    assert.deepEqual(await s.identity.listUsers(), []);
    assert.equal((await s.listAuthKeys()).some((x) => x.id === k.id), false, "the user's keys go with it");
    await s.close();
  });

  test('users: an OIDC login creates the user once and refreshes groups; a taken login is not taken over', async () => {
    await fresh();
    const claims = { provider: 'https://idp', subject: 's1', login: 'bob@example.com', displayName: 'Bob', groups: ['eng'] };
    const first = await s.identity.recordLogin(claims, NOW);
    assert.deepEqual([first.groups, first.lastLogin, first.createdAt], [['eng'], NOW, NOW]);
    const second = await s.identity.recordLogin({ ...claims, groups: ['ops'] }, NOW + 10);
    assert.deepEqual([second.id, second.groups, second.lastLogin, second.createdAt], [first.id, ['ops'], NOW + 10, NOW]);
    await rejectsCode(s.identity.recordLogin({ ...claims, subject: 's2' }, NOW), 'ERR_STORE_CONFLICT');
    const local = await s.identity.ensureUser('carol@example.com', NOW);
    const adopted = await s.identity.recordLogin({ ...claims, subject: 's3', login: 'carol@example.com' }, NOW + 20);
    assert.deepEqual([adopted.id, adopted.provider, adopted.subject, adopted.createdAt], [local.id, 'https://idp', 's3', NOW], 'a local user without a subject is adopted');
    await rejectsCode(s.identity.recordLogin({ ...claims, subject: 's4', login: 'carol@example.com' }, NOW), 'ERR_STORE_CONFLICT');
    await s.close();
  });

  test('admins and sealed values', async () => {
    await fresh();
    await s.identity.createAdmin('root', '$argon2id$x', NOW);
    await rejectsCode(s.identity.createAdmin('root', '$argon2id$y', NOW), 'ERR_STORE_CONFLICT');
    assert.equal((await s.identity.setAdminPassword('root', '$argon2id$z', NOW + 1))?.passwordHash, '$argon2id$z');
    assert.equal(await s.identity.setAdminPassword('nobody', 'h', NOW), null);
    assert.deepEqual((await s.identity.listAdmins()).map((a) => [a.login, a.updatedAt]), [['root', NOW + 1]]);
    assert.equal((await s.identity.deleteAdmin('root'))?.login, 'root');
    assert.equal(await s.identity.findAdmin('root'), null);
    await s.identity.putSealed('a', 'v1', NOW);
    await s.identity.putSealed('a', 'v2', NOW);
    assert.equal(await s.identity.getSealed('a'), 'v2');
    assert.deepEqual(await s.identity.listSealed(), [{ name: 'a', value: 'v2' }]);
    await s.close();
  });

  test('audit log: append, list since a time with a limit (newest kept, oldest first); init twice keeps it', async () => {
    await fresh();
    const added = [];
    for (let i = 0; i < 5; i++) added.push(await s.appendAudit({ at: NOW + i * 1000, actor: 'apikey:7', action: 'node.delete', target: `n${i}`, detail: { i, tags: ['tag:x'] }, source: '127.0.0.1' }));
    assert.deepEqual(added[0], { id: added[0].id, at: NOW, actor: 'apikey:7', action: 'node.delete', target: 'n0', detail: { i: 0, tags: ['tag:x'] }, source: '127.0.0.1' });
    assert.deepEqual((await s.listAudit(0, 100)).map((e) => e.target), ['n0', 'n1', 'n2', 'n3', 'n4']);
    assert.deepEqual((await s.listAudit(NOW + 2000, 100)).map((e) => e.target), ['n2', 'n3', 'n4']);
    assert.deepEqual((await s.listAudit(0, 2)).map((e) => e.target), ['n3', 'n4']);
    assert.deepEqual(await s.listAudit(NOW + 10_000, 100), []);
    await s.init();
    assert.equal((await s.listAudit(0, 100)).length, 5);
    await s.close();
  });

  test('console sessions: create, get until expiry, delete, sweep expired', async () => {
    await fresh();
    await s.createConsoleSession({ tokenHash: 'a'.repeat(64), actor: 'apikey:1', method: 'apikey', createdAt: NOW, expiresAt: NOW + 1000 });
    await s.createConsoleSession({ tokenHash: 'b'.repeat(64), actor: 'apikey:2', method: 'apikey', createdAt: NOW, expiresAt: NOW + 5000 });
    assert.deepEqual(await s.getConsoleSession('a'.repeat(64), NOW + 999), { tokenHash: 'a'.repeat(64), actor: 'apikey:1', method: 'apikey', createdAt: NOW, expiresAt: NOW + 1000 });
    assert.equal(await s.getConsoleSession('a'.repeat(64), NOW + 1000), null);
    assert.equal(await s.getConsoleSession('c'.repeat(64), NOW), null);
    assert.equal(await s.deleteExpiredConsoleSessions(NOW + 1000), 1);
    assert.equal(await s.deleteConsoleSession('b'.repeat(64)), true);
    assert.equal(await s.deleteConsoleSession('b'.repeat(64)), false);
    await s.close();
  });

  test('pending OIDC logins: taken once, bounded, expired ones neither counted nor honoured', async () => {
    await fresh();
    const pending = (h: string, createdAt: number) => ({ stateHash: h, purpose: '{"kind":"node"}', verifier: 'sealed', nonce: 'n', createdAt });
    assert.equal(await s.logins.putOidcLogin(pending('a', NOW), NOW - 600, 2), true);
    assert.equal(await s.logins.putOidcLogin(pending('b', NOW), NOW - 600, 2), true);
    assert.equal(await s.logins.putOidcLogin(pending('c', NOW), NOW - 600, 2), false, 'full');
    assert.deepEqual(await s.logins.takeOidcLogin('a', NOW - 600), pending('a', NOW));
    assert.equal(await s.logins.takeOidcLogin('a', NOW - 600), null, 'once');
    assert.equal(await s.logins.takeOidcLogin('b', NOW), null, 'expired: not honoured');
    assert.equal(await s.logins.putOidcLogin(pending('d', NOW), NOW - 600, 1), true);
    assert.equal(await s.logins.putOidcLogin(pending('e', NOW + 700), NOW + 100, 1), true, 'expired rows do not count');
    await s.close();
  });

  test('node logins: one per node key, granted once, taken once, expiring', async () => {
    await fresh();
    const fresh1 = { id: 'id-1', nodeKey: 'nk-1', createdAt: NOW, user: null };
    assert.deepEqual(await s.logins.waitNodeLogin(fresh1, NOW - 600, 2), fresh1);
    assert.deepEqual(await s.logins.waitNodeLogin({ ...fresh1, id: 'id-other', createdAt: NOW + 1 }, NOW - 600, 2), fresh1, 'the waiting one is reused');
    assert.equal(await s.logins.takeGrantedNodeLogin('nk-1', NOW - 600), null, 'not granted yet');
    assert.deepEqual(await s.logins.findWaitingNodeLogin('id-1', NOW - 600), fresh1);
    assert.equal(await s.logins.grantNodeLogin('id-1', 'alice@example.com', NOW - 600), true);
    assert.equal(await s.logins.grantNodeLogin('id-1', 'mallory@example.com', NOW - 600), false, 'granted once');
    assert.equal(await s.logins.findWaitingNodeLogin('id-1', NOW - 600), null, 'no longer waiting');
    assert.equal(await s.logins.takeGrantedNodeLogin('nk-1', NOW - 600), 'alice@example.com');
    assert.equal(await s.logins.takeGrantedNodeLogin('nk-1', NOW - 600), null, 'taken once');
    await s.logins.waitNodeLogin({ id: 'id-2', nodeKey: 'nk-2', createdAt: NOW, user: null }, NOW - 600, 1);
    assert.equal(await s.logins.waitNodeLogin({ id: 'id-3', nodeKey: 'nk-3', createdAt: NOW, user: null }, NOW - 600, 1), null, 'full');
    assert.equal(await s.logins.grantNodeLogin('id-2', 'alice@example.com', NOW), false, 'expired');
    assert.equal((await s.logins.waitNodeLogin({ id: 'id-4', nodeKey: 'nk-2', createdAt: NOW + 700, user: null }, NOW + 100, 1))?.id, 'id-4', 'an expired login is replaced');
    await s.close();
  });

  test('MagicDNS records (migration 9): set replaces one name and type, delete by name or name and type', async () => {
    await fresh();
    const rows = async (): Promise<string[]> => (await s.listDnsRecords()).map((r) => `${r.name} ${r.type} ${r.value}`);
    assert.deepEqual(await rows(), []);
    await s.setDnsRecords('web.weft.internal', 'TXT', ['b', 'a', 'a'], NOW);
    await s.setDnsRecords('db.weft.internal', 'A', ['100.64.0.9'], NOW);
    await s.setDnsRecords('db.weft.internal', 'TXT', ['x'], NOW);
    assert.deepEqual(await rows(), ['db.weft.internal A 100.64.0.9', 'db.weft.internal TXT x', 'web.weft.internal TXT a', 'web.weft.internal TXT b']);
    await s.setDnsRecords('web.weft.internal', 'TXT', ['c'], NOW);
    assert.deepEqual((await s.deleteDnsRecords('db.weft.internal', 'TXT')).map((r) => r.value), ['x']);
    assert.deepEqual(await rows(), ['db.weft.internal A 100.64.0.9', 'web.weft.internal TXT c']);
    assert.deepEqual((await s.deleteDnsRecords('web.weft.internal')).map((r) => `${r.type} ${r.value}`), ['TXT c']);
    assert.deepEqual(await s.deleteDnsRecords('nobody.weft.internal'), []);
    await s.setDnsRecords('db.weft.internal', 'A', [], NOW);
    assert.deepEqual(await rows(), []);
    await s.close();
  });

  if (fixture.openShared) {
    test('changes made through one instance are announced to another', async () => {
      await fresh();
      const other = await fixture.openShared!();
      await other.init();
      const seen: StoreChange[] = [];
      other.subscribe((c) => seen.push(c));
      const own: StoreChange[] = [];
      s.subscribe((c) => own.push(c));
      const n = await s.insertNode(node(), null, NOW);
      await s.updateNode(n.id, { endpoints: ['1.1.1.1:1'] });
      await s.touchNodes([n.id], NOW + 1);
      await s.deleteNode(n.id);
      await s.setDnsRecords('x.weft.internal', 'TXT', ['y'], NOW);
      const deadline = Date.now() + 5000;
      while (seen.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(seen.map((c) => c.kind), ['node-upsert', 'node-upsert', 'seen', 'node-remove', 'dns']);
      assert.equal(own.length, 0, 'an instance ignores its own announcements');
      await other.close();
      await s.close();
    });
  }
}
