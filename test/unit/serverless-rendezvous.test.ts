import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Endpoint } from '../../src/io/endpoint.js';
import { DiscoKeys, sealDisco } from '../../src/nat/disco.js';
import { Rendezvous, RENDEZVOUS_BURST } from '../../src/serverless/rendezvous.js';
import { SimCluster } from '../../src/serverless/sim.js';

// Rendezvous through a mutual member over a simulated cluster: disco packets reach the
// peer through a member both can reach, only disco packets, within a rate limit; and a
// member learns its NAT mapping from what the others observe.

function setup(n: number) {
  const sim = new SimCluster({ n, seed: 21 });
  const got: Array<{ from: number; to: number; pkt: Uint8Array }> = [];
  const observed: Array<{ at: number; ep: Endpoint }> = [];
  const rv = sim.nodes.map(
    (node, i) =>
      new Rendezvous({
        node,
        trust: sim.trust[i],
        clock: sim.clock,
        deliver: (src, pkt) => got.push({ from: sim.keys.findIndex((k) => Buffer.from(k).equals(Buffer.from(src))), to: i, pkt }),
        onObserved: (ep) => observed.push({ at: i, ep }),
      }),
  );
  sim.startAll();
  assert.notEqual(sim.runUntil(() => sim.converged(), 30_000), null);
  const disco = (from: number, to: number) => sealDisco(new DiscoKeys(sim.privateKeys[from], sim.keys[from]), sim.keys[to], { type: 'callMeMaybe', endpoints: [Endpoint.of('203.0.113.5', 41641)], stamp: Date.now() })!;
  return { sim, rv, got, observed, disco };
}

test('a disco packet reaches the peer through a mutual member, unchanged and named by its sender', () => {
  const { sim, rv, got, disco } = setup(3);
  // 0 and 2 cannot reach each other (behind NATs); 1 reaches both.
  sim.net.block(sim.addrs[0], sim.addrs[2]);
  const pkt = disco(0, 2);
  assert.equal(rv[0].send(sim.keys[2], pkt), true);
  sim.runUntil(() => got.length > 0, 1000, 10);
  assert.equal(got.length, 1);
  assert.deepEqual({ from: got[0].from, to: got[0].to }, { from: 0, to: 2 });
  assert.deepEqual(Buffer.from(got[0].pkt), Buffer.from(pkt));
  assert.equal(rv[1].counters.forwarded, 1);
});

test('only disco packets are carried, and each member has a bounded budget', () => {
  const { sim, rv, got, disco } = setup(3);
  assert.equal(rv[0].send(sim.keys[2], new Uint8Array(100).fill(1)), false, 'not disco: never sent');
  for (let i = 0; i < 3 * RENDEZVOUS_BURST; i++) rv[0].send(sim.keys[2], disco(0, 2));
  sim.clock.advance(50);
  const through = got.filter((g) => g.to === 2).length;
  assert.ok(through <= RENDEZVOUS_BURST, `${through} delivered, at most ${RENDEZVOUS_BURST}`);
  assert.ok(rv[1].counters.limited > 0, 'the mutual member refused the rest');
});

test('a member behind NAT learns the mapping the others see and advertises nothing else for it', () => {
  const { sim, observed } = setup(4);
  // Member 3 advertises a private address; the others hear it from addrs[3] (its "mapping").
  sim.nodes[3].membership.setSelf([Endpoint.of('192.168.7.10', 41641)], false);
  assert.notEqual(sim.runUntil(() => observed.some((o) => o.at === 3), 30_000), null, 'told by the members it pings');
  assert.ok(observed.filter((o) => o.at === 3).every((o) => o.ep.equals(sim.addrs[3])));
  assert.ok(!observed.some((o) => o.at !== 3), 'members that advertise where they are heard are told nothing');
});
