import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import https from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { weftAdmin, weftAdminIO as weftIO } from '../helpers/weft-cli.js';
import { joined, startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.js';
import { waitFor } from '../helpers/wait.js';
import { exited, startServerProcess } from '../helpers/server-process.js';
import { SimNode } from '../helpers/control.js';
import { AdminClient } from '../../src/control/admin-client.js';
import type { AuthKeyView, NodeView } from '../../src/wire/control.js';

const weft = weftAdmin;

describe('admin commands', () => {
  let t: TestCoordinator;
  let stateDir: string;
  before(async () => {
    t = await startTestCoordinator();
    stateDir = join(t.dir, 'state');
  });
  after(() => t.stop());

  test('state dir, socket and secrets are private', () => {
    assert.equal(statSync(stateDir).mode & 0o777, 0o700);
    assert.equal(statSync(join(stateDir, 'admin.sock')).mode & 0o777, 0o600);
    assert.equal(statSync(join(stateDir, 'server.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(stateDir, 'weft.db')).mode & 0o777, 0o600);
  });

  test('weft server refuses bad --register-rate and --max-connections before starting', async () => {
    for (const args of [['--register-rate', 'fast'], ['--register-rate', '-1'], ['--max-connections', '0'], ['--max-connections', '1e9']]) {
      await assert.rejects(weft('server', '--state-dir', join(t.dir, 'never'), ...args), (e: { code: string }) => e.code === 'ERR_INVALID_ARGUMENT', args.join(' '));
    }
  });

  test('keys create/list/revoke and nodes list/rm over the local socket', async () => {
    const key = (await weft('keys', 'create', '--state-dir', stateDir, '--reusable', '--tag', 'ci', '--expiry', '2h')).trim();
    assert.match(key, /^weftkey-[A-Za-z0-9_-]{43}$/);
    const list = await weft('keys', 'list', '--state-dir', stateDir);
    assert.match(list, /tag:ci/);
    assert.ok(!list.includes(key), 'secrets are never listed');
    const n = t.node();
    assert.equal((await n.register({ hostname: 'cli-node', authKey: key })).status, 200);
    assert.match(await weft('nodes', 'list', '--state-dir', stateDir), /cli-node\s+100\.64\.\d+\.\d+/);
    const json = JSON.parse(await weft('nodes', 'list', '--state-dir', stateDir, '--json')) as { name: string }[];
    assert.deepEqual(json.map((x) => x.name), ['cli-node']);
    assert.match(await weft('nodes', 'rm', 'cli-node', '--state-dir', stateDir), /removed cli-node/);
    await assert.rejects(weft('nodes', 'rm', 'cli-node', '--state-dir', stateDir), (e: { code: string }) => e.code === 'ERR_NODE_NOT_FOUND');
    assert.match(await weft('keys', 'revoke', key, '--state-dir', stateDir), /revoked weftkey-/);
    assert.equal((await t.node().register({ authKey: key })).json.error.code, 'ERR_AUTHKEY_REVOKED');
  });

  test('remote admin with --server and an API key from `apikeys create`', async () => {
    const apiKey = (await weft('apikeys', 'create', '--state-dir', stateDir)).trim();
    assert.match(apiKey, /^weftapi-/);
    assert.match(await weft('apikeys', 'list', '--state-dir', stateDir), /weftapi-\S+\s/);
    const key = (await weft('keys', 'create', '--server', t.url, '--api-key', apiKey)).trim();
    assert.match(key, /^weftkey-/);
    await assert.rejects(weft('keys', 'list', '--server', t.url, '--api-key', 'weftapi-nope'), (e: { code: string }) => e.code === 'ERR_API_KEY_INVALID');
    await assert.rejects(weft('keys', 'list', '--server', t.url), (e: { code: string }) => e.code === 'ERR_INVALID_ARGUMENT');
    await assert.rejects(weft('nodes', 'list', '--state-dir', join(t.dir, 'nowhere')), (e: { code: string }) => e.code === 'ERR_UNREACHABLE');
  });

  test('nodes expire and extend', async () => {
    const n = await joined(t, await t.authKey(), 'laptop');
    const node = () => t.c.registry.find('laptop');
    const before = node().expiresAt!;
    assert.match(await weft('nodes', 'extend', 'laptop', '--by', '90d', '--state-dir', stateDir), /^laptop: key expires \d{4}-\d\d-\d\d \d\d:\d\d\n$/);
    assert.equal(node().expiresAt, before + 90 * 86_400_000);
    assert.match(await weft('nodes', 'expire', 'laptop', '--state-dir', stateDir), /^laptop: key expired at /);
    await n.map.waitFor((m) => m.type === 'error' && m.code === 'ERR_NODE_EXPIRED');
    assert.match(await weft('nodes', 'list', '--state-dir', stateDir), /laptop\s+\S+\s+\S+\s+expired/);
    await weft('nodes', 'extend', 'laptop', '--state-dir', stateDir);
    assert.equal(node().expiresAt, t.clock.wallNow() + 180 * 86_400_000, "default: the server's key lifetime from now");
    await assert.rejects(weft('nodes', 'extend', 'laptop', '--by', '0', '--state-dir', stateDir), (e: { code: string }) => e.code === 'ERR_INVALID_ARGUMENT');
    await assert.rejects(weft('nodes', 'expire', 'ghost', '--state-dir', stateDir), (e: { code: string }) => e.code === 'ERR_NODE_NOT_FOUND');
    await n.map.close();
  });

  test('routes approve 0.0.0.0/0 approves the whole exit node; routes list shows it as one row', async () => {
    const exit = await joined(t, await t.authKey(), 'cli-exit');
    exit.map.send({ type: 'routes', routes: ['0.0.0.0/0', '::/0', '10.9.0.0/24'] });
    assert.ok(await waitFor(() => t.c.registry.find('cli-exit').advertisedRoutes.length === 3, 5000));
    await weft('routes', 'approve', 'cli-exit', '0.0.0.0/0', '--state-dir', stateDir);
    const rows = (await weft('routes', 'list', '--state-dir', stateDir)).split('\n').filter((l) => l.startsWith('cli-exit'));
    assert.equal(rows.length, 2, rows.join('\n'));
    assert.match(rows[0], /^cli-exit\s+100\.64\.\d+\.\d+\s+10\.9\.0\.0\/24\s+no\s+yes\s+-$/);
    assert.match(rows[1], /^cli-exit\s+100\.64\.\d+\.\d+\s+exit\s+yes\s+yes\s+yes$/);
    await weft('routes', 'unapprove', 'cli-exit', '::/0', '--state-dir', stateDir);
    assert.match(await weft('routes', 'list', '--state-dir', stateDir), /cli-exit\s+\S+\s+exit\s+no\s+yes\s+yes/);
    await exit.map.close();
  });
});

test('routes approve/unapprove say what changed, warn on pre-approval, refuse what means nothing', async () => {
  const t = await startTestCoordinator();
  try {
    const sd = ['--state-dir', join(t.dir, 'state')];
    const key = await t.authKey();
    const { map } = await joined(t, key, 'router');
    await joined(t, key, 'laptop');
    map.send({ type: 'routes', routes: ['10.77.0.0/24'] });
    assert.ok(await waitFor(async () => (await t.admin.request<NodeView>('GET', '/api/v1/admin/nodes/router')).advertisedRoutes?.length === 1, 10_000));

    assert.deepEqual(await weftIO('routes', 'approve', 'router', '10.77.0.0/24', ...sd), { out: 'router: approved 10.77.0.0/24\n', err: '' });
    assert.deepEqual(await weftIO('routes', 'approve', 'router', '10.77.0.0/24', ...sd), { out: 'router: 10.77.0.0/24 was already approved; nothing changed\n', err: '' });
    const pre = await weftIO('routes', 'approve', 'router', '10.99.0.0/24', ...sd);
    assert.equal(pre.out, 'router: approved 10.99.0.0/24\n');
    assert.match(pre.err, /^weft: warning: router does not advertise 10\.99\.0\.0\/24; .*--advertise-routes/);
    const exit = await weftIO('routes', 'approve', 'laptop', 'exit', ...sd);
    assert.equal(exit.out, 'laptop: approved exit node (0.0.0.0/0, ::/0)\n');
    assert.match(exit.err, /laptop does not advertise exit node .*--advertise-exit-node/);
    assert.equal(await weft('routes', 'unapprove', 'router', '10.99.0.0/24', ...sd), 'router: withdrew approval of 10.99.0.0/24\n');
    await assert.rejects(weft('routes', 'unapprove', 'router', '10.99.0.0/24', ...sd), (e: { code: string }) => e.code === 'ERR_ROUTE_NOT_APPROVED');
    const before = t.snapshot();
    await assert.rejects(weft('routes', 'approve', 'router', '10.77.0.9/24', ...sd), (e: { code: string }) => e.code === 'ERR_INVALID_ARGUMENT');
    assert.equal(t.snapshot(), before, 'a refused approval changes nothing');
    await map.close();
  } finally {
    await t.stop();
  }
});

test('HTTPS when given a certificate and key', async () => {
  const t0 = await startTestCoordinator({ adminSocket: false });
  const certDir = t0.dir;
  await t0.c.stop();
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1', '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem')], { stdio: 'ignore' });
  const t = await startTestCoordinator({ tls: { cert: join(certDir, 'cert.pem'), key: join(certDir, 'key.pem') } });
  try {
    assert.match(t.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const body = await new Promise<string>((resolve, reject) => {
      https.get(`${t.url}/api/v1/key`, { ca: readFileSync(join(certDir, 'cert.pem')), checkServerIdentity: () => undefined }, (res) => {
        let s = '';
        res.on('data', (c) => (s += c));
        res.on('end', () => resolve(s));
      }).on('error', reject);
    });
    assert.equal(JSON.parse(body).publicKey, t.c.publicKey);
  } finally {
    await t.stop();
    rmSync(certDir, { recursive: true, force: true });
  }
});

test('weft server --node-key-expiry: 0 never expires, a duration sets the lifetime', async () => {
  for (const [flag, lifetime] of [['0', null], ['7d', 7 * 86_400_000]] as const) {
    const dir = mkdtempSync(join(tmpdir(), 'weft-expiry-'));
    const { proc, url } = await startServerProcess(['--node-key-expiry', flag, '--state-dir', dir, '--stun-port', '0']);
    try {
      const admin = new AdminClient({ socketPath: join(dir, 'admin.sock') });
      const { key } = await admin.request<AuthKeyView>('POST', '/api/v1/admin/authkeys', {});
      const node = new SimNode(url, ((await (await fetch(`${url}/api/v1/key`)).json()) as { publicKey: string }).publicKey);
      const t0 = Date.now();
      const r = await node.register({ authKey: key });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      if (lifetime === null) assert.equal(r.json.node.expiresAt, null);
      else assert.ok(Math.abs(Date.parse(r.json.node.expiresAt) - (t0 + lifetime)) < 60_000, r.json.node.expiresAt);
    } finally {
      proc.kill('SIGTERM');
      await exited(proc);
      rmSync(dir, { recursive: true, force: true });
    }
  }
});
