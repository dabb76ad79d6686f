// Issue 17: what the coordinator refuses of an OIDC login, each case on its own against a
// real provider (oidc-provider on loopback) and a real browser (chromium): the same login
// as the control case, with exactly one thing wrong — an ID token from another issuer, a
// wrong `iss` in the authorization response, an expired ID token, a wrong nonce, another
// login's nonce. Pending logins are bounded and expire.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import type { Browser } from 'playwright-core';
import { LOGIN_TTL_MS, MAX_PENDING_LOGINS, OIDC_CALLBACK_PATH, OidcRelyingParty } from '../../src/control/identity/oidc.js';
import { createCoordinator, type Coordinator } from '../../src/control/server.js';
import { Sealer } from '../../src/control/identity/sealer.js';
import { openStore } from '../../src/control/store/index.js';
import { browserUnavailable, completeLogin, launchBrowser } from '../helpers/browser.js';
import { SimNode } from '../helpers/control.js';
import { OffsetClock } from '../helpers/offset-clock.js';
import { startOidcProvider, type TestProvider } from '../helpers/oidc-provider.js';
import { stopAll } from '../helpers/oidc-rig.js';
import { freePort } from '../helpers/postgres.js';

describe('OIDC refusals', { skip: browserUnavailable() }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-oidc-refusals-'));
  const clock = new OffsetClock();
  let idp: TestProvider;
  let c: Coordinator;
  let browser: Browser;
  let callback: string;

  before(async () => {
    const port = await freePort();
    callback = `http://127.0.0.1:${port}${OIDC_CALLBACK_PATH}`;
    idp = await startOidcProvider([callback], { alice: { email: 'alice@example.com', name: 'Alice', groups: [] } });
    c = createCoordinator({ stateDir: join(dir, 'state'), listen: `127.0.0.1:${port}`, clock, registerRateLimit: null, oidc: { issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret } });
    await c.start();
    browser = await launchBrowser();
  });
  after(() => stopAll({ browser, coordinators: [c], idp, dir }));

  /** A node waiting in `weft up`: its /login/<id> page. */
  const loginPage = async (host: string): Promise<string> => (await new SimNode(c.url, c.publicKey, () => clock.wallNow()).register({ hostname: host, interactive: true })).json.authUrl;
  /** Where /login/<id> sends the browser: the provider's authorization URL with this login's state, nonce and PKCE challenge. */
  const providerUrl = async (host: string): Promise<URL> => new URL((await fetch(await loginPage(host), { redirect: 'manual' })).headers.get('location')!);

  test('control: the untampered login completes', async () => {
    const done = await completeLogin(browser, (await providerUrl('control')).href, 'alice');
    assert.equal(done.status, 200, done.text);
    assert.match(done.text, /Signed in as alice@example\.com/);
  });

  test('an ID token from another issuer is refused', async () => {
    const url = await providerUrl('mixup');
    idp.otherIssuerTokens = true;
    try {
      const done = await completeLogin(browser, url.href, 'alice');
      assert.equal(done.status, 403);
      assert.match(done.text, /unexpected JWT "iss" \(issuer\) claim value[\s\S]*\(ERR_OIDC_LOGIN\)/);
    } finally {
      idp.otherIssuerTokens = false;
    }
  });

  test("an authorization response naming another issuer (RFC 9207 'iss') is refused", async () => {
    const captured = await completeLogin(browser, (await providerUrl('iss')).href, 'alice', { intercept: callback });
    const url = new URL(captured.url);
    assert.equal(url.searchParams.get('iss'), idp.issuer);
    url.searchParams.set('iss', `${idp.issuer}/other`);
    const res = await fetch(url);
    assert.equal(res.status, 403);
    assert.match(await res.text(), /unexpected &#34;iss&#34; \(issuer\) response parameter value[\s\S]*ERR_OIDC_LOGIN/);
  });

  test('an expired ID token is refused', async () => {
    // Past the provider's 1-hour ID token lifetime (the login itself starts at the moved time, so it is fresh).
    clock.offsetMs = 2 * 3600_000;
    try {
      const url = await providerUrl('late');
      const done = await completeLogin(browser, url.href, 'alice');
      assert.equal(done.status, 403);
      assert.match(done.text, /"exp" \(expiration time\) claim value[\s\S]*\(ERR_OIDC_LOGIN\)/);
    } finally {
      clock.offsetMs = 0;
    }
  });

  test('an ID token with a wrong nonce is refused', async () => {
    const url = await providerUrl('nonce');
    url.searchParams.set('nonce', randomBytes(32).toString('base64url'));
    const done = await completeLogin(browser, url.href, 'alice');
    assert.equal(done.status, 403);
    assert.match(done.text, /unexpected ID Token "nonce" claim value[\s\S]*\(ERR_OIDC_LOGIN\)/);
  });

  test("an ID token carrying an earlier login's nonce (replayed) is refused", async () => {
    const first = await providerUrl('first');
    assert.equal((await completeLogin(browser, first.href, 'alice')).status, 200);
    const second = await providerUrl('second');
    second.searchParams.set('nonce', first.searchParams.get('nonce')!);
    const done = await completeLogin(browser, second.href, 'alice');
    assert.equal(done.status, 403);
    assert.match(done.text, /unexpected ID Token "nonce" claim value[\s\S]*\(ERR_OIDC_LOGIN\)/);
  });

  test('pending logins are bounded, expire unused, and a state past its time is refused', async () => {
    const rpClock = new OffsetClock();
    const store = openStore(join(dir, 'rp.db'), pino({ level: 'silent' }));
    await store.init();
    try {
      const deps = { clock: rpClock, logins: store.logins, sealer: await Sealer.open(join(dir, 'state')) };
      const rp = await OidcRelyingParty.discover<string>({ issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret }, callback, deps);
      const states: string[] = [];
      for (let i = 0; i < MAX_PENDING_LOGINS; i++) states.push((await rp.begin(`login ${i}`)).searchParams.get('state')!);
      await assert.rejects(rp.begin('one too many'), (e: { code: string; status: number }) => e.code === 'ERR_RATE_LIMITED' && e.status === 429);
      rpClock.offsetMs = LOGIN_TTL_MS + 1;
      const fresh = await rp.begin('after expiry');
      const late = new URL(callback);
      late.search = new URLSearchParams({ code: 'x', state: states[0] }).toString();
      await assert.rejects(rp.complete(late), (e: { code: string }) => e.code === 'ERR_OIDC_STATE');
      // Expiry on completion too, with nothing started in between.
      rpClock.offsetMs += LOGIN_TTL_MS + 1;
      late.searchParams.set('state', fresh.searchParams.get('state')!);
      await assert.rejects(rp.complete(late), (e: { code: string }) => e.code === 'ERR_OIDC_STATE');
    } finally {
      await store.close();
    }
  });

  // Last: it spends this address's allowance of login starts.
  test('one address cannot keep starting logins: 429 after its burst', async () => {
    const page = await loginPage('flood');
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await fetch(page, { redirect: 'manual' })).status);
    const first429 = statuses.indexOf(429);
    assert.ok(first429 > 0 && first429 <= 11, `statuses: ${statuses.join(',')}`);
    assert.ok(statuses.slice(first429).every((s) => s === 429), `statuses: ${statuses.join(',')}`);
  });
});
