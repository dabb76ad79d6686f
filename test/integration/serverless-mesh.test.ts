import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetmapBackend } from '../../src/agent/backend.js';
import { stopMembers } from '../helpers/serverless-members.js';
import { ensureStateDir, loadOrCreateKey } from '../../src/agent/state.js';
import { keyToBase64, keyToHex, publicKeyFromPrivate, type PrivateKey } from '../../src/crypto/keys.js';
import { LinuxBind } from '../../src/io/bind-linux.js';
import { MagicBind } from '../../src/nat/magicsock.js';
import { ServerlessMesh } from '../../src/serverless/mesh.js';
import { adminKeyFromSeed, signRevocation } from '../../src/serverless/revocation.js';
import { authorizeKey, deauthorizeKey, saveRevocation } from '../../src/serverless/trust-store.js';

// The serverless runtime as the agent drives it (identify, attach to a MagicBind, start
// with a sink) with two members on real loopback sockets: the folder watch applies
// deauthorizations and dropped-in revocation files while running; our own key must be
// in the folder.

const FAST = { probeIntervalMs: 200, probeTimeoutMs: 100, gossipIntervalMs: 50 };
const admin = adminKeyFromSeed(new Uint8Array(32).fill(7));

interface Member {
  dir: string;
  key: PrivateKey;
  pub: Uint8Array;
  mesh: ServerlessMesh;
  magic: MagicBind;
  backend: NetmapBackend;
  full: number;
}

async function waitFor(ok: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    assert.ok(Date.now() < deadline, what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function twoMembers(root: string): Promise<Member[]> {
  const dirs = ['a', 'b'].map((n) => join(root, n));
  for (const d of dirs) await ensureStateDir(d);
  const keys = await Promise.all(dirs.map(async (d) => (await loadOrCreateKey(d)).key));
  const pubs = keys.map((k) => publicKeyFromPrivate(k));
  for (const d of dirs) {
    for (const [i, name] of ['a', 'b'].entries()) await authorizeKey(join(d, 'authorized_keys'), pubs[i], name, 'node');
    await authorizeKey(join(d, 'authorized_keys'), admin.publicKey, 'ops', 'admin');
  }
  const out: Member[] = [];
  for (const [i, dir] of dirs.entries()) {
    const seeds = i === 0 ? [] : [`127.0.0.1:${out[0].magic.port}`];
    const mesh = new ServerlessMesh({ stateDir: dir, seeds, mdns: false, config: FAST });
    const self = await mesh.identify(keys[i]);
    assert.equal(self.node.name, ['a', 'b'][i]);
    const magic = new MagicBind({ inner: new LinuxBind(), privateKey: keys[i], heartbeatMs: 3_600_000 });
    const port = await magic.open(0, { onReceive: () => {} });
    await mesh.attach(magic, port);
    const m: Member = { dir, key: keys[i], pub: pubs[i], mesh, magic, backend: new NetmapBackend(keyToBase64(pubs[i]), self), full: 0 };
    mesh.start({
      onUpdate: (u) => {
        if (u.type === 'full') m.full++;
        m.backend.apply(u);
      },
      onConnectedChange: () => {},
      onError: () => {},
    });
    mesh.reportEndpoints([`127.0.0.1:${port}`]);
    out.push(m);
  }
  return out;
}

test('members find each other; a deauthorized key leaves the netmap while running', async () => {
  const root = mkdtempSync(join(tmpdir(), 'weft-serverless-'));
  const ms = await twoMembers(root);
  try {
    const [a, b] = ms;
    const bId = keyToBase64(b.pub);
    await waitFor(() => a.backend.peers.has(bId) && b.backend.peers.has(keyToBase64(a.pub)), 'joined');
    assert.deepEqual(a.backend.peers.get(bId)!.endpoints, [`127.0.0.1:${b.magic.port}`]);
    assert.deepEqual(a.mesh.members().map((m) => [m.name, m.state]).sort(), [['a', 'alive'], ['b', 'alive']]);
    const fulls = a.full;
    await deauthorizeKey(join(a.dir, 'authorized_keys'), b.pub);
    await waitFor(() => !a.backend.peers.has(bId), 'b removed after the folder edit');
    assert.ok(a.full > fulls, 'a full netmap after the reload');
    assert.deepEqual(a.mesh.members().map((m) => m.name), ['a']);
  } finally {
    await stopMembers(ms, root);
  }
});

test('a revocation file dropped into the folder revokes the member at once', async () => {
  const root = mkdtempSync(join(tmpdir(), 'weft-serverless-'));
  const ms = await twoMembers(root);
  try {
    const [a, b] = ms;
    const bId = keyToBase64(b.pub);
    await waitFor(() => a.backend.peers.has(bId), 'joined');
    await saveRevocation(join(a.dir, 'authorized_keys'), signRevocation(admin, b.pub, Date.now()));
    await waitFor(() => !a.backend.peers.has(bId), 'b revoked');
    assert.ok(existsSync(join(a.dir, 'authorized_keys', 'revoked', keyToHex(b.pub))));
    // It keeps gossiping at us; it never comes back.
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(a.backend.peers.has(bId), false);
    assert.ok(!a.mesh.members().some((m) => m.publicKey === bId));
  } finally {
    await stopMembers(ms, root);
  }
});

test('our own key must be a trusted node', async () => {
  const root = mkdtempSync(join(tmpdir(), 'weft-serverless-'));
  try {
    const { key } = await loadOrCreateKey(root);
    const mesh = new ServerlessMesh({ stateDir: root, mdns: false });
    await assert.rejects(mesh.identify(key), (e: Error & { code?: string }) => e.code === 'ERR_SELF_NOT_AUTHORIZED');
    await authorizeKey(join(root, 'authorized_keys'), publicKeyFromPrivate(key), 'me', 'node');
    await authorizeKey(join(root, 'authorized_keys'), admin.publicKey, 'ops', 'admin');
    await saveRevocation(join(root, 'authorized_keys'), signRevocation(admin, publicKeyFromPrivate(key), Date.now()));
    await assert.rejects(new ServerlessMesh({ stateDir: root, mdns: false }).identify(key), (e: Error & { code?: string }) => e.code === 'ERR_SELF_REVOKED');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
