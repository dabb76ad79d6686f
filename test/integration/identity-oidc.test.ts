// Issue 17: `weft up` without a key against a real OIDC provider (oidc-provider on
// loopback) and a real browser (chromium via playwright-core): the node joins as the
// user who logged in; provider groups reach the policy at each login; a replayed state,
// another login's code and a misconfigured issuer are refused (the other refusals, each
// isolated: oidc-refusals.test.ts).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { OIDC_CALLBACK_PATH } from '../../src/control/identity/oidc.js';
import { createCoordinator, type Coordinator } from '../../src/control/server.js';
import type { FilterRule, NetMap, ServerMessage } from '../../src/wire/control.js';
import { AdminClient } from '../../src/control/admin-client.js';
import { FakeNetwork } from '../../src/io/bind-fake.js';
import { createInProcessNode } from '../../src/lab/in-process.js';
import { browserUnavailable, completeLogin, launchBrowser } from '../helpers/browser.js';
import { SimNode } from '../helpers/control.js';
import { startOidcProvider, type TestProvider } from '../helpers/oidc-provider.js';
import { signInToConsole, stopAll } from '../helpers/oidc-rig.js';
import { WEFT_MAIN } from '../helpers/cli.js';
import { systemClock as clock } from '../../src/clock.js';
import { freePort } from '../helpers/postgres.js';

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));


const POLICY = `{
  "groups": { "group:eng": [] },
  "acls": [{ "action": "accept", "src": ["group:eng"], "dst": ["*:*"] }]
}`;

describe('OIDC sign-in', { skip: browserUnavailable() }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-oidc-'));
  let idp: TestProvider;
  let c: Coordinator;
  let browser: Browser;
  let admin: AdminClient;
  let port: number;
  let readmePort: number;
  const node = () => new SimNode(c.url, c.publicKey, () => clock.wallNow());

  before(async () => {
    port = await freePort();
    readmePort = await freePort();
    idp = await startOidcProvider([port, readmePort].map((p) => `http://127.0.0.1:${p}${OIDC_CALLBACK_PATH}`), {
      alice: { email: 'alice@example.com', name: 'Alice', groups: ['eng'] },
      mallory: { email: 'mallory@evil.example', name: 'Mallory', groups: ['eng'] },
      root: { email: 'root@example.com', name: 'Root', groups: ['weft-admins'] },
    });
    c = createCoordinator({ stateDir: join(dir, 'state'), listen: `127.0.0.1:${port}`, clock, registerRateLimit: null, oidc: { issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret, allowedDomains: ['example.com'] } });
    await c.start();
    admin = new AdminClient({ socketPath: c.adminSocketPath! });
    await admin.request('PUT', '/api/v1/admin/policy', { policy: POLICY });
    browser = await launchBrowser();
  });
  after(() => stopAll({ browser, coordinators: [c], idp, dir }));

  test('weft up without a key prints a login URL, waits, and joins as the user who completed the login', async () => {
    const urls: string[] = [];
    const n = createInProcessNode(new FakeNetwork(), '10.9.0.1', { stateDir: join(dir, 'laptop'), serverUrl: c.url, hostname: 'laptop', localApi: false, loginPollMs: 100, onLoginUrl: (u) => urls.push(u) });
    const started = n.agent.start();
    try {
      while (urls.length === 0) await new Promise((r) => setTimeout(r, 50));
      assert.match(urls[0], new RegExp(`^${c.url}/login/[A-Za-z0-9_-]{22}$`));
      const done = await completeLogin(browser, urls[0], 'alice');
      assert.equal(done.status, 200, done.text);
      assert.match(done.text, /Signed in as alice@example\.com/);
      await started;
      assert.equal(n.agent.status().self.name, 'laptop');
      assert.equal((await admin.request<{ user: string }>('GET', '/api/v1/admin/nodes/laptop')).user, 'alice@example.com');
      const users = (await admin.request<{ users: { login: string; provider: string; groups: string[]; lastLogin: string | null; nodes: number }[] }>('GET', '/api/v1/admin/users')).users;
      const alice = users.find((u) => u.login === 'alice@example.com')!;
      assert.deepEqual([alice.provider, alice.groups, alice.nodes, alice.lastLogin !== null], [idp.issuer, ['eng'], 1, true]);
      assert.equal(urls.length, 1, 'the URL is shown once while waiting');
      // The login page is single-use: the waiting node has joined.
      assert.equal((await fetch(urls[0], { redirect: 'manual' })).status, 404);
    } finally {
      await started.catch(() => undefined);
      await n.agent.stop();
    }
  });

  test("a group claim change reaches the policy at the user's next login", async () => {
    const srvKey = (await admin.request<{ key: string }>('POST', '/api/v1/admin/authkeys', { tags: [] })).key;
    const srv = node();
    assert.equal((await srv.register({ hostname: 'srv', authKey: srvKey })).status, 200);
    const srvFilter = async (): Promise<FilterRule[]> => {
      const map = await srv.openMap();
      const full = (await map.waitFor((m) => m.type === 'full')) as Extract<ServerMessage, { type: 'full' }>;
      await map.close();
      return (full.netmap as NetMap).packetFilter ?? [];
    };
    const laptopIp = (await admin.request<{ ipv4: string }>('GET', '/api/v1/admin/nodes/laptop')).ipv4;
    assert.ok((await srvFilter()).some((r) => r.srcs.some((s) => s.startsWith(laptopIp))), 'alice (group:eng from the provider) may reach srv');

    idp.accounts.set('alice', { ...idp.accounts.get('alice')!, groups: ['sales'] });
    const second = node();
    const r = await second.register({ hostname: 'phone', interactive: true });
    assert.match(r.json.authUrl, /\/login\//);
    assert.equal((await completeLogin(browser, r.json.authUrl, 'alice')).status, 200);
    assert.equal((await second.register({ hostname: 'phone', interactive: true })).json.node.user, 'alice@example.com');
    assert.ok(!(await srvFilter()).some((r) => r.srcs.length > 0), 'no longer in group:eng: nothing may reach srv');
    const users = (await admin.request<{ users: { login: string; groups: string[] }[] }>('GET', '/api/v1/admin/users')).users;
    assert.deepEqual(users.find((u) => u.login === 'alice@example.com')?.groups, ['sales']);
  });

  test('allowed domains: a login from another domain is refused and no node joins', async () => {
    const n = node();
    const r = await n.register({ hostname: 'evil', interactive: true });
    const done = await completeLogin(browser, r.json.authUrl, 'mallory');
    assert.equal(done.status, 403);
    assert.match(done.text, /ERR_OIDC_NOT_ALLOWED/);
    assert.ok('authUrl' in (await n.register({ hostname: 'evil', interactive: true })).json, 'still waiting for a login');
  });

  test('a replayed callback (state already used) is refused', async () => {
    const n = node();
    const r = await n.register({ hostname: 'replay', interactive: true });
    const done = await completeLogin(browser, r.json.authUrl, 'alice');
    assert.equal(done.status, 200);
    const again = await fetch(done.url);
    assert.equal(again.status, 400);
    assert.match(await again.text(), /ERR_OIDC_STATE/);
  });

  test("another login's code under this login's state is refused (its PKCE verifier)", async () => {
    const a = await node().register({ hostname: 'na', interactive: true });
    const b = await node().register({ hostname: 'nb', interactive: true });
    const capturedA = await completeLogin(browser, a.json.authUrl, 'alice', { intercept: `${c.url}${OIDC_CALLBACK_PATH}` });
    const capturedB = await completeLogin(browser, b.json.authUrl, 'alice', { intercept: `${c.url}${OIDC_CALLBACK_PATH}` });
    const mixed = new URL(capturedA.url);
    mixed.searchParams.set('state', new URL(capturedB.url).searchParams.get('state')!);
    const res = await fetch(mixed);
    assert.equal(res.status, 403);
    // The provider refuses the exchange (A's code with B's PKCE verifier). Nonces alone: oidc-refusals.test.ts.
    assert.match(await res.text(), /answer was refused[\s\S]*ERR_OIDC_LOGIN/);
  });

  test("the README's `weft server --oidc-*` line, as written: device and console sign-in work, and a restart without the secret file uses the sealed secret", async () => {
    const line = readFileSync(README, 'utf8').split('\n').find((l) => l.startsWith('weft server ') && l.includes('--oidc-issuer'));
    assert.ok(line, 'the README shows the OIDC server line');
    const stateDir = join(dir, 'readme-state');
    const secretFile = join(dir, 'oidc-secret');
    writeFileSync(secretFile, `${idp.clientSecret}\n`, { mode: 0o600 });
    const args = line.replace('--listen 0.0.0.0:8080', `--listen 127.0.0.1:${readmePort}`).replaceAll('/var/lib/weft-server', stateDir).replace('https://login.example.com', idp.issuer).replace('/etc/weft/oidc-secret', secretFile).split(/\s+/).slice(1);
    const run = async (argv: string[]): Promise<void> => {
      const proc = spawn(process.execPath, [WEFT_MAIN, ...argv, '--stun-port', '0', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        const url = await new Promise<string>((resolve, reject) => {
          proc.once('exit', (code) => reject(new Error(`weft server exited (${code})`)));
          createInterface({ input: proc.stdout! }).on('line', (l) => /"url":"([^"]+)"/.exec(l)?.[1] && resolve(/"url":"([^"]+)"/.exec(l)![1]));
        });
        const key = ((await (await fetch(`${url}/api/v1/key`)).json()) as { publicKey: string }).publicKey;
        const n = new SimNode(url, key);
        const r = await n.register({ hostname: 'readme', interactive: true });
        assert.equal((await completeLogin(browser, r.json.authUrl, 'alice')).status, 200);
        assert.equal((await n.register({ hostname: 'readme', interactive: true })).json.node.user, 'alice@example.com');
        // --oidc-admin-groups weft-admins: a member signs in to the console.
        const ctx = await browser.newContext();
        try {
          const page = await ctx.newPage();
          await signInToConsole(page, `${url}/admin`, idp, 'root');
          await page.waitForSelector('#nav:not([hidden])');
          assert.equal(await page.textContent('#who'), 'oidc:root@example.com');
        } finally {
          await ctx.close();
        }
      } finally {
        proc.kill('SIGTERM');
        await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
      }
    };
    await run(args);
    rmSync(secretFile);
    await run(args.filter((a, i) => a !== '--oidc-client-secret-file' && args[i - 1] !== '--oidc-client-secret-file'));
  });

  test('a coordinator configured with the wrong issuer refuses to start', async () => {
    const wrong = createCoordinator({ stateDir: join(dir, 'wrong'), listen: '127.0.0.1:0', clock, oidc: { issuer: idp.issuer.replace('127.0.0.1', 'localhost'), clientId: idp.clientId, clientSecret: idp.clientSecret } });
    await assert.rejects(wrong.start(), (e: { code: string }) => e.code === 'ERR_OIDC_CONFIG');
    await wrong.stop();
  });
});
