// MagicDNS end to end inside a namespace: the OS resolver (glibc via getent) reaches the
// mesh names, short names, reverse names and an upstream name through our server, and
// the namespace's resolv.conf comes back unchanged afterwards. Then records beyond nodes
// (issue 20): the README's `weft dns records` lines and a policy file's dnsRecords on a
// real coordinator, answered by every real agent to `dig`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab, runOk } from '../../src/lab/netns.js';
import { requireOrSkip, missingTools, rootReason } from '../../src/lab/require.js';
import { NetnsMesh, WEFT_JS } from '../../src/lab/mesh.js';
import { PACKAGE_ROOT } from '../../src/lab/wg-pair.js';
import { e2eFile } from './helpers.js';

e2eFile();

const CHILD = fileURLToPath(new URL('../helpers/dns-child.js', import.meta.url));
const ORIGINAL = '# lab namespace resolver\nnameserver 127.0.0.2\nsearch lab.test\n';

test('getent resolves mesh names, short names, reverse and upstream names through MagicDNS', async (t) => {
  if (!requireOrSkip(t, [rootReason(), ...missingTools(['ip', 'getent'])])) return;
  const lab = new Lab();
  let etcDir: string | null = null;
  // Not under /etc/netns/<ns>: `ip netns exec` bind-mounts every file there over /etc.
  const backupDir = mkdtempSync(join(tmpdir(), 'weft-dns-e2e-'));
  try {
    const ns = await lab.addNs();
    // The mesh interface stand-in: getaddrinfo (AI_ADDRCONFIG) returns nothing for a
    // family the host has no non-loopback address of. A veth pair kept inside ns.
    await runOk(['ip', '-n', ns, 'link', 'add', 'weft0', 'type', 'veth', 'peer', 'name', 'weft1']);
    for (const dev of ['weft0', 'weft1']) await runOk(['ip', '-n', ns, 'link', 'set', dev, 'up']);
    await runOk(['ip', '-n', ns, 'addr', 'add', '100.64.0.9/32', 'dev', 'weft0']);
    await runOk(['ip', '-n', ns, '-6', 'addr', 'add', 'fd7a:115c:a1e0::9/128', 'dev', 'weft0', 'nodad']);
    // `ip netns exec` bind-mounts this over /etc/resolv.conf for every command in ns.
    etcDir = `/etc/netns/${ns}`;
    mkdirSync(etcDir, { recursive: true });
    writeFileSync(`${etcDir}/resolv.conf`, ORIGINAL);
    const child = lab.spawn(ns, [process.execPath, CHILD, join(backupDir, 'resolv.pre-weft-backup.conf')]);
    const ready = await child.waitFor(/ready upstreams=(\S*)/, 15_000);
    assert.equal(ready[1], '127.0.0.2', 'upstreams come from the previous resolv.conf');
    assert.match(readFileSync(`${etcDir}/resolv.conf`, 'utf8'), /nameserver 127\.0\.0\.53\nsearch weft\.internal lab\.test/);

    const getent = async (...args: string[]): Promise<string> => {
      const r = await lab.exec(ns, ['getent', ...args], { timeoutMs: 15_000 });
      assert.equal(r.code, 0, `getent ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    assert.match(await getent('ahostsv4', 'alpha.weft.internal'), /^100\.64\.0\.1\s/m);
    assert.match(await getent('ahostsv6', 'alpha.weft.internal'), /^fd7a:115c:a1e0::1\s/m);
    assert.match(await getent('ahostsv4', 'beta'), /^100\.64\.0\.2\s/m, 'short name via the search domain');
    assert.match(await getent('hosts', '100.64.0.1'), /^100\.64\.0\.1\s+alpha\.weft\.internal/m);
    assert.match(await getent('hosts', 'fd7a:115c:a1e0::2'), /beta\.weft\.internal/);
    assert.match(await getent('ahostsv4', 'www.upstream.test'), /^192\.0\.2\.10\s/m, 'forwarded upstream');
    const unknown = await lab.exec(ns, ['getent', 'hosts', 'nope.weft.internal'], { timeoutMs: 15_000 });
    assert.equal(unknown.code, 2, 'NXDOMAIN: not found');

    await child.kill('SIGTERM', 5000);
    assert.match(child.stdout, /restored/);
    assert.equal(readFileSync(`${etcDir}/resolv.conf`, 'utf8'), ORIGINAL);
  } finally {
    await lab.destroy();
    if (etcDir) rmSync(etcDir, { recursive: true, force: true });
    rmSync(backupDir, { recursive: true, force: true });
  }
});

/** The README's `weft dns records` and `dig` lines, comments stripped. */
function readmeDnsLines(): string[] {
  const md = readFileSync(join(PACKAGE_ROOT, 'README.md'), 'utf8');
  const block = /<!-- dns-records-commands[^]*?```sh\n([^]*?)```/.exec(md);
  assert.ok(block, 'README dns-records block');
  return block[1].trim().split('\n').map((l) => l.replace(/\s+#(\s.*)?$/, '').trim());
}

const sq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

test('records set with weft dns records and in the policy file are answered to dig by every agent', { timeout: 180_000 }, async (t) => {
  if (!requireOrSkip(t, [rootReason(), ...missingTools(['ip', 'dig']), existsSync(WEFT_JS) ? null : `weft not built (${WEFT_JS})`])) return;
  const mesh = new NetnsMesh();
  const nodes = ['gw', 'laptop'];
  try {
    await mesh.build(nodes);
    await mesh.startServer();
    await mesh.createAuthKey();
    for (const n of nodes) await mesh.up(n);
    for (const n of nodes) await mesh.waitPeers(n, nodes.filter((x) => x !== n));
    const gw = mesh.node('gw');
    // A README line through sh (its quoting), `weft` being this build, on the coordinator's host.
    const weftFn = `weft() { ${mesh.cli.map(sq).join(' ')} "$@"; }`;
    const sh = async (ns: string, line: string): Promise<string> => {
      const r = await mesh.lab.exec(ns, ['sh', '-ec', `${weftFn}\n${line.replaceAll('/var/lib/weft-server', mesh.serverStateDir)}`], { timeoutMs: 30_000, env: mesh.env });
      assert.equal(r.code, 0, `${line}: ${r.stdout}${r.stderr}`);
      return r.stdout;
    };
    const dig = async (name: string, args: string): Promise<string> => sh(mesh.node(name).ns, `dig @100.100.100.100 +short +time=2 +tries=1 ${args}`);
    /** Polls `dig` on every node until it answers `want` (agents get changes as deltas). */
    const answers = async (args: string, want: string): Promise<void> => {
      for (const n of nodes) {
        let got = '';
        for (let i = 0; i < 50; i++) {
          got = (await dig(n, args)).trim();
          if (got === want) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        assert.equal(got, want, `${n}: dig ${args}`);
      }
    };

    const lines = readmeDnsLines();
    const admin = lines.filter((l) => l.startsWith('weft dns records'));
    assert.ok(admin.length >= 6, 'README shows the weft dns records commands');
    for (const l of admin) {
      const out = await sh(mesh.lanNs, l);
      if (l.includes(' list ')) assert.match(out, /^_http\._tcp\.gw\.weft\.internal\s+SRV\s+0 5 8080 gw\.weft\.internal\s+admin$/m);
    }
    await answers('grafana.weft.internal A', '100.64.0.50');
    await answers('grafana.weft.internal AAAA', '');
    await answers('gw.weft.internal TXT', '"backup=nightly"\n"owner=ops"');
    await answers('gw.weft.internal A', gw.ipv4);
    await answers('www.weft.internal CNAME', 'gw.weft.internal.');
    // The README's dig lines, as written, on every node.
    const digs = lines.filter((l) => l.startsWith('dig '));
    assert.equal(digs.length, 2);
    for (const n of nodes) {
      assert.equal((await sh(mesh.node(n).ns, digs[0])).trim(), '0 5 8080 gw.weft.internal.', `${n}: ${digs[0]}`);
      assert.equal((await sh(mesh.node(n).ns, digs[1])).trim(), `gw.weft.internal.\n${gw.ipv4}`, `${n}: ${digs[1]}`);
    }

    // The policy file's records, served beside the admin ones.
    const policy = join(mesh.dir, 'acl.hujson');
    writeFileSync(policy, `{
  "acls": [{ "action": "accept", "src": ["*"], "dst": ["*:*"] }],
  "dnsRecords": [
    { "name": "nas.weft.internal", "type": "A", "value": "100.64.0.7" },
    { "name": "_smb._tcp.nas.weft.internal", "type": "SRV", "value": "0 0 445 nas.weft.internal" },
    { "name": "_ldap._tcp.weft.internal", "type": "SRV", "value": "10 0 389 laptop.weft.internal" },
  ],
}`);
    await sh(mesh.lanNs, `weft policy set ${policy} --state-dir /var/lib/weft-server`);
    await answers('nas.weft.internal A', '100.64.0.7');
    await answers('_smb._tcp.nas.weft.internal SRV', '0 0 445 nas.weft.internal.');
    await answers('_ldap._tcp.weft.internal SRV', '10 0 389 laptop.weft.internal.');
    // A refused change: named field, nothing served changes.
    const bad = await mesh.weft(mesh.lanNs, ['dns', 'records', 'set', 'www.weft.internal', 'TXT', 'x', '--state-dir', mesh.serverStateDir]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /ERR_DNS_RECORD_CONFLICT/);
    // Removal reaches every agent: NXDOMAIN now.
    await sh(mesh.lanNs, 'weft dns records rm grafana.weft.internal --state-dir /var/lib/weft-server');
    await answers('grafana.weft.internal A', '');
    for (const n of nodes) assert.match(await sh(mesh.node(n).ns, 'dig @100.100.100.100 +time=2 +tries=1 grafana.weft.internal A'), /status: NXDOMAIN/);
  } finally {
    await mesh.destroy();
  }
});
