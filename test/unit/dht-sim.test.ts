import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DhtSim } from '../../src/dht/sim.js';

// DHT simulations: 30 real nodes (real sealing, codec, signed records) joining the real
// way on the fake network and clock. Lookups from every node for every record must
// succeed, in few hops; after 30% of the nodes crash, every live node's record is still
// found from every live node.

function lookupsAll(sim: DhtSim, live: number[]): { ok: number; total: number; hops: number[] } {
  let ok = 0;
  const hops: number[] = [];
  for (const a of live) {
    for (const b of live) {
      if (a === b) continue;
      const r = sim.findRecord(a, b);
      if (r.record && r.record.key.every((x, i) => x === sim.keys[b][i])) ok++;
      hops.push(r.hops);
    }
  }
  return { ok, total: live.length * (live.length - 1), hops };
}

test('30 nodes: every record is found from every node, in few hops', () => {
  const sim = new DhtSim({ n: 30, seed: 11 });
  try {
    sim.joinAll();
    for (const node of sim.nodes) assert.ok(node.table.size >= 10, `table of ${node.table.size}`);
    const accepted = sim.publishAll();
    for (const a of accepted) assert.ok(a >= 15, `record stored at ${a} nodes`);
    const all = sim.nodes.map((_, i) => i);
    const r = lookupsAll(sim, all);
    assert.equal(r.ok, r.total);
    const sorted = r.hops.sort((x, y) => x - y);
    assert.ok(sorted[Math.floor(sorted.length / 2)] <= 2, `median hops ${sorted[Math.floor(sorted.length / 2)]}`);
    assert.ok(sorted[sorted.length - 1] <= 4, `max hops ${sorted[sorted.length - 1]}`);
  } finally {
    sim.stop();
  }
});

test('churn: after 30% of the nodes crash, live records are still found from live nodes', () => {
  const sim = new DhtSim({ n: 30, seed: 12 });
  try {
    sim.joinAll();
    sim.publishAll();
    sim.kill(0.3);
    assert.equal(sim.down.size, 9);
    const live = sim.nodes.map((_, i) => i).filter((i) => !sim.down.has(i));
    const r = lookupsAll(sim, live);
    assert.equal(r.ok, r.total, `${r.ok}/${r.total}`);
    // The crashed nodes' timeouts evicted some of them from the tables.
    assert.ok(sim.nodes.some((n, i) => !sim.down.has(i) && n.rpc.counters.timeouts > 0));
  } finally {
    sim.stop();
  }
});

test('a PING is answered, not pinged back; a FIND_NODE from an unknown node is (only answerers enter tables)', () => {
  const sim = new DhtSim({ n: 3, seed: 13 });
  try {
    const [a, b, c] = sim.nodes;
    b.addContact(sim.keys[0], sim.addrs[0]);
    sim.run(2000);
    assert.equal(b.table.size, 1, 'a answered b');
    assert.equal(a.rpc.counters.requests, 0, 'a did not ping b back');
    assert.equal(a.table.size, 0, 'b never answered a');
    c.addContact(sim.keys[0], sim.addrs[0]);
    sim.run(2000);
    c.findNode(c.id, () => {});
    sim.run(2000);
    assert.equal(a.rpc.counters.requests, 1, 'a pinged c, which asked it a FIND_NODE');
    assert.equal(a.table.size, 1, 'and c, having answered, is in');
  } finally {
    sim.stop();
  }
});
