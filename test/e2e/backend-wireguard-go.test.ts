// End to end: Weft's control plane over wireguard-go (`weft up --backend wireguard-go`)
// beside a builtin-engine node and a coordinator, each in its own namespace: mesh pings
// both ways, the policy enforced by nftables on the wireguard-go node (and by the
// builtin filter on the other), status with the backend and wireguard-go's stats,
// MagicDNS, and `weft down` undoing everything. Also the kernel backend's refusal.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WEFT_CLI, WEFT_JS } from '../../src/lab/mesh.js';
import { PACKAGE_ROOT, randomIfname, startEngine, WIREGUARD_GO } from '../../src/lab/wg-pair.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import { execOk, Lab, sleep } from '../../src/lab/netns.js';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { WireguardGoEngine } from '../../src/wireguard/engine-wireguard-go.js';
import { kernelWireguardUnavailable } from '../../src/wireguard/engine-kernel.js';
import { e2eFile, suiteMesh } from './helpers.js';

e2eFile();

const PROBE = fileURLToPath(new URL('../helpers/net-probe.js', import.meta.url));
const TOOLS = ['ip', 'ping', 'nft', 'wireguard-go', 'wg', 'dig'];
const GO = 'gonode';
const NATIVE = 'native';
// Everyone reaches everyone on 8022 only (and may ping: echo requests pass for any admitted source).
const POLICY = '{ "acls": [ { "action": "accept", "src": ["*"], "dst": ["*:8022"] } ] }';

/** The README's backend command line with the lab's coordinator URL and auth key. */
function readmeCommand(serverUrl: string, authKey: string): string[] {
  const md = readFileSync(join(PACKAGE_ROOT, 'README.md'), 'utf8');
  const block = /<!-- backend-commands[^]*?```sh\n([^]*?)```/.exec(md);
  assert.ok(block, 'README backend block');
  const argv = block[1].trim().replace('https://weft.example.com', serverUrl).replace(' KEY', ` ${authKey}`).split(' ');
  assert.equal(argv[0], 'weft');
  return argv;
}

function pre(t: SkipContext): boolean {
  return requireOrSkip(t, [rootReason(), ...missingTools(TOOLS), existsSync(WEFT_JS) ? null : `weft not built (${WEFT_JS})`]);
}

describe('weft up --backend wireguard-go beside a builtin node', { timeout: 240_000 }, () => {
  const fx = suiteMesh();
  const goIf = randomIfname('wgo');

  before(async () => {
    if (rootReason() !== null || missingTools(TOOLS).length) return;
    const mesh = fx.create();
    await mesh.build([GO, NATIVE]);
    await mesh.startServer();
    const file = join(mesh.dir, 'policy.hujson');
    writeFileSync(file, POLICY);
    const set = await mesh.weft(mesh.lanNs, ['policy', 'set', file, '--state-dir', mesh.serverStateDir]);
    assert.equal(set.code, 0, set.stderr);
    await mesh.createAuthKey();
    // The README's command, with the lab's coordinator and key, plus what every lab node needs.
    const go = mesh.node(GO);
    const lab = ['--state-dir', go.stateDir, '--hostname', GO, '--insecure-http', '--iface', goIf, '--no-accept-dns'];
    await mesh.startAgent(go, [...WEFT_CLI, ...readmeCommand(mesh.serverUrl, mesh.authKey).slice(1), ...lab], mesh.env);
    await mesh.up(NATIVE);
    for (const [a, b] of [[GO, NATIVE], [NATIVE, GO]]) await mesh.waitPeers(a, [b], 15_000);
    for (const n of [GO, NATIVE]) {
      const s = mesh.lab.spawn(mesh.node(n).ns, [process.execPath, PROBE, 'serve', '8022,8080', '']);
      await s.waitFor(/serving/, 10_000);
    }
    fx.ready();
  });

  const m = fx.get;

  async function connects(from: string, to: string, port: number): Promise<boolean> {
    const mesh = m();
    const r = await mesh.lab.exec(mesh.node(from).ns, [process.execPath, PROBE, 'tcp', mesh.node(to).ipv4, String(port), '1500'], { timeoutMs: 12_000 });
    return r.code === 0;
  }

  test('mesh pings both ways, IPv4 and IPv6', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    for (const [a, b] of [[GO, NATIVE], [NATIVE, GO]]) {
      for (const ip of [mesh.node(b).ipv4, mesh.node(b).ipv6]) {
        const r = await mesh.ping(a, ip, 3, 10);
        assert.ok(r.received >= 1, `${a} -> ${b} (${ip}): ${r.output}`);
      }
    }
  });

  test('wireguard-go runs the netmap: its interface, its UAPI socket, the peer', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    const go = mesh.node(GO);
    const wg = await mesh.lab.exec(go.ns, ['wg', 'show', goIf, 'dump'], { timeoutMs: 10_000 });
    assert.equal(wg.code, 0, wg.stderr);
    const native = await mesh.status(NATIVE);
    const peerLine = wg.stdout.split('\n').find((l) => l.startsWith(native.self.publicKey));
    assert.ok(peerLine, `wg show lists the builtin node: ${wg.stdout}`);
    assert.match(peerLine, new RegExp(`${native.self.ipv4.replace(/\./g, '\\.')}/32`), 'its mesh address is an allowed IP');
  });

  test('status shows the backend, its second port for NAT traversal and wireguard-go\'s handshake and transfer stats', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    await mesh.ping(GO, mesh.node(NATIVE).ipv4, 2, 5);
    await sleep(1500); // the engine's stats are polled once a second
    const s = await mesh.status(GO);
    assert.equal(s.backend?.kind, 'wireguard-go');
    assert.equal(s.backend?.natTraversal, true);
    assert.match(s.backend!.reason, /owns the WireGuard UDP port/);
    assert.equal(s.backend?.discoPort, s.self.listenPort + 1);
    assert.match(s.backend!.filter, /nftables/);
    assert.equal(s.self.iface, goIf);
    assert.ok(s.self.listenPort > 0);
    assert.equal(s.nat?.discoPort, s.backend?.discoPort, 'NAT traversal on the second port');
    const p = s.peers.find((x) => x.name === NATIVE)!;
    assert.equal(p.path, 'direct', JSON.stringify(p));
    assert.ok(p.latestHandshake, 'handshake time from wireguard-go');
    assert.ok(p.rxBytes > 0 && p.txBytes > 0, `transfer counters from wireguard-go: ${p.rxBytes}/${p.txBytes}`);
    const text = await mesh.weft(mesh.node(GO).ns, ['status', '--state-dir', mesh.node(GO).stateDir]);
    assert.match(text.stdout, /backend wireguard-go/);
    // The builtin node is unchanged: no backend section.
    assert.equal((await mesh.status(NATIVE)).backend, undefined);
  });

  test('the policy: nftables on the wireguard-go node, the builtin filter on the other', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    assert.ok(await connects(NATIVE, GO, 8022), 'builtin -> wireguard-go :8022 (allowed)');
    assert.ok(await connects(GO, NATIVE, 8022), 'wireguard-go -> builtin :8022 (allowed)');
    assert.equal(await connects(NATIVE, GO, 8080), false, 'builtin -> wireguard-go :8080 is denied by nftables');
    assert.equal(await connects(GO, NATIVE, 8080), false, 'wireguard-go -> builtin :8080 is denied by the builtin filter');
    const table = await mesh.lab.exec(mesh.node(GO).ns, ['nft', 'list', 'table', 'inet', 'weft-filter'], { timeoutMs: 10_000 });
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`iifname != "${goIf}" accept`));
    assert.match(table.stdout, /th dport 8022 accept/);
  });

  test('weft ping says it needs the builtin engine', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    const r = await mesh.weft(mesh.node(GO).ns, ['ping', NATIVE, '--state-dir', mesh.node(GO).stateDir]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /ERR_BACKEND_UNSUPPORTED|builtin engine/);
  });

  test('MagicDNS answers on the wireguard-go interface', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    const s = await mesh.status(GO);
    const peer = s.peers.find((x) => x.name === NATIVE)!;
    let out = '';
    for (let i = 0; i < 20 && out !== peer.ipv4; i++) {
      const r = await mesh.lab.exec(mesh.node(GO).ns, ['dig', '+short', '+time=1', '+tries=1', '@100.100.100.100', peer.fqdn, 'A'], { timeoutMs: 10_000 });
      out = r.stdout.trim();
      if (out !== peer.ipv4) await sleep(250);
    }
    assert.equal(out, peer.ipv4);
  });

  test('weft down stops wireguard-go and removes the interface and the nftables table', async (t) => {
    if (!pre(t)) return;
    const mesh = m();
    const go = mesh.node(GO);
    const r = await mesh.down(GO);
    assert.equal(r.code, 0, r.stderr);
    const link = await mesh.lab.exec(go.ns, ['ip', 'link', 'show', goIf], { timeoutMs: 10_000 });
    assert.notEqual(link.code, 0, 'the interface is gone');
    const table = await mesh.lab.exec(go.ns, ['nft', 'list', 'table', 'inet', 'weft-filter'], { timeoutMs: 10_000 });
    assert.notEqual(table.code, 0, 'the nftables table is gone');
    assert.equal(existsSync(`/var/run/wireguard/${goIf}.sock`), false, 'the UAPI socket is gone');
  });

  test('--backend kernel without the module fails with a typed error naming the reason', async (t) => {
    if (!pre(t)) return;
    const why = kernelWireguardUnavailable();
    if (why === null) {
      t.skip('this kernel has WireGuard: the refusal is not what happens here');
      return;
    }
    const mesh = m();
    const go = mesh.node(GO);
    const r = await mesh.weft(go.ns, ['up', '--state-dir', go.stateDir, '--insecure-http', '--backend', 'kernel', '--no-accept-dns']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /ERR_BACKEND_UNAVAILABLE/);
    assert.match(r.stderr, /no WireGuard module/);
  });
});

describe('the wireguard-go engine on its own', { timeout: 60_000 }, () => {
  test('drives an already running wireguard-go over UAPI: the diff only, stats back, left running on close', async (t) => {
    if (!pre(t)) return;
    const lab = new Lab();
    try {
      const ns = await lab.addNs();
      const ifname = randomIfname('wge');
      const running = await startEngine(lab, ns, WIREGUARD_GO, ifname);
      const engine = await WireguardGoEngine.start({ ifname });
      const [k1, k2] = [generatePrivateKey(), generatePrivateKey()].map(publicKeyFromPrivate);
      const own = generatePrivateKey();
      const dump = async () => (await execOk(ns, ['wg', 'show', ifname, 'dump'])).trim().split('\n').map((l) => l.split('\t'));
      await engine.reconfigure({ privateKey: own, listenPort: 41641, peers: [{ publicKey: k1, allowedIps: ['100.64.0.2/32'], endpoint: '192.0.2.1:51820', persistentKeepalive: 0 }] });
      let rows = await dump();
      assert.equal(rows[0][2], '41641', 'listen port set');
      assert.equal(engine.listenPort, 41641);
      assert.deepEqual(rows.slice(1).map((r) => [r[0], r[2], r[3]]), [[keyToBase64(k1), '192.0.2.1:51820', '100.64.0.2/32']]);
      await engine.reconfigure({ privateKey: own, peers: [{ publicKey: k2, allowedIps: ['100.64.0.3/32', '10.1.0.0/16'] }] });
      rows = await dump();
      assert.deepEqual(rows.slice(1).map((r) => [r[0], r[3]]), [[keyToBase64(k2), '100.64.0.3/32,10.1.0.0/16']], 'k1 removed, k2 added');
      const st = engine.peerStatus(k2);
      assert.ok(st && st.lastHandshakeWallMs === 0 && st.rxBytes === 0, `stats read back: ${JSON.stringify(st)}`);
      assert.equal(engine.peerStatus(k1), undefined);
      await engine.close();
      assert.ok(running.child.running, 'an engine we did not start keeps running');
      rows = await dump();
      assert.equal(rows.length, 1, 'our peers are gone');
      assert.equal(rows[0][0], '(none)', 'our private key is gone');
      await running.child.kill();
    } finally {
      await lab.destroy();
    }
  });
});
