import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeNetwork } from '../../src/io/bind-fake.js';
import { createInProcessNode } from '../../src/lab/in-process.js';
import { StubCoordinator } from '../helpers/stub-coordinator.js';

test('smoke: three agents over a stub coordinator ping each other', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-agent-'));
  const coord = new StubCoordinator();
  await coord.start();
  const net = new FakeNetwork();
  const nodes = ['a', 'b', 'c'].map((h, i) => createInProcessNode(net, `10.9.0.${i + 1}`, { stateDir: join(dir, h), serverUrl: coord.url, authKey: 'k', hostname: h, localApi: false }));
  try {
    for (const n of nodes) await n.agent.start();
    const deadline = Date.now() + 2000;
    while (nodes.some((n) => n.agent.peers.size < 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const a of nodes) for (const b of nodes) {
      if (a === b) continue;
      const r = await a.agent.ping(b.agent.self!.name, 2000);
      assert.equal(r.name, b.agent.self!.name);
      assert.equal(r.endpoint?.startsWith(b.lanIp), true);
    }
    console.log(JSON.stringify(nodes[0].agent.status(), null, 1));
  } finally {
    for (const n of nodes) await n.agent.stop();
    await coord.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
