import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NetmapBackend } from '../../src/agent/backend.js';
import { Endpoint } from '../../src/io/endpoint.js';
import type { NetmapUpdate } from '../../src/agent/netmap-source.js';
import { adminKeyFromSeed, signRevocation } from '../../src/serverless/revocation.js';
import { ServerlessNetmapSource } from '../../src/serverless/netmap-source.js';
import { SimCluster } from '../../src/serverless/sim.js';
import { ServerlessView } from '../../src/serverless/view.js';

// The serverless NetmapSource over a simulated SWIM cluster (fake clock, fake network),
// feeding the agent's real NetmapBackend: peers appear, die and are revoked.

function setup(n: number) {
  const admin = adminKeyFromSeed(new Uint8Array(32).fill(4));
  const sim = new SimCluster({ n, seed: 11, admins: [admin.publicKey] });
  const view = new ServerlessView(sim.nodes[0], sim.trust[0]);
  const source = new ServerlessNetmapSource({ view, node: sim.nodes[0] });
  const updates: NetmapUpdate[] = [];
  const backend = new NetmapBackend(sim.ids[0]);
  let connected = false;
  source.start({
    onUpdate: (u) => {
      updates.push(u);
      backend.apply(u);
    },
    onConnectedChange: (c) => (connected = c),
    onError: () => assert.fail('no errors expected'),
  });
  return { sim, view, source, updates, backend, admin, connected: () => connected };
}

test('a full netmap on start, then one delta per member that joins', () => {
  const { sim, view, updates, backend, connected } = setup(4);
  assert.equal(connected(), true);
  assert.equal(updates[0].type, 'full');
  if (updates[0].type !== 'full') return;
  const nm = updates[0].netmap;
  assert.equal(nm.peers.length, 0, 'nobody known before gossip');
  assert.equal(nm.self.publicKey, sim.ids[0]);
  assert.equal(nm.self.ipv4, view.plan.byKey.get(sim.ids[0])!.ipv4);
  assert.equal(nm.self.fqdn, 'n0.weft.internal');
  assert.deepEqual(nm.packetFilter, [{ srcs: ['100.80.0.0/12', 'fd77:6566:7400::/48'], ports: [[0, 65535]] }]);
  assert.equal(nm.dns?.resolverIPv4, '100.100.100.100');
  sim.startAll();
  assert.notEqual(sim.runUntil(() => sim.converged(), 30_000), null);
  assert.equal(backend.peers.size, 3);
  for (let i = 1; i < 4; i++) {
    const p = backend.peers.get(sim.ids[i])!;
    const a = view.plan.byKey.get(sim.ids[i])!;
    assert.equal(p.name, `n${i}`);
    assert.equal(p.ipv4, a.ipv4);
    assert.equal(p.ipv6, a.ipv6);
    assert.deepEqual(p.endpoints, [sim.addrs[i].key]);
    assert.equal(backend.findPeer(`n${i}.weft.internal`)?.publicKey, sim.ids[i], 'MagicDNS / ping names');
  }
  assert.ok(updates.slice(1).every((u) => u.type === 'delta'));
  const seqs = updates.map((u) => (u.type === 'full' ? u.netmap.seq : u.type === 'delta' ? u.seq : 0));
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'seq increases');
});

test('a dead member is removed; a restarted one comes back with the same addresses', () => {
  const { sim, backend } = setup(5);
  sim.startAll();
  assert.notEqual(sim.runUntil(() => sim.converged(), 30_000), null);
  const before = backend.peers.get(sim.ids[3])!;
  sim.kill(3);
  assert.notEqual(sim.runUntil(() => !backend.peers.has(sim.ids[3]), 120_000), null, 'dropped once dead');
  assert.equal(sim.stateOf(0, 3), 'dead');
  sim.net.setDown(sim.addrs[3], false);
  sim.nodes[3] = sim.makeNode(3);
  sim.nodes[3].start([sim.addrs[1]]);
  assert.notEqual(sim.runUntil(() => backend.peers.has(sim.ids[3]), 60_000), null, 'rejoined');
  const after = backend.peers.get(sim.ids[3])!;
  assert.equal(after.ipv4, before.ipv4);
  assert.equal(after.ipv6, before.ipv6);
});

test('a revoked member is removed at once and stays out', () => {
  const { sim, backend, updates, admin } = setup(4);
  sim.startAll();
  assert.notEqual(sim.runUntil(() => sim.converged(), 30_000), null);
  assert.ok(backend.peers.has(sim.ids[2]));
  assert.equal(sim.nodes[1].membership.revoke(signRevocation(admin, sim.keys[2], sim.clock.wallNow())), true);
  assert.notEqual(sim.runUntil(() => !backend.peers.has(sim.ids[2]), 10_000), null);
  const removal = updates.find((u) => u.type === 'delta' && u.removals.includes(sim.ids[2]));
  assert.ok(removal, 'a delta removed it');
  sim.clock.advance(30_000);
  assert.equal(backend.peers.has(sim.ids[2]), false);
});

test('reportEndpoints advertises our endpoints (relay pseudo-endpoints and junk are skipped); stop disconnects', async () => {
  const { sim, source, connected } = setup(2);
  const inc = sim.nodes[0].membership.self.incarnation;
  assert.equal(source.reportEndpoints(['192.0.2.1:41641', 'relay:r1', 'not an endpoint', '[2001:db8::1]:41641']), true);
  assert.deepEqual(sim.nodes[0].membership.self.endpoints.map((e) => e.key), ['192.0.2.1:41641', '[2001:db8::1]:41641']);
  assert.equal(sim.nodes[0].membership.self.incarnation, inc + 1);
  source.reportEndpoints(['192.0.2.1:41641', '[2001:db8::1]:41641']);
  assert.equal(sim.nodes[0].membership.self.incarnation, inc + 1, 'unchanged endpoints are not re-announced');
  assert.equal(source.reportRoutes([]), true);
  assert.equal(source.reportRoutes(['10.0.0.0/24']), false);
  await source.stop();
  assert.equal(connected(), false);
});

test('a member behind NAT: the address it is heard from joins its advertised endpoints, and probes go there', async () => {
  const { sim, backend } = setup(3);
  sim.startAll();
  assert.notEqual(sim.runUntil(() => sim.converged(), 30_000), null);
  // Member 2 advertises only its private LAN address; its datagrams arrive from its "NAT mapping".
  const lan = Endpoint.of('192.168.7.20', 41641);
  sim.nodes[2].membership.setSelf([lan], false);
  const want = [lan.key, sim.addrs[2].key];
  assert.notEqual(sim.runUntil(() => JSON.stringify(backend.peers.get(sim.ids[2])?.endpoints) === JSON.stringify(want), 10_000), null, 'observed address added');
  let suspected = 0;
  sim.nodes[0].on('member', (e) => e.type !== 'update' && e.id === sim.ids[2] && suspected++);
  sim.clock.advance(60_000);
  assert.equal(suspected, 0, 'probed where it is heard from, so never suspected');
  assert.equal(sim.stateOf(0, 2), 'alive');
  assert.deepEqual(backend.peers.get(sim.ids[1])?.endpoints, [sim.addrs[1].key], 'nothing added when the advertised address is the one heard from');
});

test('members that volunteer as relays form the relay map, in full netmaps, until they die', () => {
  const { sim, backend, updates } = setup(4);
  sim.startAll();
  assert.notEqual(sim.runUntil(() => sim.converged(), 30_000), null);
  assert.deepEqual(backend.relays, [], 'no relay member yet');
  sim.nodes[2].membership.setSelf([sim.addrs[2]], true);
  assert.notEqual(sim.runUntil(() => (backend.relays?.length ?? 0) > 0, 30_000), null, 'the relay flag spreads');
  assert.deepEqual(backend.relays, [{ id: 'n2', url: `ws://${sim.addrs[2].key}/relay`, stun: [sim.addrs[2].key] }]);
  const last = updates.at(-1)!;
  assert.equal(last.type, 'full', 'the agent takes relays from full netmaps only');
  sim.kill(2);
  assert.notEqual(sim.runUntil(() => backend.relays?.length === 0, 120_000), null, 'a dead relay leaves the map');
  assert.equal(backend.peers.has(sim.ids[2]), false);
});
