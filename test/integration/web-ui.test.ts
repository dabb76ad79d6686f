import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { socketPath } from '../../src/agent/state.js';
import { AdminClient } from '../../src/control/admin-client.js';
import { createAuthKey } from '../../src/control/auth-keys.js';
import { createCoordinator, type Coordinator } from '../../src/control/server.js';
import { FakeNetwork } from '../../src/io/bind-fake.js';
import { createInProcessNode, type InProcessNode } from '../../src/lab/in-process.js';
import { CONTENT_SECURITY_POLICY } from '../../src/static-files.js';
import { runWeft, WEFT_MAIN } from '../helpers/cli.js';
import { waitFor } from '../helpers/wait.js';

// `weft web` against a real agent's local API (in-process agent, fake network): the
// token in the printed URL is required on every request, the Host must be the listen
// address, writes must be JSON; the page (in headless Chromium when installed) shows
// the peers with their paths, picks an exit node, disconnects (the agent keeps running)
// and connects again. The README's
// `weft web` lines are run as written.

const CHROMIUM = '/usr/bin/chromium';
const noBrowser = existsSync(CHROMIUM) || process.env.WEFT_E2E_REQUIRED === '1' ? false : `${CHROMIUM} not installed (apt-get install -y chromium)`;
const README = fileURLToPath(new URL('../../../README.md', import.meta.url));

/** Starts `weft <args>` and resolves with the URL it prints. */
function startWeb(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, [WEFT_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`weft web exited (${code}): ${err}`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const m = /^weft web: open (http:\/\/\S+)$/.exec(line);
      if (m) resolve({ proc, url: m[1] });
    });
  });
}

const stop = async (p: ChildProcess): Promise<void> => {
  if (p.exitCode !== null) return;
  p.kill('SIGTERM');
  await new Promise((r) => p.once('exit', r));
};

/** A raw request with a chosen Host header (fetch will not send a forged one). */
function raw(url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Runs in the page (serialized; the page's CSP forbids eval'd strings): element `id`'s text includes `s`. */
const hasText = ([id, s]: [string, string]): boolean => ((globalThis as unknown as { document: { getElementById(i: string): { textContent: string } | null } }).document.getElementById(id)?.textContent ?? '').includes(s);

describe('weft web', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-web-'));
  const net = new FakeNetwork();
  let coord: Coordinator;
  let a: InProcessNode, b: InProcessNode;
  let web: { proc: ChildProcess; url: string };

  before(async () => {
    mkdirSync(join(dir, 'server'), { recursive: true, mode: 0o700 });
    coord = createCoordinator({ stateDir: join(dir, 'server'), listen: '127.0.0.1:0' });
    await coord.start();
    const authKey = (await createAuthKey(coord.store, { reusable: true, expirySeconds: 3600 }, Date.now())).key!;
    const node = (name: string, ip: string, extra = {}) => createInProcessNode(net, ip, { stateDir: join(dir, name), serverUrl: coord.url, authKey, hostname: name, endpointPollMs: 300, ...extra });
    a = node('a', '10.9.0.1');
    b = node('b', '10.9.0.2', { localApi: false, advertiseExitNode: true });
    await a.agent.start();
    await b.agent.start();
    await new AdminClient({ socketPath: coord.adminSocketPath! }).request('POST', '/api/v1/admin/routes/approve', { node: 'b', route: 'exit' });
    assert.ok(await waitFor(() => a.agent.peers.size === 1, 5000));
    web = await startWeb(['web', '--listen', '127.0.0.1:0', '--state-dir', join(dir, 'a')]);
  });

  after(async () => {
    if (web) await stop(web.proc);
    await a?.agent.stop();
    await b?.agent.stop();
    await coord?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the token is required on every request; Host and JSON writes are checked', async () => {
    const u = new URL(web.url);
    assert.equal(u.hostname, '127.0.0.1', 'loopback');
    const token = u.pathname.split('/')[1];
    assert.match(token, /^[A-Za-z0-9_-]{32}$/);
    const page = await fetch(web.url);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
    // A wrong last character (never the token's own: 1 in 64 tokens ends in 'x').
    const wrong = `${token.slice(0, -1)}${token.endsWith('x') ? 'y' : 'x'}`;
    for (const path of ['/', '/static/web.js', '/api/status', `/${wrong}/api/status`, `/${token}x/api/status`]) {
      const r = await fetch(`${u.origin}${path}`);
      assert.equal(r.status, 403, path);
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'ERR_TOKEN');
    }
    assert.equal((await fetch(`${u.origin}/${token}/static/web.js`)).status, 200);
    const rebind = await raw(`${web.url}api/status`, `evil.example:${u.port}`);
    assert.equal(rebind.status, 403);
    assert.match(rebind.body, /ERR_HOST/);
    const status = (await (await fetch(`${web.url}api/status`)).json()) as { self: { name: string }; peers: { name: string; path: string }[] };
    assert.equal(status.self.name, 'a');
    assert.deepEqual(status.peers.map((p) => p.name), ['b']);
    const form = await fetch(`${web.url}api/prefs`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"exitNode":"b"}' });
    assert.equal(form.status, 415, 'a cross-site form cannot post');
    const bad = await fetch(`${web.url}api/prefs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"exitNode":5}' });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { field: string } }).error.field, 'exitNode');
    assert.equal(a.agent.status().exitNode ?? null, null, 'rejected writes changed nothing');
  });

  test('with no agent running, or for a user who may not use the agent, it refuses and exits', async (t) => {
    const none = await runWeft(['web', '--listen', '127.0.0.1:0', '--state-dir', join(dir, 'nobody')]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /ERR_AGENT_NOT_RUNNING/);
    if (process.getuid?.() !== 0 || !existsSync('/usr/bin/setpriv')) return t.skip('the other-user check needs root and setpriv');
    // The agent's socket is 0600 in a 0700 dir: another local user gets nothing to serve.
    const other = await runWeft(['web', '--listen', '127.0.0.1:0', '--state-dir', join(dir, 'a')], { prefix: ['/usr/bin/setpriv', '--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', '--'] });
    assert.notEqual(other.code, 0);
    assert.doesNotMatch(other.stdout, /open http/);
    assert.match(other.stderr, /permission denied \(connect\)/);
  });

  test("the README's weft web lines run as written", async () => {
    const lines = readFileSync(README, 'utf8').split('\n').map((l) => l.replace(/\s+#(\s.*)?$/, '').trim()).filter((l) => /^weft web\b/.test(l));
    assert.ok(lines.length >= 1, 'the README shows weft web');
    for (const line of lines) {
      const w = await startWeb(line.split(/\s+/).slice(1), { ...process.env, WEFT_STATE_DIR: join(dir, 'a') });
      try {
        assert.equal(new URL(w.url).hostname, '127.0.0.1');
        assert.equal(((await (await fetch(`${w.url}api/status`)).json()) as { self: { name: string } }).self.name, 'a');
      } finally {
        await stop(w.proc);
      }
    }
  });

  test('api/down and api/up keep the agent running; a quick down-up ends up with the tunnel up', async () => {
    const post = (path: string) => fetch(`${web.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).then(async (r) => ({ status: r.status, body: (await r.json()) as { tunnelDown?: boolean } }));
    const down = await post('api/down');
    assert.equal(down.status, 200);
    assert.equal(down.body.tunnelDown, true);
    assert.equal(a.agent.status().tunnelDown, true);
    assert.equal(a.agent.status().coordinator.connected, false, 'no map stream while down');
    const [again, up] = await Promise.all([post('api/down'), post('api/up')]);
    assert.deepEqual([again.status, again.body.tunnelDown, up.status, up.body.tunnelDown], [200, true, 200, undefined]);
    assert.ok(await waitFor(async () => a.agent.ping('b', 1000).then(() => true, () => false), 15_000), 'b reachable again');
    assert.ok(await waitFor(() => a.agent.status().coordinator.connected, 10_000));
  });

  test('the page in a headless browser: peers with paths, exit node, disconnect and connect again', { skip: noBrowser, timeout: 60_000 }, async () => {
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(web.url);
      await page.waitForSelector('#peers tr[data-peer="b"]');
      assert.match((await page.textContent('#self-name')) ?? '', /^a \(100\.64\.\d+\.\d+\)$/);
      await page.selectOption('#exit-node', 'b');
      await page.click('#exit button[type=submit]');
      await page.waitForSelector('#exit-state[data-state="active"]');
      assert.equal(a.agent.status().exitNode?.selected, 'b');
      mkdirSync('docs/screenshots', { recursive: true });
      await page.screenshot({ path: 'docs/screenshots/weft-web.png' });
      await a.agent.ping('b', 5000);
      page.once('dialog', (d) => void d.accept());
      await page.click('#down');
      await page.waitForSelector('#state[data-tunnel="down"]');
      await page.waitForSelector('#up:not([hidden])');
      assert.ok(existsSync(socketPath(join(dir, 'a'))), 'the agent keeps running');
      const down = a.agent.status();
      assert.equal(down.tunnelDown, true);
      assert.equal(down.coordinator.connected, false);
      await assert.rejects(a.agent.ping('b', 1000), (e: { code?: string }) => e.code === 'ERR_NO_ROUTE' || e.code === 'ERR_PING_TIMEOUT', 'no tunnel to b while down');
      await page.click('#up');
      await page.waitForSelector('#state[data-tunnel="up"]');
      await page.waitForFunction(hasText, ['state', 'connected'] as [string, string]);
      assert.ok(await waitFor(async () => a.agent.ping('b', 1000).then(() => true, () => false), 15_000), 'b reachable again');
      await page.waitForSelector('#peers tr[data-peer="b"]');
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
    }
  });
});
