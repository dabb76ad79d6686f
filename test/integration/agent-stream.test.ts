// Stream robustness against a scripted coordinator (the real one never misbehaves).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeNetwork } from '../../src/io/bind-fake.js';
import { createInProcessNode } from '../../src/lab/in-process.js';
import { StubCoordinator } from '../helpers/stub-coordinator.js';
import { sleep, waitFor } from '../helpers/wait.js';

test('malformed or forged stream messages from the server do not crash the agent or apply', async () => {
  const resourcesBefore = process.getActiveResourcesInfo();
  const dir = mkdtempSync(join(tmpdir(), 'weft-agent-stream-'));
  const coord = new StubCoordinator();
  await coord.start();
  const net = new FakeNetwork();
  const nodes = ['a', 'b'].map((h, i) => createInProcessNode(net, `10.8.0.${i + 1}`, { stateDir: join(dir, h), serverUrl: coord.url, authKey: 'k', hostname: h, localApi: false }));
  try {
    for (const n of nodes) await n.agent.start();
    const [a, b] = nodes;
    const deadline = Date.now() + 2000;
    while (a.agent.peers.size < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const good = coord.nodes.get(b.agent.publicKey)!;
    for (const junk of [
      'not json', '{}', 'null', '[1,2]', '{"type":"full","netmap":{}}', '{"type":"full","netmap":null}',
      '{"type":"delta","seq":99,"upserts":"x","removals":[]}',
      JSON.stringify({ type: 'delta', seq: 100, upserts: [{ ...good, ipv4: '999.1.1.1' }, { ...good, publicKey: 'AAAA' }, null], removals: [42, null] }),
      JSON.stringify({ type: 'delta', seq: 101, upserts: [{ ...good, endpoints: ['nonsense', '[::1', '1.2.3.4:99999'] }], removals: [] }),
      JSON.stringify({ type: 'error', code: 'x' }), '\u0000'.repeat(1000),
    ]) coord.broadcastRaw(junk);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(a.agent.connected, 'still connected');
    assert.equal(a.agent.peers.size, 1, 'b still a peer');
    // A valid message afterwards still applies; the tunnel still works.
    coord.broadcastRaw(JSON.stringify({ type: 'delta', seq: 102, upserts: [good], removals: [] }));
    await new Promise((r) => setTimeout(r, 100));
    const r = await a.agent.ping('b', 2000);
    assert.equal(r.name, 'b');

    // Issue 10, finding 7: frames the pinned coordinator did not seal (plain JSON, or a
    // wrong MAC) are not applied, and the streams are dropped and opened again.
    assert.ok(await waitFor(() => coord.sockets.size === 2, 3000));
    const evil = { ...good, publicKey: 'x'.repeat(43) + '=', name: 'evil' };
    const old = new Set(coord.sockets);
    coord.broadcastForged(JSON.stringify({ type: 'delta', seq: 500, upserts: [evil], removals: [] }));
    coord.broadcastForged(Buffer.concat([Buffer.alloc(32), Buffer.from(JSON.stringify({ type: 'delta', seq: 501, upserts: [evil], removals: [] }))]));
    await sleep(300);
    assert.ok(![...a.agent.peers.values()].some((p) => p.name === 'evil'), 'the forged peer was not applied');
    const fresh = (): boolean => coord.sockets.size === 2 && [...coord.sockets].every((x) => !old.has(x));
    assert.ok(await waitFor(() => a.agent.connected && fresh(), 10_000), 'both streams were dropped and opened again');
    assert.equal(a.agent.peers.size, 1);
  } finally {
    for (const n of nodes) await n.agent.stop();
    await coord.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  await new Promise((r) => setTimeout(r, 100));
  const left = process.getActiveResourcesInfo();
  assert.ok(left.length <= resourcesBefore.length, `start/stop leaves no handles: ${left.join(', ')} (before: ${resourcesBefore.join(', ')})`);
});

test('a restarted agent restores its identity without registering again, even with the coordinator away', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-agent-restart-'));
  const coord = new StubCoordinator();
  await coord.start();
  const net = new FakeNetwork();
  const opts = { stateDir: join(dir, 'a'), serverUrl: coord.url, authKey: 'k', hostname: 'a', localApi: false };
  try {
    const first = createInProcessNode(net, '10.8.1.1', opts);
    await first.agent.start();
    const self = first.agent.self!;
    const key = first.agent.publicKey;
    await first.agent.stop();
    await coord.stop();
    const second = createInProcessNode(net, '10.8.1.1', { ...opts, authKey: undefined });
    await second.agent.start();
    try {
      assert.equal(second.agent.publicKey, key);
      assert.deepEqual(second.agent.self, self);
      assert.equal(coord.registrations, 1);
      assert.equal(second.agent.connected, false);
    } finally {
      await second.agent.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
