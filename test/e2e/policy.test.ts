// End to end: access policy and MagicDNS in a mesh of four agents in namespaces (two
// users and a tag), driven through the `weft` CLI: keys per user/tag, `weft policy set`
// on the running coordinator, real TCP/UDP between namespaces, getent through MagicDNS.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WEFT_JS } from '../../src/lab/mesh.js';
import type { Child } from '../../src/lab/netns.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import { e2eFile, suiteMesh } from './helpers.js';

e2eFile();

const PROBE = fileURLToPath(new URL('../helpers/net-probe.js', import.meta.url));
const NAMES = ['alice1', 'alice2', 'bob1', 'srv1'];
const UPSTREAM = '10.99.0.1';
const ALLOWED_MS = 8000;

// alice's nodes reach each other on everything and the server on 8022/tcp + 5353/udp;
// bob reaches the server on 8080/tcp only; the server initiates nothing.
const POLICY = `{
  "groups": { "group:eng": ["alice@"] },
  "tagOwners": { "tag:server": ["group:eng"] },
  "acls": [
    { "action": "accept", "src": ["alice@"], "dst": ["alice@:*"] },
    { "action": "accept", "src": ["group:eng"], "dst": ["tag:server:8022"], "proto": "tcp" },
    { "action": "accept", "src": ["group:eng"], "dst": ["tag:server:5353"], "proto": "udp" },
    { "action": "accept", "src": ["bob@"], "dst": ["tag:server:8080"] },
  ],
  "tests": [
    { "src": "alice@", "accept": ["tag:server:8022"], "deny": ["tag:server:8080"] },
    { "src": "bob@", "accept": ["tag:server:8080"], "deny": ["tag:server:8022"] },
  ],
}
`;
// The live change: bob also gets 8022.
const POLICY2 = POLICY.replace('"dst": ["tag:server:8080"] }', '"dst": ["tag:server:8080", "tag:server:8022"] }').replace('"deny": ["tag:server:8022"]', '"deny": []');

function pre(t: SkipContext): boolean {
  return requireOrSkip(t, [rootReason(), ...missingTools(['ip', 'getent']), existsSync(WEFT_JS) ? null : `weft not built (${WEFT_JS})`]);
}

describe('access policy and MagicDNS: four agents, two users and a tag', { timeout: 300_000 }, () => {
  const fx = suiteMesh();
  const servers: Child[] = [];

  before(async () => {
    if (rootReason() !== null || missingTools(['ip', 'getent']).length) return;
    const mesh = fx.create();
    mesh.resolvConf = `# lab\nnameserver ${UPSTREAM}\n`;
    await mesh.build(NAMES);
    await mesh.startServer();
    const upstream = mesh.lab.spawn(mesh.lanNs, [process.execPath, PROBE, 'dns', '53', 'www.upstream.test=192.0.2.10']);
    await upstream.waitFor(/serving/, 10_000);
    // The tag's owners are in the policy: set it, make the keys, then back to allow-all.
    const file = join(mesh.dir, 'policy.hujson');
    writeFileSync(file, POLICY);
    const set = await mesh.weft(mesh.lanNs, ['policy', 'set', file, '--state-dir', mesh.serverStateDir]);
    assert.equal(set.code, 0, set.stderr);
    const alice = await mesh.createAuthKey(['--user', 'alice']);
    const bob = await mesh.createAuthKey(['--user', 'bob']);
    const srv = await mesh.createAuthKey(['--user', 'alice', '--tag', 'server']);
    const denied = await mesh.weft(mesh.lanNs, ['keys', 'create', '--user', 'bob', '--tag', 'server', '--state-dir', mesh.serverStateDir]);
    assert.notEqual(denied.code, 0, 'bob does not own tag:server');
    writeFileSync(file, '{ "acls": [ { "action": "accept", "src": ["*"], "dst": ["*:*"] } ] }');
    assert.equal((await mesh.weft(mesh.lanNs, ['policy', 'set', file, '--state-dir', mesh.serverStateDir])).code, 0);
    await mesh.up('alice1', [], alice);
    await mesh.up('alice2', [], alice);
    await mesh.up('bob1', [], bob);
    await mesh.up('srv1', [], srv);
    for (const n of NAMES) await mesh.waitPeers(n, NAMES.filter((x) => x !== n), 15_000);
    for (const n of NAMES) {
      const s = mesh.lab.spawn(mesh.node(n).ns, [process.execPath, PROBE, 'serve', '8022,8080,9000', '5353,9001']);
      await s.waitFor(/serving/, 10_000);
      servers.push(s);
    }
    fx.ready();
  });

  const m = fx.get;

  /**
   * Exit 0 = the echo came back within the timeout. Denied probes use the short default;
   * allowed ones get `ALLOWED_MS`, enough for a first handshake whose initiation was lost
   * (WireGuard retries after 5 s and keeps the staged packet).
   */
  async function probe(from: string, proto: 'tcp' | 'udp', to: string, port: number, timeoutMs = 1500): Promise<boolean> {
    const mesh = m();
    const r = await mesh.lab.exec(mesh.node(from).ns, [process.execPath, PROBE, proto, mesh.node(to).ipv4, String(port), String(timeoutMs)], { timeoutMs: timeoutMs + 10_000 });
    return r.code === 0;
  }

  /** An allowed connection must work; when it does not, say what both ends see. */
  async function allowed(from: string, proto: 'tcp' | 'udp', to: string, port: number, what = `${from} -> ${to}:${port}/${proto}`): Promise<void> {
    if (await probe(from, proto, to, port, ALLOWED_MS)) return;
    const mesh = m();
    const seen = await Promise.all([from, to].map(async (n) => `${n}: ${JSON.stringify(await mesh.status(n).catch((e: Error) => e.message))}`));
    assert.fail(`${what} did not connect\n${seen.join('\n')}`);
  }

  async function getent(node: string, ...args: string[]): Promise<string> {
    const mesh = m();
    const r = await mesh.lab.exec(mesh.node(node).ns, ['getent', ...args], { timeoutMs: 15_000 });
    assert.equal(r.code, 0, `getent ${args.join(' ')} in ${node}: ${r.stderr}`);
    return r.stdout;
  }

  test('MagicDNS: every node resolves fqdns, short names, reverse names and upstream names', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    for (const n of NAMES) {
      const conf = readFileSync(`/etc/netns/${mesh.node(n).ns}/resolv.conf`, 'utf8');
      assert.match(conf, /nameserver 100\.100\.100\.100/, `${n} points the OS at MagicDNS`);
      for (const other of NAMES) {
        const { ipv4, ipv6 } = mesh.node(other);
        assert.match(await getent(n, 'ahostsv4', `${other}.weft.internal`), new RegExp(`^${ipv4.replace(/\./g, '\\.')}\\s`, 'm'));
        assert.match(await getent(n, 'ahostsv6', `${other}.weft.internal`), new RegExp(`^${ipv6}\\s`, 'm'));
        assert.match(await getent(n, 'ahostsv4', other), new RegExp(`^${ipv4.replace(/\./g, '\\.')}\\s`, 'm'), 'short name');
      }
      assert.match(await getent(n, 'hosts', mesh.node('srv1').ipv4), /srv1\.weft\.internal/);
      assert.match(await getent(n, 'ahostsv4', 'www.upstream.test'), /^192\.0\.2\.10\s/m, 'forwarded to the lab upstream');
    }
  });

  test('MagicDNS: malformed queries get FORMERR or are dropped; the agent keeps answering', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    const r = await mesh.lab.exec(mesh.node('alice1').ns, [process.execPath, PROBE, 'junk', '100.100.100.100', '53'], { timeoutMs: 15_000 });
    assert.equal(r.code, 0, r.stderr);
    for (const a of r.stdout.trim().split(' ')) assert.match(a, /^(dropped|rcode=1)$/, r.stdout);
    assert.ok(r.stdout.includes('rcode=1'), `some FORMERR: ${r.stdout}`);
    assert.ok(mesh.node('alice1').agent?.running, 'agent still running');
    assert.match(await getent('alice1', 'ahostsv4', 'bob1.weft.internal'), new RegExp(`^${mesh.node('bob1').ipv4.replace(/\./g, '\\.')}\\s`, 'm'));
  });

  test('under allow-all everything connects', async (t) => {
    if (!pre(t)) return;
    await allowed('bob1', 'tcp', 'alice1', 9000);
    await allowed('srv1', 'udp', 'alice1', 9001);
  });

  test('the policy: allowed connections work, denied ones time out, replies pass', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    const file = join(mesh.dir, 'policy.hujson');
    writeFileSync(file, POLICY);
    const set = await mesh.weft(mesh.lanNs, ['policy', 'set', file, '--state-dir', mesh.serverStateDir]);
    assert.equal(set.code, 0, set.stderr);
    // Visibility: bob sees only the server; the server sees everyone.
    await mesh.waitPeers('bob1', ['srv1'], 5000);
    await mesh.waitPeers('alice1', ['alice2', 'srv1'], 5000);
    await mesh.waitPeers('srv1', ['alice1', 'alice2', 'bob1'], 5000);

    await allowed('alice1', 'tcp', 'srv1', 8022, 'alice -> server:8022/tcp');
    await allowed('alice1', 'udp', 'srv1', 5353, 'alice -> server:5353/udp, reply passes alice\'s filter (tracked flow)');
    await allowed('alice2', 'tcp', 'alice1', 9000, 'alice -> alice on any port');
    await allowed('bob1', 'tcp', 'srv1', 8080, 'bob -> server:8080');
    assert.equal(await probe('bob1', 'tcp', 'srv1', 8022), false, 'bob -> server:8022 denied');
    assert.equal(await probe('alice1', 'tcp', 'srv1', 8080), false, 'alice -> server:8080 denied');
    assert.equal(await probe('srv1', 'tcp', 'alice1', 9000), false, 'the server may not initiate to alice');
    assert.equal(await probe('srv1', 'udp', 'alice1', 9001), false, 'nor over UDP');
    assert.equal(await probe('bob1', 'tcp', 'alice1', 9000), false, 'bob cannot reach alice (not even a peer)');

    const s = await mesh.status('srv1');
    assert.ok(s.filter && s.filter.droppedNoRule > 0, `denied packets are counted: ${JSON.stringify(s.filter)}`);
    assert.ok(s.filter.rules >= 3, `the server's filter has the policy's rules: ${JSON.stringify(s.filter)}`);

    const bad = join(mesh.dir, 'bad.hujson');
    writeFileSync(bad, '{\n  "acls": [\n    { "action": "accept", "src": ["group:nope"], "dst": ["*:*"] },\n  ],\n}\n');
    const r = await mesh.weft(mesh.lanNs, ['policy', 'set', bad, '--state-dir', mesh.serverStateDir]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /bad\.hujson:3:\d+: .*\(ERR_POLICY_UNKNOWN_GROUP\)/);
    const got = await mesh.weft(mesh.lanNs, ['policy', 'get', '--state-dir', mesh.serverStateDir]);
    assert.equal(got.stdout, POLICY, 'running policy unchanged');
  });

  test('a policy change takes effect on live nodes without restarting them', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    const file = join(mesh.dir, 'policy2.hujson');
    writeFileSync(file, POLICY2);
    const pids = NAMES.map((n) => mesh.node(n).agent?.pid);
    const set = await mesh.weft(mesh.lanNs, ['policy', 'set', file, '--state-dir', mesh.serverStateDir]);
    assert.equal(set.code, 0, set.stderr);
    const deadline = Date.now() + 5000;
    while (!(await probe('bob1', 'tcp', 'srv1', 8022, 1000)) && Date.now() < deadline);
    await allowed('bob1', 'tcp', 'srv1', 8022, 'bob -> server:8022 now allowed');
    assert.equal(await probe('bob1', 'tcp', 'alice1', 9000), false, 'the rest unchanged');
    assert.deepEqual(NAMES.map((n) => mesh.node(n).agent?.pid), pids, 'same agent processes');
  });

  test('weft down restores each namespace\'s resolv.conf', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    await mesh.down('bob1');
    assert.equal(readFileSync(`/etc/netns/${mesh.node('bob1').ns}/resolv.conf`, 'utf8'), `# lab\nnameserver ${UPSTREAM}\n`);
  });
});
