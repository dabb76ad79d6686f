import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generatePrivateKey, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { adminKeyFromSeed, signRevocation } from '../../src/serverless/revocation.js';
import { GossipSealer } from '../../src/serverless/seal.js';
import { SimCluster } from '../../src/serverless/sim.js';
import { keyId } from '../../src/serverless/trust.js';
import { encodeMessage } from '../../src/serverless/wire.js';

// SWIM simulations: real nodes, real sealing, fake clock and lossy fake network.

const allAlive = (sim: SimCluster): boolean => sim.converged();

test('a member cut off briefly is suspected and refutes with a higher incarnation', () => {
  // A short cut-off still ends in a death for a few seeds (3 of 20 at 10 members): the refutation races the suspicion timeout.
  const sim = new SimCluster({ n: 10, seed: 1 });
  const deaths: string[] = [];
  let suspected = 0;
  sim.nodes.forEach((node) => node.on('member', (e) => (e.type === 'dead' ? deaths.push(e.id) : e.type === 'suspect' && suspected++)));
  sim.startAll();
  assert.notEqual(sim.runUntil(() => allAlive(sim), 30_000), null);
  sim.net.setDown(sim.addrs[3]);
  assert.notEqual(sim.runUntil(() => sim.nodes.some((_, i) => sim.stateOf(i, 3) === 'suspect'), 10_000), null, 'suspected while cut off');
  sim.net.setDown(sim.addrs[3], false);
  assert.notEqual(sim.runUntil(() => allAlive(sim), 20_000), null, 'alive again everywhere');
  assert.ok(sim.nodes[3].membership.self.incarnation > 0, 'refuted by bumping its incarnation');
  assert.ok(sim.nodes[3].membership.counters.refutations > 0);
  assert.ok(suspected > 0);
  assert.deepEqual(deaths, []);
});

test('a member behind a NAT reachable only through the seed is never suspected: helpers probe it where they hear it', () => {
  // Node 3 advertises a LAN address first (nobody reaches it) and can talk only with node 0,
  // as a member behind an endpoint-dependent NAT does with the relay member.
  const lan = Endpoint.of('192.168.9.3', 7946);
  const sim = new SimCluster({ n: 4, seed: 9, advertise: (i, addr) => (i === 3 ? [lan, addr] : [addr]) });
  sim.net.block(sim.addrs[3], sim.addrs[1]);
  sim.net.block(sim.addrs[3], sim.addrs[2]);
  const suspects: number[] = [];
  sim.nodes.forEach((node, i) => node.on('member', (e) => e.type === 'suspect' && e.id === sim.ids[3] && suspects.push(i)));
  sim.startAll();
  assert.notEqual(sim.runUntil(() => allAlive(sim), 30_000), null);
  sim.runUntil(() => false, 60_000);
  assert.deepEqual(suspects, [], 'nobody suspected node 3');
  assert.ok(allAlive(sim));
});

test('a revocation signed by an admin spreads by gossip; the revoked key is refused and cannot rejoin', () => {
  const admin = adminKeyFromSeed(new Uint8Array(32).fill(9));
  const sim = new SimCluster({ n: 8, seed: 3, admins: [admin.publicKey] });
  const revokedAt: number[] = [];
  sim.nodes.forEach((node, i) => node.on('member', (e) => e.type === 'revoked' && e.id === keyId(sim.keys[6]) && revokedAt.push(i)));
  sim.startAll();
  assert.notEqual(sim.runUntil(() => allAlive(sim), 30_000), null);
  assert.equal(sim.nodes[0].membership.revoke(signRevocation(admin, sim.keys[6], sim.clock.wallNow())), true);
  const others = (i: number): boolean => i !== 6;
  assert.notEqual(
    sim.runUntil(() => sim.nodes.every((_, i) => !others(i) || sim.stateOf(i, 6) === undefined), 20_000),
    null,
    'every member dropped the revoked key',
  );
  assert.deepEqual(revokedAt.filter(others).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 7], 'each member emitted revoked once');
  // It keeps gossiping (and restarts with a new incarnation): nobody lets it back in.
  const before = sim.nodes[1].counters.rxUntrusted;
  sim.nodes[6].stop();
  sim.nodes[6] = sim.makeNode(6);
  sim.nodes[6].start([sim.addrs[1]]);
  sim.clock.advance(30_000);
  assert.ok(sim.nodes.every((_, i) => !others(i) || sim.stateOf(i, 6) === undefined));
  assert.ok(sim.nodes.reduce((s, x, i) => s + (others(i) ? x.counters.rxUntrusted : 0), 0) > 0);
  assert.ok(sim.nodes[1].counters.rxUntrusted >= before);
});

test('a forged revocation (admin not trusted) is ignored', () => {
  const rogue = adminKeyFromSeed(new Uint8Array(32).fill(1));
  const sim = new SimCluster({ n: 3, seed: 2, admins: [adminKeyFromSeed(new Uint8Array(32).fill(2)).publicKey] });
  assert.equal(sim.nodes[0].membership.revoke(signRevocation(rogue, sim.keys[1], 1)), false);
  const real = signRevocation(adminKeyFromSeed(new Uint8Array(32).fill(2)), sim.keys[1], 1);
  assert.equal(sim.nodes[0].membership.revoke({ ...real, issuedAt: 2 }), false, 'bad signature');
});

test('gossip from a key outside the trust set is dropped and counted before any state change', () => {
  const sim = new SimCluster({ n: 3, seed: 4 });
  sim.startAll();
  assert.notEqual(sim.runUntil(() => allAlive(sim), 20_000), null);
  const strangerPriv = generatePrivateKey();
  const stranger = publicKeyFromPrivate(strangerPriv);
  const sealer = new GossipSealer(strangerPriv, stranger);
  const from = Endpoint.of('10.9.9.9', 7946);
  const t = sim.net.attach(from);
  const alive = encodeMessage({ type: 'alive', incarnation: 1, node: stranger, relay: false, endpoints: [from] });
  for (let i = 0; i < 50; i++) t.send(sim.addrs[0], sealer.seal(sim.keys[0], keyId(sim.keys[0]), [alive], sim.clock.wallNow()) as Uint8Array);
  // A trusted member vouching for an untrusted key does not get it in either.
  sim.nodes[1].membership.aliveNode({ type: 'alive', incarnation: 1, node: stranger, relay: false, endpoints: [from] });
  sim.clock.advance(1000);
  assert.equal(sim.nodes[0].counters.rxUntrusted, 50);
  assert.equal(sim.nodes[1].membership.counters.untrustedMembers, 1);
  assert.ok(sim.nodes.every((n) => n.membership.count === 3), 'membership did not grow');
});

test('a replayed datagram is dropped and counted', () => {
  const sim = new SimCluster({ n: 2, seed: 8 });
  const captured: Uint8Array[] = [];
  const tap = sim.net.attach(Endpoint.of('10.8.8.8', 1));
  const pkt = new GossipSealer(sim.privateKeys[1], sim.keys[1]).seal(sim.keys[0], keyId(sim.keys[0]), [encodeMessage({ type: 'ack', seq: 1 })], sim.clock.wallNow()) as Uint8Array;
  captured.push(pkt, pkt);
  for (const p of captured) tap.send(sim.addrs[0], p);
  sim.clock.advance(100);
  assert.equal(sim.nodes[0].counters.rxReplayed, 1);
});

test('a graceful leave is dead everywhere at once, never suspected; the member can rejoin', () => {
  const sim = new SimCluster({ n: 20, seed: 8 });
  let suspected = 0;
  sim.nodes.forEach((node) => node.on('member', (e) => e.type === 'suspect' && e.id === sim.ids[4] && suspected++));
  sim.startAll();
  assert.notEqual(sim.runUntil(() => allAlive(sim), 30_000), null);
  const before = sim.nodes[4].membership.self.incarnation;
  sim.nodes[4].leave();
  sim.net.setDown(sim.addrs[4]); // gone: it answers nothing after leaving
  const others = sim.nodes.map((_, i) => i).filter((i) => i !== 4);
  const took = sim.runUntil(() => others.every((i) => sim.stateOf(i, 4) === 'dead'), 30_000, 10);
  assert.notEqual(took, null, 'dead everywhere');
  // Suspicion alone takes at least suspicionMult·log10(20)·1 s ≈ 5.2 s, plus probing.
  assert.ok(took! < 2_000, `learnt by gossip in ${took} ms, not by probing`);
  assert.equal(suspected, 0, 'never suspected');
  assert.ok(others.every((i) => sim.nodes[i].membership.members.get(sim.ids[4])!.incarnation === before + 1));
  assert.ok(others.every((i) => sim.nodes[i].membership.members.get(sim.ids[4])!.left === true), 'marked as left, not failed');
  sim.net.setDown(sim.addrs[4], false);
  sim.nodes[4] = sim.makeNode(4);
  sim.nodes[4].start([sim.addrs[0]]);
  assert.notEqual(sim.runUntil(() => allAlive(sim), 60_000), null, 'rejoins after leaving');
});

test('a killed member that restarts behind a NAT is alive again everywhere at once, though it reaches only its seed', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) {
    const sim = new SimCluster({ n: 6, seed });
    sim.startAll();
    assert.notEqual(sim.runUntil(() => allAlive(sim), 30_000), null);
    sim.kill(3);
    assert.notEqual(sim.runUntil(() => sim.lagging(3, 'dead', (i) => i !== 3) === 0, 60_000), null, 'dead everywhere');
    // It comes back reaching node 0 (its seed) only: its refutation, gossiped to random
    // members, mostly goes nowhere; node 0 hears its probes and syncs with it.
    for (const i of [1, 2, 4, 5]) sim.net.block(sim.addrs[3], sim.addrs[i]);
    sim.net.setDown(sim.addrs[3], false);
    sim.nodes[3] = sim.makeNode(3);
    sim.nodes[3].start([sim.addrs[0]]);
    assert.notEqual(sim.runUntil(() => sim.stateOf(0, 3) === 'alive', 5_000), null, `seed ${seed}: alive at node 0`);
    // Node 0 heard it first-hand and tells every live member directly.
    assert.notEqual(sim.runUntil(() => sim.lagging(3, 'alive', () => true) === 0, 500, 10), null, `seed ${seed}: alive everywhere`);
  }
});

test('a seed that left and restarts with no seeds of its own is found again by members that never felt alone', () => {
  const sim = new SimCluster({ n: 6, seed: 11 });
  sim.startAll();
  assert.notEqual(sim.runUntil(() => allAlive(sim), 30_000), null);
  sim.nodes[0].leave();
  assert.notEqual(sim.runUntil(() => sim.lagging(0, 'dead', (i) => i !== 0) === 0, 5_000), null, 'left everywhere');
  sim.nodes[0] = sim.makeNode(0);
  sim.nodes[0].start([]); // the first member's line: nobody to ask
  // Members 1…5 still have each other; they ask the seed they no longer hold alive at
  // their next push/pull (30 s), and it answers.
  assert.notEqual(sim.runUntil(() => allAlive(sim), 65_000), null, 'one mesh again');
});

test('a NATed member suspected by members that cannot reach it hears of it from the one that can, and refutes in time', () => {
  const failures: string[] = [];
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) {
    const sim = new SimCluster({ n: 5, seed });
    for (const i of [1, 2, 4]) sim.net.block(sim.addrs[3], sim.addrs[i]);
    let deaths = 0;
    sim.nodes.forEach((node) => node.on('member', (e) => e.type === 'dead' && e.id === sim.ids[3] && deaths++));
    sim.startAll();
    assert.notEqual(sim.runUntil(() => allAlive(sim), 30_000), null);
    // Node 1 loses node 0, the only member that reaches node 3, long enough to suspect node 3;
    // the accusation spreads, other accusers shorten the timeout, and node 3 hears gossip
    // only from node 0, whose few piggybacked copies may all go elsewhere.
    sim.net.block(sim.addrs[1], sim.addrs[0]);
    assert.notEqual(sim.runUntil(() => sim.stateOf(1, 3) === 'suspect', 20_000), null, `seed ${seed}: suspected`);
    sim.net.block(sim.addrs[1], sim.addrs[0], false);
    // Node 0 tells node 3 as soon as it hears the accusation: it refutes well inside the
    // minimum suspicion timeout (4 s at 5 members).
    if (sim.runUntil(() => sim.nodes[3].membership.self.incarnation > 0, 2_000) === null) failures.push(`seed ${seed}: no refutation within 2 s`);
    sim.runUntil(() => false, 60_000);
    if (deaths > 0 || !allAlive(sim)) failures.push(`seed ${seed}: ${deaths} deaths`);
  }
  assert.deepEqual(failures, []);
});

test('a member passing on an accusation older than the refutation we hold gets the refutation back', () => {
  const sim = new SimCluster({ n: 3, seed: 12 });
  sim.startAll();
  assert.notEqual(sim.runUntil(() => allAlive(sim), 20_000), null);
  // Node 0 holds node 2 alive at incarnation 5; node 1 (speaking from another address) still
  // passes on a `dead` at incarnation 0.
  sim.nodes[0].membership.aliveNode({ type: 'alive', incarnation: 5, node: sim.keys[2], relay: false, endpoints: [sim.addrs[2]] });
  const sealer = new GossipSealer(sim.privateKeys[1], sim.keys[1]);
  const from = Endpoint.of('10.9.9.1', 7946);
  const t = sim.net.attach(from);
  const replies: string[] = [];
  t.onReceive((data) => {
    const r = sealer.open(data, () => true, sim.clock.wallNow());
    if (r.ok) for (const m of r.messages) if (m.type === 'alive' && keyId(m.node) === sim.ids[2]) replies.push(`alive ${m.incarnation}`);
  });
  const stale = encodeMessage({ type: 'dead', incarnation: 0, node: sim.keys[2], from: sim.keys[1] });
  t.send(sim.addrs[0], sealer.seal(sim.keys[0], sim.ids[0], [stale], sim.clock.wallNow())!);
  sim.clock.advance(50);
  assert.ok(replies.includes('alive 5'), `replies: ${replies.join(', ')}`);
  assert.equal(sim.stateOf(0, 2), 'alive');
});

test('a member joining behind a NAT through its seed is known to every member at once', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) {
    const sim = new SimCluster({ n: 6, seed });
    for (const i of [1, 2, 4, 5]) sim.net.block(sim.addrs[3], sim.addrs[i]);
    sim.nodes.forEach((node, i) => i !== 3 && node.start(i === 0 ? [] : [sim.addrs[0]]));
    const others = (i: number): boolean => i !== 3;
    assert.notEqual(sim.runUntil(() => sim.converged(others), 30_000), null);
    sim.nodes[3].start([sim.addrs[0]]);
    assert.notEqual(sim.runUntil(() => sim.lagging(3, 'alive', () => true) === 0, 1_000, 10), null, `seed ${seed}: known everywhere`);
  }
});
