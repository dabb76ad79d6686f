// Issue 17: the web console's "Sign in with <provider>" against a real OIDC provider
// (oidc-provider on loopback) in a real headless Chromium, over TLS: an admin gets the
// ordinary console session cookie (HttpOnly, Secure, SameSite=Strict); a user who is no
// console admin, or outside the allowed domains, gets none; a callback delivered to
// another browser or replayed is refused; a provider group change ends admin rights at
// the next login.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { AdminClient } from '../../src/control/admin-client.js';
import { BINDING_COOKIE } from '../../src/control/identity/console-oidc.js';
import { OIDC_CALLBACK_PATH } from '../../src/control/identity/oidc.js';
import { SESSION_COOKIE } from '../../src/control/console/session.js';
import { createCoordinator, type Coordinator } from '../../src/control/server.js';
import { browserUnavailable, completeLogin, launchBrowser } from '../helpers/browser.js';
import { startOidcProvider, type TestProvider } from '../helpers/oidc-provider.js';
import { signInToConsole, stopAll } from '../helpers/oidc-rig.js';
import { freePort } from '../helpers/postgres.js';

/** Runs in the page: GET `path` with the page's cookies, its status. */
const statusOf = async (path: string): Promise<number> => (await fetch(path, { credentials: 'same-origin' })).status;

describe('console sign-in through OIDC', { skip: browserUnavailable() }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-console-oidc-'));
  const tls = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  const contextOptions = { ignoreHTTPSErrors: true };
  let idp: TestProvider;
  let c: Coordinator;
  let browser: Browser;
  let admin: AdminClient;
  let aliceContext: BrowserContext;

  before(async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1', '-keyout', tls.key, '-out', tls.cert], { stdio: 'ignore' });
    const port = await freePort();
    idp = await startOidcProvider([`https://127.0.0.1:${port}${OIDC_CALLBACK_PATH}`], {
      alice: { email: 'alice@example.com', name: 'Alice', groups: ['eng', 'admins'] },
      bob: { email: 'bob@example.com', name: 'Bob', groups: ['eng'] },
      carol: { email: 'carol@example.com', name: 'Carol', groups: [] },
      mallory: { email: 'mallory@evil.example', name: 'Mallory', groups: ['admins'] },
    });
    c = createCoordinator({
      stateDir: join(dir, 'state'),
      listen: `127.0.0.1:${port}`,
      tls,
      oidc: { issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret, allowedDomains: ['example.com'], consoleAdmins: { users: ['carol@example.com'], groups: ['admins'] } },
    });
    await c.start();
    admin = new AdminClient({ socketPath: c.adminSocketPath! });
    browser = await launchBrowser();
  });
  after(() => stopAll({ browser, coordinators: [c], idp, dir }));

  const signIn = (page: Page, login: string) => signInToConsole(page, `${c.url}/admin`, idp, login);
  /** `fn` in a fresh browser context (its own cookies), closed after. */
  async function inFreshContext(fn: (page: Page, ctx: BrowserContext) => Promise<void>): Promise<void> {
    const ctx = await browser.newContext(contextOptions);
    try {
      await fn(await ctx.newPage(), ctx);
    } finally {
      await ctx.close();
    }
  }

  test('a console admin (by provider group) signs in and gets the ordinary session cookie', async () => {
    aliceContext = await browser.newContext(contextOptions);
    const page = await aliceContext.newPage();
    await signIn(page, 'alice');
    await page.waitForSelector('#nav:not([hidden])');
    assert.equal(await page.textContent('#who'), 'oidc:alice@example.com');
    assert.equal(page.url(), `${c.url}/admin`);
    await page.waitForSelector('#nodes');
    const cookies = await aliceContext.cookies(c.url);
    const session = cookies.find((k) => k.name === SESSION_COOKIE);
    assert.ok(session, 'session cookie set');
    assert.deepEqual([session.httpOnly, session.secure, session.sameSite, session.path], [true, true, 'Strict', '/']);
    assert.ok(!cookies.some((k) => k.name === BINDING_COOKIE), 'the binding cookie is cleared');
    // The session works for the admin API (cookie + CSRF token from the session).
    assert.equal(await page.evaluate(statusOf, '/api/v1/admin/users'), 200);
    const users = (await admin.request<{ users: { login: string; groups: string[] }[] }>('GET', '/api/v1/admin/users')).users;
    assert.deepEqual(users.find((u) => u.login === 'alice@example.com')?.groups, ['eng', 'admins']);
  });

  test('a console admin by login (--oidc-admin-users) signs in', async () => {
    await inFreshContext(async (page) => {
      await signIn(page, 'carol');
      await page.waitForSelector('#nav:not([hidden])');
      assert.equal(await page.textContent('#who'), 'oidc:carol@example.com');
    });
  });

  test('an allowed user who is not a console admin signs in at the provider but gets no session', async () => {
    await inFreshContext(async (page, ctx) => {
      await signIn(page, 'bob');
      assert.match(await page.innerText('body'), /bob@example\.com signed in, but is not a console admin[\s\S]*ERR_NOT_CONSOLE_ADMIN/);
      assert.ok(!(await ctx.cookies(c.url)).some((k) => k.name === SESSION_COOKIE));
    });
  });

  test('the allowed-domain filter applies to the console: an admin-group member from another domain is refused', async () => {
    await inFreshContext(async (page, ctx) => {
      await signIn(page, 'mallory');
      assert.match(await page.innerText('body'), /not in an allowed domain[\s\S]*ERR_OIDC_NOT_ALLOWED/);
      assert.ok(!(await ctx.cookies(c.url)).some((k) => k.name === SESSION_COOKIE));
    });
  });

  test('a callback delivered to another browser than the one that started the login is refused', async () => {
    const captured = await completeLogin(browser, `${c.url}/admin/login/oidc`, 'carol', { intercept: `${c.url}${OIDC_CALLBACK_PATH}`, context: contextOptions });
    assert.match(captured.url, /[?&]code=/);
    await inFreshContext(async (page, other) => {
      const res = await page.goto(captured.url);
      assert.equal(res?.status(), 403);
      assert.match(await page.innerText('body'), /started in another browser[\s\S]*ERR_OIDC_BINDING/);
      assert.ok(!(await other.cookies(c.url)).some((k) => k.name === SESSION_COOKIE));
    });
  });

  test('a replayed callback (its state already used) is refused', async () => {
    await inFreshContext(async (page) => {
      let callback = '';
      page.on('request', (r) => r.url().startsWith(`${c.url}${OIDC_CALLBACK_PATH}`) && (callback = r.url()));
      await signIn(page, 'carol');
      await page.waitForSelector('#nav:not([hidden])');
      const res = await page.goto(callback);
      assert.equal(res?.status(), 400);
      assert.match(await page.innerText('body'), /unknown, used or expired login state[\s\S]*ERR_OIDC_STATE/);
    });
  });

  test('removed from the admin group at the provider: refused at the next login, and the open session ends', async () => {
    const alice = await aliceContext.newPage();
    await alice.goto(`${c.url}/admin`);
    assert.equal(await alice.evaluate(statusOf, '/admin/session'), 200);
    idp.accounts.set('alice', { ...idp.accounts.get('alice')!, groups: ['eng'] });
    await inFreshContext(async (page) => {
      await signIn(page, 'alice');
      assert.match(await page.innerText('body'), /ERR_NOT_CONSOLE_ADMIN/);
    });
    assert.equal(await alice.evaluate(statusOf, '/admin/session'), 401);
    assert.equal(await alice.evaluate(statusOf, '/api/v1/admin/users'), 401);
    await aliceContext.close();
  });
});
