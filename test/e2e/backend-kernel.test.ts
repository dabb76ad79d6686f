// End to end: the kernel backend's driver. `wg` (wireguard-tools) speaks netlink to the
// kernel module and the same commands over UAPI to wireguard-go, so the driver's channel
// (src/wireguard/wg-tool.ts: `wg set` with keys in private files, `wg show dump`) is checked
// against a real wireguard-go everywhere. `weft up --backend kernel` beside a builtin node
// runs only where the kernel has WireGuard: elsewhere it is skipped with the reason, also
// under WEFT_E2E_REQUIRED=1 (a hardware-dependent skip; the refusal there is tested in
// backend-wireguard-go.test.ts).
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { WEFT_JS } from '../../src/lab/mesh.js';
import { randomIfname, startEngine, WIREGUARD_GO } from '../../src/lab/wg-pair.js';
import { missingTools, requireOrSkip, rootReason, type SkipContext } from '../../src/lab/require.js';
import { execOk, Lab } from '../../src/lab/netns.js';
import { generatePrivateKey, keyToBase64, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { uapiChangeFor, type DeviceConfig } from '../../src/wireguard/config.js';
import { kernelWireguardUnavailable } from '../../src/wireguard/engine-kernel.js';
import { WgTool } from '../../src/wireguard/wg-tool.js';
import { e2eFile, suiteMesh } from './helpers.js';

e2eFile();

const TOOLS = ['ip', 'ping', 'nft', 'wireguard-go', 'wg'];
const KERN = 'kern';
const NATIVE = 'native';

function pre(t: SkipContext): boolean {
  return requireOrSkip(t, [rootReason(), ...missingTools(TOOLS), existsSync(WEFT_JS) ? null : `weft not built (${WEFT_JS})`]);
}

describe('the kernel driver\'s wg channel', { timeout: 60_000 }, () => {
  test('sets the diff through wg (keys in private files, removed after) and reads it back from wg show dump', async (t) => {
    if (!pre(t)) return;
    const lab = new Lab();
    try {
      const ns = await lab.addNs();
      const ifname = randomIfname('wgk');
      const running = await startEngine(lab, ns, WIREGUARD_GO, ifname);
      const wg = new WgTool(ifname);
      const own = generatePrivateKey();
      const [k1, k2] = [generatePrivateKey(), generatePrivateKey()].map(publicKeyFromPrivate);
      const psk = new Uint8Array(32).fill(7);
      const apply = async (c: DeviceConfig) => wg.set(uapiChangeFor(await wg.get(), c));
      await apply({ privateKey: own, listenPort: 41642, fwmark: 0x5746, peers: [{ publicKey: k1, presharedKey: psk, allowedIps: ['100.64.0.2/32'], endpoint: '192.0.2.1:51820', persistentKeepalive: 25 }] });
      let snap = await wg.get();
      assert.equal(snap.listenPort, 41642);
      assert.equal(snap.fwmark, 0x5746);
      assert.ok(snap.privateKey, 'a private key is set');
      const dump = (await execOk(ns, ['wg', 'show', ifname, 'public-key'])).trim();
      assert.equal(dump, keyToBase64(publicKeyFromPrivate(own)), 'the key arrived through its file');
      assert.deepEqual(readdirSync('/dev/shm').filter((f) => f.startsWith('weft-wg-')), [], 'the key files are gone');
      assert.deepEqual(snap.peers.map((p) => [keyToBase64(p.publicKey), p.endpoint, p.allowedIps, p.persistentKeepalive, p.presharedKey && Buffer.from(p.presharedKey).equals(Buffer.from(psk))]), [[keyToBase64(k1), '192.0.2.1:51820', ['100.64.0.2/32'], 25, true]]);
      await apply({ privateKey: own, peers: [{ publicKey: k2, allowedIps: ['100.64.0.3/32', '10.1.0.0/16'] }] });
      snap = await wg.get();
      assert.deepEqual(snap.peers.map((p) => [keyToBase64(p.publicKey), p.allowedIps]), [[keyToBase64(k2), ['100.64.0.3/32', '10.1.0.0/16']]], 'k1 removed, k2 added');
      assert.deepEqual(uapiChangeFor(snap, { privateKey: own, peers: [{ publicKey: k2, allowedIps: ['100.64.0.3/32', '10.1.0.0/16'] }] }).peers, [], 'nothing left to set');
      await running.child.kill();
    } finally {
      await lab.destroy();
    }
  });
});

describe('weft up --backend kernel beside a builtin node', { timeout: 120_000 }, () => {
  const fx = suiteMesh();
  const kIf = randomIfname('wgk');
  const noModule = kernelWireguardUnavailable();

  before(async () => {
    if (noModule !== null || rootReason() !== null || missingTools(TOOLS).length) return;
    const mesh = fx.create();
    await mesh.build([KERN, NATIVE]);
    await mesh.startServer();
    await mesh.createAuthKey();
    await mesh.up(KERN, ['--backend', 'kernel', '--iface', kIf]);
    await mesh.up(NATIVE);
    for (const [a, b] of [[KERN, NATIVE], [NATIVE, KERN]]) await mesh.waitPeers(a, [b], 15_000);
    fx.ready();
  });

  test('pings both ways, wg show lists the peer, status names the backend, weft down deletes the interface', async (t) => {
    if (noModule !== null) {
      // Hardware-dependent: allowed to skip even under WEFT_E2E_REQUIRED=1.
      t.skip(`needs kernel WireGuard: ${noModule}`);
      return;
    }
    if (!pre(t)) return;
    const mesh = fx.get();
    for (const [a, b] of [[KERN, NATIVE], [NATIVE, KERN]]) {
      const r = await mesh.ping(a, mesh.node(b).ipv4, 3, 10);
      assert.ok(r.received >= 1, `${a} -> ${b}: ${r.output}`);
    }
    const native = await mesh.status(NATIVE);
    const wg = await mesh.lab.exec(mesh.node(KERN).ns, ['wg', 'show', kIf, 'dump'], { timeoutMs: 10_000 });
    assert.equal(wg.code, 0, wg.stderr);
    assert.ok(wg.stdout.split('\n').some((l) => l.startsWith(native.self.publicKey)), wg.stdout);
    const s = await mesh.status(KERN);
    assert.equal(s.backend?.kind, 'kernel');
    assert.equal(s.backend?.discoPort, s.self.listenPort + 1);
    const r = await mesh.down(KERN);
    assert.equal(r.code, 0, r.stderr);
    const link = await mesh.lab.exec(mesh.node(KERN).ns, ['ip', 'link', 'show', kIf], { timeoutMs: 10_000 });
    assert.notEqual(link.code, 0, 'the interface is gone');
  });
});
