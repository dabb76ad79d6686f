import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetmapBackend } from '../../src/agent/backend.js';
import { stopMembers } from '../helpers/serverless-members.js';
import { ensureStateDir, loadOrCreateKey } from '../../src/agent/state.js';
import { keyToBase64, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { LinuxBind } from '../../src/io/bind-linux.js';
import { MagicBind } from '../../src/nat/magicsock.js';
import { ServerlessMesh } from '../../src/serverless/mesh.js';
import { authorizeKey } from '../../src/serverless/trust-store.js';
import { waitFor } from '../helpers/wait.js';

// `--discovery dht` over real UDP on loopback: three members, the serverless mesh as the
// agent drives it, sharing each socket with WireGuard, disco and gossip. b and c know
// only a's HOST:PORT, and in dht mode that is a DHT bootstrap, not a SWIM seed; no mDNS.
// So SWIM starts with nobody, and every member it learns comes from a signed record
// found in the DHT (or from gossip once joined). b and c must find each other.

const FAST = { probeIntervalMs: 200, probeTimeoutMs: 100, gossipIntervalMs: 50 };

interface Member {
  mesh: ServerlessMesh;
  magic: MagicBind;
  backend: NetmapBackend;
  id: string;
}

/** Members named `names`; the first is everyone's bootstrap. Sockets open first, then the meshes attach in `order`. */
async function members(root: string, names: string[], order: number[] = names.map((_, i) => i)): Promise<Member[]> {
  const dirs = names.map((n) => join(root, n));
  for (const d of dirs) await ensureStateDir(d);
  const keys = await Promise.all(dirs.map(async (d) => (await loadOrCreateKey(d)).key));
  const pubs = keys.map((k) => publicKeyFromPrivate(k));
  for (const d of dirs) for (const [i, name] of names.entries()) await authorizeKey(join(d, 'authorized_keys'), pubs[i], name, 'node');
  const magics = keys.map((k) => new MagicBind({ inner: new LinuxBind(), privateKey: k, heartbeatMs: 3_600_000 }));
  const ports = await Promise.all(magics.map((m) => m.open(0, { onReceive: () => {} })));
  const out: Member[] = [];
  for (const i of order) {
    const seeds = i === 0 ? [] : [`127.0.0.1:${ports[0]}`];
    const mesh = new ServerlessMesh({ stateDir: dirs[i], seeds, discovery: 'dht', dht: { intervalMs: 300 }, mdns: false, config: FAST });
    const self = await mesh.identify(keys[i]);
    await mesh.attach(magics[i], ports[i]);
    const m: Member = { mesh, magic: magics[i], backend: new NetmapBackend(keyToBase64(pubs[i]), self), id: keyToBase64(pubs[i]) };
    mesh.start({ onUpdate: (u) => m.backend.apply(u), onConnectedChange: () => {}, onError: () => {} });
    mesh.reportEndpoints([`127.0.0.1:${ports[i]}`]);
    out[i] = m;
    await new Promise((r) => setTimeout(r, 200));
  }
  return out;
}

const allJoined = (ms: Member[]): boolean => ms.every((x) => ms.every((y) => x === y || x.backend.peers.has(y.id)));

test('--discovery dht: members that know only a bootstrap find each other through signed records', async () => {
  const root = mkdtempSync(join(tmpdir(), 'weft-dht-'));
  const ms = await members(root, ['a', 'b', 'c']);
  try {
    const [a, b, c] = ms;
    assert.ok(await waitFor(() => allJoined(ms), 15_000), 'every member in every netmap');
    assert.deepEqual(b.backend.peers.get(c.id)!.endpoints, [`127.0.0.1:${c.magic.port}`]);
    for (const m of ms) {
      const d = m.mesh.dht!;
      assert.ok(d, 'dht discovery runs');
      assert.ok(d.published && d.published.endpoints.some((e) => e.port === m.magic.port), 'our record carries our endpoint');
      assert.equal(d.node.counters.unauthenticated + d.node.counters.malformed + d.node.counters.errors, 0, JSON.stringify(d.node.counters));
    }
    // The joins came from records: b and c looked members up and found them.
    assert.ok(b.mesh.dht!.counters.found + c.mesh.dht!.counters.found >= 2, `found ${b.mesh.dht!.counters.found}+${c.mesh.dht!.counters.found}`);
    assert.ok(a.mesh.dht!.node.table.size >= 2, 'the bootstrap node learnt both');
    // What `weft status` shows of it (the agent passes dhtStatus() through).
    const st = b.mesh.dhtStatus()!;
    assert.ok(st.contacts >= 1 && st.records >= 1 && st.published !== null && st.found >= 1 && st.dropped === 0, JSON.stringify(st));
    assert.equal(st.published.seq, b.mesh.dht!.published!.seq);
    // Gossip and the DHT share one socket: each got its own datagrams, none left unclaimed.
    for (const m of ms) assert.equal(m.magic.stats.malformed, 0);
  } finally {
    await stopMembers(ms, root);
  }
});

test('--discovery dht: the bootstrap member may start last; the others ask it again until it answers', async () => {
  const root = mkdtempSync(join(tmpdir(), 'weft-dht-'));
  const ms = await members(root, ['a', 'b', 'c'], [1, 2, 0]);
  try {
    assert.ok(await waitFor(() => allJoined(ms), 15_000), 'every member in every netmap');
    assert.ok(ms[0].magic.stats.malformed > 0, 'WHOIS reached a before its DHT ran (so they were asked again)');
    assert.ok(ms[1].mesh.dht!.counters.found + ms[2].mesh.dht!.counters.found >= 2);
  } finally {
    await stopMembers(ms, root);
  }
});
