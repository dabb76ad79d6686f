// Agents in one process over an in-memory network with the real coordinator on a random
// 127.0.0.1 port and a temporary SQLite file.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeNetwork } from '../../src/io/bind-fake.js';
import { createInProcessNode, type InProcessNode } from '../../src/lab/in-process.js';
import { RestartableCoordinator } from '../helpers/agent-coordinator.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
  return Date.now() - t0;
}

const peerNames = (n: InProcessNode) => [...n.agent.peers.values()].map((p) => p.name).sort();

describe('agents with the real coordinator', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-agent-it-'));
  const coord = new RestartableCoordinator(join(dir, 'server'));
  const net = new FakeNetwork();
  const nodes: InProcessNode[] = [];
  let seq = 0;

  // Backoff jitter at its maximum keeps reconnect timing predictable (250, 500, 1000 ms...).
  const addNode = async (name: string, lanIp = `10.7.0.${++seq}`) => {
    const n = createInProcessNode(net, lanIp, {
      stateDir: join(dir, name), serverUrl: coord.url, authKey: coord.authKey, hostname: name, localApi: false, random: () => 0.999, endpointPollMs: 200,
    });
    await n.agent.start();
    nodes.push(n);
    return n;
  };
  const byName = (name: string) => nodes.find((n) => n.agent.self?.name === name)!;

  before(async () => {
    await coord.start();
    for (const name of ['a', 'b', 'c']) await addNode(name);
    await waitFor('full mesh', () => nodes.every((n) => n.agent.peers.size === 2), 2000);
  });

  after(async () => {
    for (const n of nodes) await n.agent.stop();
    await coord.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function pingAll(): Promise<void> {
    for (const a of nodes)
      for (const b of nodes) {
        if (a === b || !a.agent.device || !b.agent.device || !b.agent.self) continue;
        const r = await a.agent.ping(b.agent.self.ipv4, 2000);
        assert.ok(r.endpoint?.startsWith(b.lanIp + ':'), `${a.agent.self!.name} -> ${b.agent.self.name} via ${r.endpoint}`);
        await a.agent.ping(b.agent.self.ipv6, 2000);
      }
  }

  test('every pair pings through the engines (IPv4 and IPv6)', async () => {
    await pingAll();
    const s = byName('a').agent.status();
    assert.deepEqual(s.peers.map((p) => [p.name, p.path]), [['b', 'direct'], ['c', 'direct']]);
  });

  test('a node added or removed shows up on every peer within 1 s', async () => {
    const t0 = Date.now();
    const d = await addNode('d');
    const others = nodes.filter((n) => n !== d);
    await waitFor('d everywhere', () => others.every((n) => n.agent.peers.has(d.agent.publicKey)) && d.agent.peers.size === 3, 1000);
    assert.ok(Date.now() - t0 < 1000 + 500);
    await d.agent.ping('a', 2000);
    await d.agent.logout();
    await d.agent.stop();
    nodes.splice(nodes.indexOf(d), 1);
    const ms = await waitFor('d gone everywhere', () => nodes.every((n) => !n.agent.peers.has(d.agent.publicKey) && !n.agent.device!.lookupPeer(Buffer.from(d.agent.publicKey, 'base64'))), 1000);
    assert.ok(ms <= 1000);
  });

  test('a node the admin deletes says so in its status (stream error, then the 403 refusal)', async () => {
    const e = await addNode('e');
    try {
      await waitFor('e joined', () => e.agent.connected && e.agent.peers.size === nodes.length - 1, 2000);
      const reg = coord.running.registry;
      await reg.remove(reg.byPublicKey(e.agent.publicKey)!, 'test');
      // First the coordinator's error message on the stream, then (on the reconnect, the
      // node being unknown now) the refusal replaces it.
      const codes = new Set<string>();
      await waitFor('e refused', () => {
        const code = e.agent.status().coordinator.error?.code;
        if (code) codes.add(code);
        return code === 'ERR_NODE_NOT_REGISTERED';
      }, 3000);
      assert.ok(codes.has('ERR_NODE_REMOVED'), [...codes].join());
      const c = e.agent.status().coordinator;
      assert.equal(c.connected, false);
      assert.deepEqual(c.error, { code: 'ERR_NODE_NOT_REGISTERED', message: 'this node key is not registered' });
    } finally {
      await e.agent.stop();
      nodes.splice(nodes.indexOf(e), 1);
    }
  });

  test('a changed local address is reported and reaches the peers', async () => {
    const a = byName('a');
    const b = byName('b');
    const port = a.agent.device!.listenPort;
    a.moveTo('10.7.1.1');
    const ms = await waitFor('b learns a\'s new endpoint', () => b.agent.peers.get(a.agent.publicKey)?.endpoints.join() === `10.7.1.1:${port}`, 2000);
    assert.ok(ms < 2000);
    // b has a live session with a, so it keeps sending to what works until a's traffic roams it.
    await a.agent.ping('b', 2000);
    const engineA = b.agent.device!.lookupPeer(Buffer.from(a.agent.publicKey, 'base64'))!;
    assert.equal(engineA.endpoint?.key, `10.7.1.1:${port}`);
    await b.agent.ping('a', 2000);
  });

  test('with the coordinator down, tunnels keep working; on return the stream resyncs', async () => {
    const a = byName('a');
    const b = byName('b');
    const engineB = a.agent.device!.lookupPeer(Buffer.from(b.agent.publicKey, 'base64'))!;
    const sessionB = engineB.keypairs.current;
    assert.ok(sessionB, 'a has a session with b');
    await coord.stop();
    await waitFor('agents notice', () => nodes.every((n) => !n.agent.connected), 2000);
    await pingAll();
    // Down long enough that a's next reconnect is ~2 s away (250+500+1000 ms of backoff).
    await sleep(1800);
    await coord.start();
    // While a is still waiting, c leaves: a learns it only from the full netmap on reconnect.
    const c = byName('c');
    await c.agent.logout();
    await c.agent.stop();
    nodes.splice(nodes.indexOf(c), 1);
    await waitFor('a and b reconnect', () => a.agent.connected && b.agent.connected, 5000);
    await waitFor('c removed on a', () => peerNames(a).join() === 'b', 2000);
    assert.equal(a.agent.device!.lookupPeer(Buffer.from(b.agent.publicKey, 'base64')), engineB, 'b untouched in the engine');
    assert.equal(engineB.keypairs.current, sessionB, 'b keeps its session');
    await pingAll();
  });

  test('restarted while the coordinator is down: peers come back from the cached netmap', async () => {
    const a = byName('a');
    const b = byName('b');
    const aIp = a.lanIp;
    await sleep(1200); // the cache is written a moment after the last netmap change
    await coord.stop();
    await waitFor('agents notice', () => nodes.every((n) => !n.agent.connected), 2000);
    await a.agent.stop();
    nodes.splice(nodes.indexOf(a), 1);
    const others = nodes.map((n) => n.agent.self!.name).sort();
    const a2 = await addNode('a', aIp);
    assert.equal(a2.agent.connected, false);
    assert.deepEqual(peerNames(a2), others, 'peers from netmap.json');
    assert.equal(a2.agent.status().coordinator.cachedNetmap, true);
    await a2.agent.ping(b.agent.self!.ipv4, 2000);
    await b.agent.ping(a2.agent.self!.ipv4, 2000);
    await coord.start();
    await waitFor('a reconnects', () => a2.agent.connected, 5000);
    assert.equal(a2.agent.status().coordinator.cachedNetmap, undefined);
    assert.deepEqual(peerNames(a2), others);
  });
});
