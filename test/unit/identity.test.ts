// Issue 17 units: Argon2id admin logins and their rate limits, AES-256-GCM sealing and
// key rotation, who is a console admin by OIDC.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { AdminPasswords, hashPassword, LOGIN_FAILURE_LIMIT } from '../../src/control/identity/passwords.js';
import { Sealer, SECRETS_KEY_FILE } from '../../src/control/identity/sealer.js';
import { openSqliteStore } from '../../src/control/store/sqlite.js';
import { isConsoleAdmin } from '../../src/control/identity/console-oidc.js';
import { oidcFromFlags } from '../../src/cli/oidc-options.js';

const dir = mkdtempSync(join(tmpdir(), 'weft-identity-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const code = (c: string) => (e: unknown): boolean => (e as { code?: string }).code === c;

describe('admin passwords', async () => {
  const store = openSqliteStore(':memory:');
  await store.init();
  after(() => store.close());
  await store.identity.createAdmin('root', await hashPassword('the right password'), 0);

  test('the right password gives the admin principal; wrong ones and unknown logins fail alike', async () => {
    const pw = new AdminPasswords(store.identity, new FakeClock());
    assert.equal((await pw.verifyAdminPassword('root', 'the right password', '10.0.0.1')).login, 'root');
    await assert.rejects(pw.verifyAdminPassword('root', 'the wrong password', '10.0.0.1'), code('ERR_LOGIN_FAILED'));
    await assert.rejects(pw.verifyAdminPassword('nobody', 'the right password', '10.0.0.1'), code('ERR_LOGIN_FAILED'));
    await assert.rejects(pw.verifyAdminPassword('ROOT; drop', 'x', '10.0.0.1'), code('ERR_LOGIN_FAILED'));
  });

  test('after 5 failures from a source even the right password is refused (429) until the bucket refills', async () => {
    const clock = new FakeClock();
    const pw = new AdminPasswords(store.identity, clock);
    for (let i = 0; i < LOGIN_FAILURE_LIMIT.burst; i++) await assert.rejects(pw.verifyAdminPassword(`guess${i}`, 'nope', '10.0.0.2'), code('ERR_LOGIN_FAILED'));
    await assert.rejects(pw.verifyAdminPassword('root', 'the right password', '10.0.0.2'), code('ERR_RATE_LIMITED'));
    assert.equal((await pw.verifyAdminPassword('root', 'the right password', '10.0.0.3')).login, 'root', 'another source is not affected');
    clock.advance(60_000);
    assert.equal((await pw.verifyAdminPassword('root', 'the right password', '10.0.0.2')).login, 'root', 'one more try a minute later');
  });

  test('failures against one login from many sources lock that login, not others', async () => {
    const clock = new FakeClock();
    const pw = new AdminPasswords(store.identity, clock);
    for (let i = 0; i < LOGIN_FAILURE_LIMIT.burst; i++) await assert.rejects(pw.verifyAdminPassword('root', 'nope', `10.1.0.${i}`), code('ERR_LOGIN_FAILED'));
    await assert.rejects(pw.verifyAdminPassword('root', 'the right password', '10.2.0.1'), code('ERR_RATE_LIMITED'));
    await assert.rejects(pw.verifyAdminPassword('other', 'nope', '10.2.0.1'), code('ERR_LOGIN_FAILED'));
  });

  test('all attempts together are bounded (each costs an Argon2id hash)', async () => {
    const clock = new FakeClock();
    const pw = new AdminPasswords(store.identity, clock, LOGIN_FAILURE_LIMIT, { perSecond: 1, burst: 3 });
    for (let i = 0; i < 3; i++) assert.equal((await pw.verifyAdminPassword('root', 'the right password', `10.3.0.${i}`)).login, 'root');
    await assert.rejects(pw.verifyAdminPassword('root', 'the right password', '10.3.0.9'), code('ERR_RATE_LIMITED'));
    clock.advance(1000);
    assert.equal((await pw.verifyAdminPassword('root', 'the right password', '10.3.0.9')).login, 'root');
  });

  test('short passwords are refused before hashing', async () => {
    await assert.rejects(hashPassword('short'), code('ERR_PASSWORD_TOO_SHORT'));
  });
});

describe('sealing (AES-256-GCM)', () => {
  test('seal/open round trip; the name is bound; tampering, truncation and unknown keys fail', () => {
    const s = Sealer.ephemeral();
    const sealed = s.seal('oidc.client_secret', 's3cret');
    assert.match(sealed, new RegExp(`^v1\\.${s.currentKeyId}\\.`));
    assert.ok(!sealed.includes('s3cret'));
    assert.notEqual(s.seal('oidc.client_secret', 's3cret'), sealed, 'a fresh IV each time');
    assert.equal(s.open('oidc.client_secret', sealed), 's3cret');
    assert.throws(() => s.open('other.name', sealed), code('ERR_SEALED_SECRET'));
    const parts = sealed.split('.');
    const flipped = Buffer.from(parts[3], 'base64url');
    flipped[0] ^= 1;
    assert.throws(() => s.open('oidc.client_secret', [...parts.slice(0, 3), flipped.toString('base64url')].join('.')), code('ERR_SEALED_SECRET'));
    assert.throws(() => s.open('oidc.client_secret', [...parts.slice(0, 3), 'AAAA'].join('.')), code('ERR_SEALED_SECRET'));
    assert.throws(() => Sealer.ephemeral().open('oidc.client_secret', sealed), code('ERR_SEALED_SECRET'));
    assert.throws(() => s.open('x', 'garbage'), code('ERR_SEALED_SECRET'));
  });

  test('the key file is created 0600 once; rotation keeps both keys until resealing is done', async () => {
    const state = join(dir, 'ring');
    mkdirSync(state, { mode: 0o700 });
    const a = await Sealer.open(state);
    assert.equal(statSync(join(state, SECRETS_KEY_FILE)).mode & 0o777, 0o600);
    assert.deepEqual((await Sealer.open(state)).keyIds, a.keyIds);
    const stored = new Map([['t', a.seal('t', 'v')]]);
    // A crash while resealing: the file holds old and new key, so every value still opens.
    await assert.rejects(a.rotate(async () => {
      throw new Error('crash');
    }));
    const mid = await Sealer.open(state);
    assert.equal(mid.keyIds.length, 2);
    assert.equal(mid.open('t', stored.get('t')!), 'v');
    const r = await mid.rotate(async () => {
      for (const [k, v] of stored) stored.set(k, mid.seal(k, mid.open(k, v)));
    });
    const done = await Sealer.open(state);
    assert.deepEqual(done.keyIds, [r.to]);
    assert.equal(done.open('t', stored.get('t')!), 'v');
    assert.equal(readFileSync(join(state, SECRETS_KEY_FILE), 'utf8').split('\n').filter(Boolean).length, 1);
  });
});

describe('console admins by OIDC', () => {
  test('--oidc-admin-users/--oidc-admin-groups become the console admins; they need --oidc-issuer', async () => {
    const o = await oidcFromFlags({ oidcIssuer: 'https://login.example.com', oidcClientId: 'weft', oidcAdminUsers: ['Root@Example.com'], oidcAdminGroups: ['weft-admins'] });
    assert.deepEqual(o?.consoleAdmins, { users: ['Root@Example.com'], groups: ['weft-admins'] });
    await assert.rejects(oidcFromFlags({ oidcAdminGroups: ['weft-admins'] }), /need --oidc-issuer/);
    assert.equal(await oidcFromFlags({ oidcAdminUsers: [], oidcAdminGroups: [] }), undefined);
  });

  test('an admin is a named login (any case) or a member of a named group, nobody else', () => {
    const admins = { users: ['Root@Example.com'], groups: ['weft-admins'] };
    assert.equal(isConsoleAdmin(admins, { login: 'root@example.com', groups: [] }), true);
    assert.equal(isConsoleAdmin(admins, { login: 'alice@example.com', groups: ['eng', 'weft-admins'] }), true);
    assert.equal(isConsoleAdmin(admins, { login: 'bob@example.com', groups: ['eng', 'Weft-Admins'] }), false, 'group names are exact');
    assert.equal(isConsoleAdmin({ users: [], groups: [] }, { login: 'root@example.com', groups: ['weft-admins'] }), false);
  });
});
