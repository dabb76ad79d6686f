// End to end: the systemd units. `systemd-analyze verify` both, then run agents under
// exactly weft.service's sandbox (read from the unit file; see src/lab/unit-sandbox.ts)
// in namespaces and show MagicDNS (resolv.conf fallback), mesh routes and an exit node
// (nftables) still work.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetnsMesh, WEFT_CLI, type MeshNode } from '../../src/lab/mesh.js';
import { run, sleep } from '../../src/lab/netns.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import { execStart, readUnit, sandboxPrefix, serviceValue } from '../../src/lab/unit-sandbox.js';
import { PACKAGE_ROOT } from '../../src/lab/wg-pair.js';
import { e2eFile, suiteMesh } from './helpers.js';

e2eFile();

const UNITS = join(PACKAGE_ROOT, 'deploy', 'systemd');
const agentUnit = readUnit(join(UNITS, 'weft.service'));
const TOOLS = ['ip', 'ping', 'curl', 'nft', 'getent', 'setpriv', 'unshare', 'mountpoint'];
const RESOLV_CONF = 'nameserver 192.0.2.53\nsearch example.test\n';

function pre(t: SkipContext): boolean {
  return requireOrSkip(t, [rootReason(), ...missingTools(TOOLS)]);
}

test('systemd-analyze verify accepts both units, without a warning', async (t) => {
  if (!requireOrSkip(t, missingTools(['systemd-analyze']))) return;
  const dir = mkdtempSync(join(tmpdir(), 'weft-units-'));
  try {
    for (const name of ['weft.service', 'weft-server.service']) {
      // verify checks that ExecStart's program exists: point it at this checkout's weft.
      const text = readFileSync(join(UNITS, name), 'utf8');
      assert.match(text, /^ExecStart=\/usr\/bin\/weft /m);
      writeFileSync(join(dir, name), text.replace(/^ExecStart=\/usr\/bin\/weft /m, `ExecStart=${WEFT_CLI[1]} `));
      const r = await run(['systemd-analyze', 'verify', join(dir, name)], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assert.equal(r.stderr.trim(), '', `${name}: warnings`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe("agents under weft.service's sandbox", { timeout: 300_000 }, () => {
  const fx = suiteMesh();
  // The sandbox binds each agent's state dir at /var/lib/weft, created on the host if
  // missing; removed again after the agents are gone (this hook runs after fx's).
  const stateMount = '/var/lib/weft';
  const hadStateMount = existsSync(stateMount);
  after(() => {
    if (!hadStateMount && existsSync(stateMount)) rmdirSync(stateMount);
  });
  let inet: Awaited<ReturnType<NetnsMesh['addHostBehind']>>;

  /** `weft up` exactly as the unit's ExecStart says (program: this checkout), in its sandbox. */
  async function upSandboxed(mesh: NetnsMesh, name: string, extra: string[]): Promise<MeshNode> {
    const n = mesh.node(name);
    mesh.nsResolvConf(n);
    mkdirSync(n.stateDir, { recursive: true, mode: 0o700 });
    const argv = [...sandboxPrefix(agentUnit, n.stateDir, [PACKAGE_ROOT]), ...WEFT_CLI, ...execStart(agentUnit, { WEFT_SERVER: mesh.serverUrl }).slice(1), '--hostname', name, '--insecure-http', ...extra];
    return mesh.startAgent(n, argv, { ...mesh.env, WEFT_AUTH_KEY: mesh.authKey });
  }

  before(async () => {
    if (rootReason() !== null || missingTools(TOOLS).length) return;
    const mesh = fx.create();
    mesh.resolvConf = RESOLV_CONF;
    await mesh.build(['exit', 'client']);
    inet = await mesh.addHostBehind('exit', '203.0.113', '2001:db8:113');
    mesh.serveRemoteAddress(inet.ns, 80);
    await mesh.startServer();
    await mesh.createAuthKey();
    await upSandboxed(mesh, 'exit', ['--advertise-exit-node']);
    await upSandboxed(mesh, 'client', []);
    await mesh.waitPeers('exit', ['client']);
    await mesh.waitPeers('client', ['exit']);
    fx.ready();
  });

  const m = fx.get;

  test('the sandbox is the unit\'s: bounding set, no_new_privs, read-only system, private /tmp and /dev', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    const stateDir = join(mesh.dir, 'probe');
    mkdirSync(stateDir, { mode: 0o700 });
    const probe = [
      'setpriv --dump',
      'touch /usr/weft-probe 2>/dev/null && echo usr-writable',
      'touch /var/weft-probe 2>/dev/null && echo var-writable',
      'touch /etc/weft-probe && rm /etc/weft-probe && echo etc-writable',
      'touch /var/lib/weft/probe && echo state-writable',
      'echo tmp: $(ls -A /tmp)',
      'echo home: $(ls -A /root 2>&1)',
      'echo dev: $(cd /dev && find . -mindepth 1 \\( -type c -o -type b \\) | sort)',
    ].join('\n');
    const r = await mesh.lab.exec(mesh.node('client').ns, [...sandboxPrefix(agentUnit, stateDir), 'sh', '-c', probe]);
    assert.equal(r.code, 0, r.stderr);
    const caps = (serviceValue(agentUnit, 'CapabilityBoundingSet') ?? '').split(/\s+/).map((c) => c.replace(/^CAP_/, '').toLowerCase()).sort();
    const bounding = /^Capability bounding set: (.*)$/m.exec(r.stdout)?.[1].split(',').sort();
    assert.deepEqual(bounding, caps);
    assert.match(r.stdout, /^no_new_privs: 1$/m);
    assert.doesNotMatch(r.stdout, /usr-writable|var-writable/);
    assert.match(r.stdout, /^etc-writable$/m);
    assert.match(r.stdout, /^state-writable$/m);
    assert.equal(readFileSync(join(stateDir, 'probe'), 'utf8'), '', 'the state dir is the bound one');
    assert.match(r.stdout, /^tmp:$/m, 'a private, empty /tmp');
    assert.match(r.stdout, /^home:( ls: .*Permission denied)?$/m);
    assert.match(r.stdout, /^dev: \.\/full \.\/net\/tun \.\/null \.\/random \.\/urandom \.\/zero$/m);
  });

  test('MagicDNS through the resolv.conf fallback resolves peers, from the sandboxed agent', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    const n = mesh.node('client');
    const resolv = readFileSync(`/etc/netns/${n.ns}/resolv.conf`, 'utf8');
    assert.match(resolv, /^nameserver 100\.100\.100\.100$/m, resolv);
    for (const name of ['exit.weft.internal', 'exit']) {
      const r = await mesh.lab.exec(n.ns, ['getent', 'ahostsv4', name], { timeoutMs: 15_000 });
      assert.equal(r.code, 0, `getent ${name}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^${mesh.node('exit').ipv4.replace(/\./g, '\\.')}\\s`, 'm'));
    }
  });

  test('mesh routes work: the sandboxed agents reach each other', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    for (const ip of [mesh.node('exit').ipv4, mesh.node('exit').ipv6]) {
      const r = await mesh.ping('client', ip, 8);
      assert.ok(r.received >= 1, r.output);
    }
  });

  test('an exit node under the sandbox forwards and masquerades (nftables)', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    const approve = await mesh.weft(mesh.lanNs, ['routes', 'approve', 'exit', 'exit', '--state-dir', mesh.serverStateDir]);
    assert.equal(approve.code, 0, approve.stderr);
    const c = mesh.node('client');
    const set = await mesh.weft(c.ns, ['set', '--exit-node', 'exit', '--state-dir', c.stateDir]);
    assert.equal(set.code, 0, set.stderr);
    const deadline = Date.now() + 20_000;
    let seen: string | null = null;
    while (seen === null && Date.now() < deadline) {
      seen = await mesh.fetchText(c.ns, `http://${inet.ipv4}/`, 2);
      if (seen === null) await sleep(300);
    }
    assert.equal(seen, inet.routerIpv4, 'the internet host sees the exit node');
    const rules = await mesh.lab.exec(mesh.node('exit').ns, ['nft', 'list', 'ruleset']);
    assert.match(rules.stdout, /masquerade/);
  });
});
