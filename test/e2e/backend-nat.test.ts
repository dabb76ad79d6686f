// End to end: NAT traversal beside an external engine. Nodes on `--backend wireguard-go`
// and builtin nodes behind the NAT lab's real iptables routers (src/lab/nat-lab.ts): the
// wireguard-go node runs disco, STUN and the relay client on its second port. EIM pairs
// and EIM <-> EDM pairs (wireguard-go + builtin, either way round) go direct as with the
// builtin engine, an EDM pair works over the relay, and `weft status` says which and why
// on both sides.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { WEFT_JS } from '../../src/lab/mesh.js';
import type { SiteSpec } from '../../src/lab/nat-lab.js';
import { sleep } from '../../src/lab/netns.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import { randomIfname } from '../../src/lab/wg-pair.js';
import type { StatusJson } from '../../src/agent/status.js';
import { e2eFile, suiteNatLab } from './helpers.js';

e2eFile();

const TOOLS = ['ip', 'ping', 'iptables', 'sysctl', 'nft', 'wireguard-go', 'wg'];
const SITES: SiteSpec[] = [
  { name: 'eimA', kind: 'eim', nodes: ['goeim'] },
  { name: 'eimB', kind: 'eim', nodes: ['eim2'] },
  { name: 'edmA', kind: 'edm', nodes: ['goedm'] },
  { name: 'edmB', kind: 'edm', nodes: ['edm2'] },
];
// UAPI sockets are per host, not per namespace: each wireguard-go node its own name.
const GO_IFACE = new Map(['goeim', 'goedm'].map((n) => [n, randomIfname('wgo')]));
const NAMES = SITES.flatMap((s) => s.nodes);

function pre(t: SkipContext): boolean {
  return requireOrSkip(t, [rootReason(), ...missingTools(TOOLS), existsSync(WEFT_JS) ? null : `weft not built (${WEFT_JS})`]);
}

describe('NAT traversal beside wireguard-go: NAT lab pairs', { timeout: 180_000 }, () => {
  const fx = suiteNatLab();

  before(async () => {
    if (rootReason() !== null || missingTools(TOOLS).length) return;
    const lab = fx.create();
    await lab.build(SITES);
    await lab.startServer();
    await lab.createAuthKey();
    await Promise.all(NAMES.map((n) => lab.up(n, GO_IFACE.has(n) ? ['--backend', 'wireguard-go', '--iface', GO_IFACE.get(n)!] : [])));
    for (const n of NAMES) await lab.waitPeers(n, NAMES.length - 1);
    fx.ready();
  });

  const L = fx.get;

  /** Both sides' view of the pair once both report `path` (or the last view at the deadline). */
  async function settle(a: string, b: string, path: 'direct' | 'relay', ms: number): Promise<[StatusJson, StatusJson]> {
    const deadline = Date.now() + ms;
    for (;;) {
      await L().ping(a, L().node(b).ipv4, 1, 0.2);
      const views = [await L().status(a), await L().status(b)] as [StatusJson, StatusJson];
      const ok = views.every((s, i) => s.peers.find((p) => p.name === [b, a][i])?.path === path);
      if (ok || Date.now() > deadline) return views;
      await sleep(500);
    }
  }

  const peer = (s: StatusJson, name: string) => s.peers.find((p) => p.name === name)!;

  test('the wireguard-go node runs NAT traversal on its second port and says so', async (t) => {
    if (!pre(t)) return;
    const s = await L().status('goeim');
    assert.equal(s.backend?.kind, 'wireguard-go');
    assert.equal(s.backend?.natTraversal, true);
    assert.equal(s.backend?.discoPort, s.self.listenPort + 1, 'the WireGuard port + 1');
    assert.match(s.backend!.reason, /disco, STUN and relays run on UDP port \d+/);
    assert.match(String(s.nat?.publicV4), /^203\.0\.113\.\d+:\d+$/, 'STUN through the NAT router on the second port');
    assert.equal(s.nat?.homeRelay, 'default');
    assert.ok(!s.self.endpoints.includes('disco:none'), `no disco:none: ${s.self.endpoints.join(' ')}`);
    const text = await L().weft(L().node('goeim').ns, ['status', '--state-dir', L().node('goeim').stateDir]);
    assert.match(text.stdout, /backend wireguard-go\s+disco port \d+/);
  });

  test('EIM pair (wireguard-go + builtin) goes direct', async (t) => {
    if (!pre(t)) return;
    const lab = L();
    assert.ok((await lab.reach('goeim', 'eim2', 15_000)) !== null, 'goeim -> eim2');
    assert.ok((await lab.reach('eim2', 'goeim', 15_000)) !== null, 'eim2 -> goeim');
    const [go, native] = await settle('goeim', 'eim2', 'direct', 20_000);
    const g = peer(go, 'eim2'), n = peer(native, 'goeim');
    t.diagnostic(`goeim -> eim2: ${g.path} ${g.endpoint} (${g.pathReason}); eim2 -> goeim: ${n.path} ${n.endpoint} (${n.pathReason})`);
    assert.equal(g.path, 'direct', JSON.stringify(g));
    assert.equal(n.path, 'direct', JSON.stringify(n));
    assert.match(g.endpoint!, /^203\.0\.113\.\d+:\d+$/, 'the peer\'s public (NAT router) address');
    // WireGuard itself goes direct: wireguard-go's endpoint is eim2's public address (not
    // its loopback proxy), and a burst both ways passes without the proxy.
    const before = go.nat?.proxies as { fromEngine: number; toEngine: number };
    assert.equal((await lab.ping('goeim', lab.node('eim2').ipv4, 5, 0.2)).received, 5);
    assert.equal((await lab.ping('eim2', lab.node('goeim').ipv4, 5, 0.2)).received, 5);
    const wg = await lab.lab.exec(lab.node('goeim').ns, ['wg', 'show', GO_IFACE.get('goeim')!, 'endpoints'], { timeoutMs: 5000, check: true });
    const line = wg.stdout.split('\n').find((l) => l.startsWith(native.self.publicKey));
    assert.match(line ?? '', /\t203\.0\.113\.\d+:\d+$/, `wireguard-go sends to eim2's public address: ${wg.stdout}`);
    const after = (await lab.status('goeim')).nat?.proxies as { fromEngine: number; toEngine: number };
    t.diagnostic(`proxy counters before/after the direct pings: ${JSON.stringify(before)} ${JSON.stringify(after)}`);
    assert.ok(after.fromEngine - before.fromEngine < 3 && after.toEngine - before.toEngine < 3, 'the pings did not go through the proxy');
  });

  // Behind the home-router lab the builtin engine takes EIM <-> EDM direct (birthday
  // method, test/e2e/nat-lab.test.ts); so must a pair with wireguard-go on either side.
  // The EDM side's mapping is per destination, so wireguard-go's own port cannot reach it
  // (nor be reached from it): WireGuard rides the disco sockets' direct path through the
  // loopback proxy (docs/BACKENDS.md).
  for (const [a, b] of [['goeim', 'edm2'], ['goedm', 'eim2']] as const)
    test(`EIM <-> EDM (${a} on wireguard-go, ${b} builtin) goes direct, WireGuard through the proxy`, async (t) => {
      if (!pre(t)) return;
      const lab = L();
      assert.ok((await lab.reach(a, b, 15_000)) !== null, `${a} -> ${b}`);
      assert.ok((await lab.reach(b, a, 15_000)) !== null, `${b} -> ${a}`);
      const [go, native] = await settle(a, b, 'direct', 20_000);
      const g = peer(go, b), n = peer(native, a);
      t.diagnostic(`${a} -> ${b}: ${g.path} ${g.endpoint ?? g.relay} (${g.pathReason}); ${b} -> ${a}: ${n.path} ${n.endpoint ?? n.relay} (${n.pathReason})`);
      assert.equal(g.path, 'direct', JSON.stringify(g));
      assert.equal(n.path, 'direct', JSON.stringify(n));
      assert.equal((await lab.ping(a, lab.node(b).ipv4, 5, 0.2)).received, 5);
      assert.equal((await lab.ping(b, lab.node(a).ipv4, 5, 0.2)).received, 5);
      const wg = await lab.lab.exec(lab.node(a).ns, ['wg', 'show', GO_IFACE.get(a)!, 'endpoints'], { timeoutMs: 5000, check: true });
      const line = wg.stdout.split('\n').find((l) => l.startsWith(native.self.publicKey));
      assert.match(line ?? '', /\t127\.0\.0\.1:\d+$/, `wireguard-go sends to ${b} through its loopback proxy: ${wg.stdout}`);
    });

  test('EDM pair (wireguard-go + builtin) works over the relay and says why', async (t) => {
    if (!pre(t)) return;
    const lab = L();
    assert.ok((await lab.reach('goedm', 'edm2', 15_000)) !== null, 'goedm -> edm2');
    assert.ok((await lab.reach('edm2', 'goedm', 15_000)) !== null, 'edm2 -> goedm');
    const [go, native] = await settle('goedm', 'edm2', 'relay', 10_000);
    const g = peer(go, 'edm2'), n = peer(native, 'goedm');
    t.diagnostic(`goedm -> edm2: ${g.path} ${g.relay} (${g.pathReason}); edm2 -> goedm: ${n.path} ${n.relay} (${n.pathReason})`);
    assert.equal(g.path, 'relay', JSON.stringify(g));
    assert.equal(g.relay, 'default');
    assert.ok(g.pathReason, 'a reason on the relayed side');
    assert.equal(n.path, 'relay', JSON.stringify(n));
    assert.equal((await lab.ping('goedm', lab.node('edm2').ipv4, 5, 0.2)).received, 5);
    const proxies = go.nat?.proxies as { fromEngine: number; toEngine: number } | undefined;
    assert.ok(proxies && proxies.fromEngine > 0 && proxies.toEngine > 0, `WireGuard through the loopback proxies: ${JSON.stringify(proxies)}`);
  });
});
