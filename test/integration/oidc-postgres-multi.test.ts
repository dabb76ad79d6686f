// Issue 17: two coordinators sharing one PostgreSQL database behind one public address
// finish each other's OIDC logins (the pending state and the waiting node login live in
// the database): the node asks instance A, the balancer sends the browser to B, the
// provider's redirect back lands on A, the node's next call reaches B — and it joins as
// the user who logged in. A console sign-in likewise starts on one and finishes on the
// other. Real oidc-provider, real chromium; the "balancer" is the test choosing the
// instance for each request.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { OIDC_CALLBACK_PATH } from '../../src/control/identity/oidc.js';
import { SECRETS_KEY_FILE } from '../../src/control/identity/sealer.js';
import { createCoordinator, type Coordinator } from '../../src/control/server.js';
import { browserUnavailable, captureRequests, completeLogin, launchBrowser, signInAtProvider } from '../helpers/browser.js';
import { SimNode } from '../helpers/control.js';
import { startOidcProvider, type TestProvider } from '../helpers/oidc-provider.js';
import { stopAll } from '../helpers/oidc-rig.js';
import { createDatabase, postgresUnavailable, reportUnavailable, startPostgres, type TempPostgres } from '../helpers/postgres.js';

const why = postgresUnavailable() ?? browserUnavailable();
/** The address devices and the provider know; each request here picks the instance itself. */
const PUBLIC = 'http://weft.test';

if (!reportUnavailable('OIDC logins across coordinators sharing PostgreSQL', why)) {
  let pg: TempPostgres;
  let dir: string;
  let a: Coordinator, b: Coordinator;
  let idp: TestProvider;
  let browser: Browser;

  before(async () => {
    pg = await startPostgres();
    const url = await createDatabase(pg.url, 'oidc');
    dir = mkdtempSync(join(tmpdir(), 'weft-oidc-multi-'));
    idp = await startOidcProvider([`${PUBLIC}${OIDC_CALLBACK_PATH}`], { alice: { email: 'alice@example.com', name: 'Alice', groups: [] } });
    const options = (name: string) => ({
      stateDir: join(dir, name),
      db: url,
      listen: '127.0.0.1:0',
      registerRateLimit: null,
      nat: { publicUrl: PUBLIC },
      oidc: { issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret, consoleAdmins: { users: ['alice@example.com'], groups: [] } },
    });
    a = createCoordinator(options('a'));
    await a.start();
    // Instances behind one name share the server key and the sealing key (docs/SECURITY.md).
    mkdirSync(join(dir, 'b'), { mode: 0o700 });
    for (const f of ['server.key', SECRETS_KEY_FILE]) copyFileSync(join(dir, 'a', f), join(dir, 'b', f));
    b = createCoordinator(options('b'));
    await b.start();
    browser = await launchBrowser();
  });
  after(async () => {
    await stopAll({ browser, coordinators: [a, b], idp, dir });
    pg?.stop();
  });

  test('a node login started on one coordinator is completed through the other', async () => {
    const viaA = new SimNode(a.url, a.publicKey);
    const viaB = new SimNode(b.url, b.publicKey, Date.now, viaA.priv);
    const r = await viaA.register({ hostname: 'roamer', interactive: true });
    const authUrl = new URL(r.json.authUrl);
    assert.equal(authUrl.origin, PUBLIC);
    assert.equal((await viaB.register({ hostname: 'roamer', interactive: true })).json.authUrl, authUrl.href, 'B knows the waiting login');

    // The browser opens the login URL on B (B starts the provider login) ...
    const captured = await completeLogin(browser, `${b.url}${authUrl.pathname}`, 'alice', { intercept: `${PUBLIC}${OIDC_CALLBACK_PATH}` });
    const callback = new URL(captured.url);
    assert.ok(callback.searchParams.get('code'), captured.url);
    // ... and the provider's redirect back reaches A, which finishes it.
    const res = await fetch(`${a.url}${callback.pathname}${callback.search}`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /Signed in as alice@example\.com/);
    // Finished once: the same callback on B finds no pending login.
    assert.match(await (await fetch(`${b.url}${callback.pathname}${callback.search}`)).text(), /ERR_OIDC_STATE/);

    const joined = await viaB.register({ hostname: 'roamer', interactive: true });
    assert.equal(joined.status, 200);
    assert.equal(joined.json.node.user, 'alice@example.com');
    assert.equal(joined.json.node.name, 'roamer');
  });

  test('a console sign-in started on one coordinator finishes on the other, and the session works on both', async () => {
    const ctx = await browser.newContext();
    try {
      const page = await ctx.newPage();
      const callback = await captureRequests(page, `${PUBLIC}${OIDC_CALLBACK_PATH}`);
      await page.goto(`${b.url}/admin/login/oidc`);
      await signInAtProvider(page, 'alice');
      const at = new URL(callback());
      // Both instances are 127.0.0.1 here, so the browser's binding cookie goes to A as it would to the shared name.
      await page.goto(`${a.url}${at.pathname}${at.search}`);
      await page.waitForSelector('#nav:not([hidden])');
      assert.equal(page.url(), `${a.url}/admin`);
      assert.equal(await page.textContent('#who'), 'oidc:alice@example.com');
      await page.goto(`${b.url}/admin`);
      await page.waitForSelector('#nav:not([hidden])');
      assert.equal(await page.textContent('#who'), 'oidc:alice@example.com');
    } finally {
      await ctx.close();
    }
  });
}
