import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock } from '../../src/clock.js';
import { lockStateDir } from '../../src/file-lock.js';
import { FakeNetwork } from '../../src/io/bind-fake.js';
import { createInProcessNode } from '../../src/lab/in-process.js';
import type { AuthKeyView } from '../../src/wire/control.js';
import { runWeft, type CliResult } from '../helpers/cli.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.js';

// The `weft` command as a new user meets it: every bad input ends in one line on
// stderr, `weft: what went wrong (CODE); what to do`, a non-zero exit and no trace.

const LINE = /^weft: \S.* \((E[A-Z_]+)\); \S.*\n$/;

function assertOneLine(r: CliResult, code: string, what: string): void {
  assert.notEqual(r.code, 0, `${what}: exit code`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `${what}: no stack frame in ${JSON.stringify(r.stderr)}`);
  const m = LINE.exec(r.stderr);
  assert.ok(m, `${what}: one line "weft: ... (CODE); ..." on stderr, got ${JSON.stringify(r.stderr)}`);
  assert.equal(m[1], code, `${what}: ${r.stderr}`);
}

describe('bad inputs to every command', () => {
  let t: TestCoordinator;
  let dir: string;
  let sd: string[];
  let port: string;
  before(async () => {
    // The real clock: spawned agents sign their requests with it.
    t = await startTestCoordinator({ clock: systemClock });
    dir = mkdtempSync(join(tmpdir(), 'weft-cli-'));
    writeFileSync(join(dir, 'ok.hujson'), '{ "acls": [ { "action": "accept", "src": ["*"], "dst": ["*:*"] }, ] }');
    writeFileSync(join(dir, 'object.json'), '{}');
    sd = ['--state-dir', join(t.dir, 'state')];
    port = new URL(t.url).port;
    const key = await t.authKey();
    const n = t.node();
    assert.equal((await n.register({ hostname: 'n1', authKey: key })).status, 200);
  });
  after(async () => {
    await t.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('each ends in one line with a stable code', async () => {
    const nowhere = join(dir, 'nowhere');
    const fresh = (name: string): string[] => ['--state-dir', join(dir, name)];
    const cases: [string[], string, NodeJS.ProcessEnv?][] = [
      // usage
      [['bogus'], 'ERR_USAGE'],
      [['keys', 'list', '--bogus'], 'ERR_USAGE'],
      [['nodes', 'rm'], 'ERR_USAGE'],
      [['routes', 'approve', 'n1'], 'ERR_USAGE'],
      // admin commands
      [['nodes', 'rm', 'nosuch', ...sd], 'ERR_NODE_NOT_FOUND'],
      [['keys', 'create', '--expiry', '5x', ...sd], 'ERR_INVALID_ARGUMENT'],
      [['keys', 'create', '--expiry', '1h30', ...sd], 'ERR_INVALID_ARGUMENT'],
      [['apikeys', 'create', '--expiry', 'forever', ...sd], 'ERR_INVALID_ARGUMENT'],
      [['keys', 'list', '--server', 'notaurl', '--api-key', 'x'], 'ERR_INVALID_ARGUMENT'],
      [['keys', 'list', '--server', 'ftp://example.com', '--api-key', 'x'], 'ERR_INVALID_ARGUMENT'],
      [['keys', 'list', '--server', t.url], 'ERR_INVALID_ARGUMENT'],
      [['keys', 'list', '--server', t.url, '--api-key', 'weftapi-wrong'], 'ERR_API_KEY_INVALID'],
      [['nodes', 'list', '--server', t.url, '--api-key', 'wrong'], 'ERR_API_KEY_INVALID'],
      [['keys', 'list', '--server', t.url], 'ERR_API_KEY_INVALID', { WEFT_API_KEY: 'weftapi-wrong' }],
      [['keys', 'list', '--state-dir', nowhere], 'ERR_UNREACHABLE'],
      [['nodes', 'list'], 'ERR_UNREACHABLE', { WEFT_STATE_DIR: nowhere }],
      [['keys', 'list', '--server', 'http://127.0.0.1:1', '--api-key', 'x'], 'ERR_UNREACHABLE'],
      [['keys', 'revoke', 'nosuch', ...sd], 'ERR_AUTHKEY_NOT_FOUND'],
      [['apikeys', 'revoke', '9999', ...sd], 'ERR_API_KEY_NOT_FOUND'],
      [['keys', 'create', '--user', 'alice', '--tag', 'server', ...sd], 'ERR_TAG_NOT_OWNED'],
      [['routes', 'approve', 'nosuch', '10.0.0.0/24', ...sd], 'ERR_NODE_NOT_FOUND'],
      [['routes', 'approve', 'n1', '10.0.0.5/24', ...sd], 'ERR_INVALID_ARGUMENT'],
      [['routes', 'approve', 'n1', '10.0.0.5', ...sd], 'ERR_INVALID_ARGUMENT'],
      [['routes', 'approve', 'n1', 'banana', ...sd], 'ERR_INVALID_ARGUMENT'],
      [['routes', 'unapprove', 'n1', '10.9.0.0/24', ...sd], 'ERR_ROUTE_NOT_APPROVED'],
      [['routes', 'unapprove', 'n1', 'exit', ...sd], 'ERR_ROUTE_NOT_APPROVED'],
      [['policy', 'check', join(dir, 'missing.hujson')], 'ENOENT'],
      [['policy', 'set', join(dir, 'missing.hujson'), ...sd], 'ENOENT'],
      [['policy', 'get', '--state-dir', nowhere], 'ERR_UNREACHABLE'],
      [['policy', 'set', join(dir, 'ok.hujson'), '--state-dir', nowhere], 'ERR_UNREACHABLE'],
      [['policy', 'check', join(dir, 'ok.hujson'), '--nodes', join(dir, 'missing.json')], 'ENOENT'],
      [['policy', 'check', join(dir, 'ok.hujson'), '--nodes', join(dir, 'ok.hujson')], 'ERR_INVALID_ARGUMENT'],
      [['policy', 'check', join(dir, 'ok.hujson'), '--nodes', join(dir, 'object.json')], 'ERR_INVALID_ARGUMENT'],
      // weft server
      [['server', '--listen', '127.0.0.1', ...fresh('s1')], 'ERR_INVALID_ARGUMENT'],
      [['server', '--listen', 'localhost:99999', ...fresh('s1')], 'ERR_INVALID_ARGUMENT'],
      [['server', '--listen', `127.0.0.1:${port}`, '--stun-port', '0', ...fresh('s2')], 'EADDRINUSE'],
      [['server', '--tls-cert', join(dir, 'cert.pem'), ...fresh('s1')], 'ERR_INVALID_ARGUMENT'],
      [['server', '--tls-key', join(dir, 'key.pem'), ...fresh('s1')], 'ERR_INVALID_ARGUMENT'],
      [['server', '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem'), ...fresh('s1')], 'ENOENT'],
      [['server', '--ipv4-range', '10.0.0.0/40', ...fresh('s1')], 'ERR_INVALID_ARGUMENT'],
      [['server', '--db', join(dir, 'no-such-dir', 'weft.db'), ...fresh('s1')], 'ENOENT'],
      [['server', '--ipv4-range', '10.0.0.0/31', ...fresh('s1')], 'ERR_INVALID_ARGUMENT'],
      [['server', '--stun-port', '70000', ...fresh('s1')], 'ERR_INVALID_ARGUMENT'],
      [['server', '--stun-port', 'x', ...fresh('s1')], 'ERR_INVALID_ARGUMENT'],
      [['server', '--node-key-expiry', 'soon', ...fresh('s1')], 'ERR_INVALID_ARGUMENT'],
      [['server', '--ephemeral-timeout', '10', ...fresh('s1')], 'ERR_INVALID_ARGUMENT'],
      [['server', '--relay', 'http://relay.example.com', ...fresh('s1')], 'ERR_INVALID_ARGUMENT'],
      [['server', '--relay-url', 'nonsense', ...fresh('s1')], 'ERR_INVALID_ARGUMENT'],
      [['server', '--dns-route', 'nonsense', ...fresh('s1')], 'ERR_INVALID_ARGUMENT'],
      [['server', '--log-level', 'loud', ...fresh('s1')], 'ERR_INVALID_ARGUMENT'],
      [['server', '--log-format', 'xml', ...fresh('s1')], 'ERR_INVALID_ARGUMENT'],
      [['server', ...fresh('s1')], 'ERR_INVALID_ARGUMENT', { WEFT_LOG_LEVEL: 'loud' }],
      [['server'], 'ERR_INVALID_ARGUMENT', { WEFT_LISTEN: 'nonsense', WEFT_STATE_DIR: join(dir, 's1') }],
      // weft relay
      [['relay', '--listen', 'nohost'], 'ERR_INVALID_ARGUMENT'],
      [['relay', '--stun-port', '99999'], 'ERR_INVALID_ARGUMENT'],
      [['relay', '--listen', `127.0.0.1:${port}`, '--stun-port', '0', '--allow-any-key'], 'ERR_RELAY_LISTEN'],
      [['relay', '--listen', '127.0.0.1:0', '--stun-port', '0'], 'ERR_INVALID_ARGUMENT'], // an open relay only with --allow-any-key
      [['relay', '--tls-cert', join(dir, 'cert.pem')], 'ERR_INVALID_ARGUMENT'],
      [['relay', '--log-level', 'loud'], 'ERR_INVALID_ARGUMENT'],
      // weft up and the agent's clients
      [['up', '--server', 'notaurl', ...fresh('a1')], 'ERR_INVALID_ARGUMENT'],
      [['up', ...fresh('a1')], 'ERR_INVALID_ARGUMENT', { WEFT_SERVER: 'notaurl' }],
      [['up', '--hostname', 'a_b', ...fresh('a1')], 'ERR_INVALID_ARGUMENT'],
      [['up', '--port', '70000', ...fresh('a1')], 'ERR_INVALID_ARGUMENT'],
      [['up', '--iface', 'a-name-far-too-long', ...fresh('a1')], 'ERR_INVALID_ARGUMENT'],
      [['up', '--advertise-routes', '10.0.0.0/33', ...fresh('a1')], 'ERR_INVALID_ARGUMENT'],
      [['up', '--exit-node-fallback', 'maybe', ...fresh('a1')], 'ERR_INVALID_ARGUMENT'],
      [['up', '--log-level', 'loud', ...fresh('a1')], 'ERR_INVALID_ARGUMENT'],
      [['up', ...fresh('a1')], 'ERR_INVALID_ARGUMENT', { WEFT_ADVERTISE_EXIT_NODE: 'maybe' }],
      [['up', ...fresh('a2')], 'ERR_NEEDS_LOGIN'],
      // The serverless modules load only with --serverless (node-commands.ts): the flag's path reaches them.
      [['up', '--serverless', ...fresh('a4')], 'ERR_SELF_NOT_AUTHORIZED'],
      [['up', '--server', t.url, '--auth-key', 'weftkey-wrong', '--iface', 'weftbad0', ...fresh('a3')], 'ERR_SERVER'],
      [['status', '--state-dir', nowhere], 'ERR_AGENT_NOT_RUNNING'],
      [['status'], 'ERR_AGENT_NOT_RUNNING', { WEFT_STATE_DIR: nowhere }],
      [['ping', 'peer', '--state-dir', nowhere], 'ERR_AGENT_NOT_RUNNING'],
      [['ping', 'peer', '--count', '0', '--state-dir', nowhere], 'ERR_INVALID_ARGUMENT'],
      [['down', '--state-dir', nowhere], 'ERR_AGENT_NOT_RUNNING'],
      [['set', '--exit-node-allow-lan-access', 'maybe', '--state-dir', nowhere], 'ERR_INVALID_ARGUMENT'],
      [['set', '--state-dir', nowhere], 'ERR_INVALID_ARGUMENT'],
      [['netcheck', '--state-dir', nowhere], 'ERR_AGENT_NOT_RUNNING'],
      [['netcheck', '--stun', 'nonsense'], 'ERR_INVALID_ARGUMENT'],
      [['netcheck', '--relay', 'http://relay.example.com'], 'ERR_INVALID_ARGUMENT'],
      [['netcheck', '--timeout', '-5'], 'ERR_INVALID_ARGUMENT'],
      [['wg', 'bad/name'], 'ERR_INVALID_ARGUMENT'],
      [['wg', 'wg9', '--log-level', 'loud'], 'ERR_INVALID_ARGUMENT'],
    ];
    // Two at a time: each is a Node process start.
    const queue = [...cases];
    const failures: string[] = [];
    await Promise.all(
      [0, 1].map(async () => {
        for (let c = queue.shift(); c; c = queue.shift()) {
          const [args, code, env] = c;
          const what = `${env ? `${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')} ` : ''}weft ${args.join(' ')}`;
          try {
            assertOneLine(await runWeft(args, { env }), code, what);
          } catch (err) {
            failures.push((err as Error).message);
          }
        }
      }),
    );
    assert.deepEqual(failures, []);
    for (const s of ['s1', 'a1']) assert.ok(!existsSync(join(dir, s)), `a refused ${s === 's1' ? 'server' : 'agent'} created no state dir`);
  });

  test('the tagOwners refusal says what to add to the policy', async () => {
    const r = await runWeft(['keys', 'create', '--user', 'alice', '--tag', 'server', ...sd]);
    assertOneLine(r, 'ERR_TAG_NOT_OWNED', 'keys create --tag before tagOwners');
    assert.match(r.stderr, /"tagOwners": \{ "tag:server": \["alice@"\] \}/);
  });

  test('--debug and WEFT_DEBUG=1 add the trace', async () => {
    for (const [args, env] of [[['nodes', 'rm', 'nosuch', ...sd, '--debug'], {}], [['nodes', 'rm', 'nosuch', ...sd], { WEFT_DEBUG: '1' }]] as const) {
      const r = await runWeft([...args], { env });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /^weft: .*\(ERR_NODE_NOT_FOUND\)/);
      assert.match(r.stderr, /^\s+at /m, 'a stack frame');
    }
  });

  test('a wrong auth key is refused by the server before the interface exists', async () => {
    const r = await runWeft(['up', '--server', t.url, '--auth-key', 'weftkey-wrong', '--iface', 'weftbad1', '--state-dir', join(dir, 'a4')]);
    assertOneLine(r, 'ERR_SERVER', 'up with a wrong key');
    assert.match(r.stderr, /ERR_AUTHKEY_INVALID/);
    assert.doesNotMatch(r.stderr, /TUN|EPERM/);
    // The same key from the environment (the systemd unit's way) reaches the server too.
    const fromEnv = await runWeft(['up', '--iface', 'weftbad1', '--state-dir', join(dir, 'a6')], { env: { WEFT_SERVER: t.url, WEFT_AUTH_KEY: 'weftkey-wrong' } });
    assertOneLine(fromEnv, 'ERR_SERVER', 'up with a wrong key from WEFT_AUTH_KEY');
    assert.match(fromEnv.stderr, /ERR_AUTHKEY_INVALID/);
  });

  test('without CAP_NET_ADMIN `weft up` says so, before it uses the auth key', async (ctx) => {
    const root = process.getuid?.() === 0;
    if (root && !existsSync('/usr/bin/setpriv')) return ctx.skip('needs setpriv (util-linux) to drop CAP_NET_ADMIN as root');
    const key = await t.admin.request<AuthKeyView>('POST', '/api/v1/admin/authkeys', {});
    const prefix = root ? ['/usr/bin/setpriv', '--bounding-set', '-net_admin', '--inh-caps', '-net_admin', '--'] : [];
    const r = await runWeft(['up', '--server', t.url, '--auth-key', key.key!, '--state-dir', join(dir, 'a5')], { prefix });
    assertOneLine(r, 'ERR_NEEDS_ROOT', 'up without CAP_NET_ADMIN');
    assert.match(r.stderr, /needs root or CAP_NET_ADMIN/);
    const { authKeys } = await t.admin.request<{ authKeys: AuthKeyView[] }>('GET', '/api/v1/admin/authkeys');
    assert.equal(authKeys.find((k) => k.id === key.id)?.usedCount, 0, 'the key is still unused');
  });

  test('expired API keys are refused and listed as expired; lists show USER and local times; --json everywhere', async () => {
    const apiKey = JSON.parse((await runWeft(['apikeys', 'create', '--expiry', '1s', '--json', ...sd])).stdout) as { key: string; id: string };
    await sleep(1_500);
    assertOneLine(await runWeft(['keys', 'list', '--server', t.url, '--api-key', apiKey.key]), 'ERR_API_KEY_INVALID', 'expired API key');
    const table = (await runWeft(['apikeys', 'list', ...sd])).stdout;
    assert.match(table.split('\n').find((l) => l.startsWith(`${apiKey.id} `)) ?? '', /\bexpired$/);
    assert.equal((JSON.parse((await runWeft(['apikeys', 'list', '--json', ...sd])).stdout) as { id: string }[]).some((k) => k.id === apiKey.id), true);

    const key = JSON.parse((await runWeft(['keys', 'create', '--user', 'bob', '--json', ...sd])).stdout) as AuthKeyView;
    assert.equal(key.user, 'bob');
    assert.match(key.key ?? '', /^weftkey-/);
    const keys = (await runWeft(['keys', 'list', ...sd])).stdout.split('\n');
    assert.match(keys[0], /\bUSER\b/);
    const row = keys.find((l) => l.startsWith(`${key.id} `)) ?? '';
    assert.match(row, /\bbob\b/);
    assert.match(row, /\d{4}-\d\d-\d\d \d\d:\d\d/, 'times in local readable form');
    assert.doesNotMatch(row, /T\d\d:\d\d:\d\d(\.\d+)?Z/, 'no raw ISO times');
  });
});

describe('one process per state dir', () => {
  test('a second server on a used state dir is refused, and the first keeps its admin socket', async () => {
    const t = await startTestCoordinator();
    try {
      const sd = join(t.dir, 'state');
      const r = await runWeft(['server', '--state-dir', sd, '--listen', '127.0.0.1:0', '--stun-port', '0']);
      assertOneLine(r, 'ERR_STATE_DIR_IN_USE', 'second server');
      assert.match(r.stderr, new RegExp(`in use by pid ${process.pid}\\b`));
      assert.equal((await runWeft(['nodes', 'list', '--state-dir', sd])).code, 0, 'the first server still answers on admin.sock');
    } finally {
      await t.stop();
    }
  });

  test('a second `weft up` on a used state dir is refused before it touches anything', async () => {
    const t = await startTestCoordinator({ clock: systemClock });
    const stateDir = mkdtempSync(join(tmpdir(), 'weft-cli-agent-'));
    const node = createInProcessNode(new FakeNetwork(), '10.99.0.1', { stateDir, serverUrl: t.url, authKey: await t.authKey(), hostname: 'first', localApi: false });
    try {
      await node.agent.start();
      const r = await runWeft(['up', '--state-dir', stateDir, '--server', t.url, '--iface', 'weftdup0']);
      assertOneLine(r, 'ERR_STATE_DIR_IN_USE', 'second agent');
      assert.match(r.stderr, new RegExp(`in use by pid ${process.pid}\\b`));
      assert.equal(node.agent.self?.name, 'first');
    } finally {
      await node.agent.stop();
      await t.stop();
    }
    // Released on stop: the state dir can be used again.
    lockStateDir(stateDir, 'test').release();
    rmSync(stateDir, { recursive: true, force: true });
  });
});
