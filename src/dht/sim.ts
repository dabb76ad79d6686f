import { FakeClock } from '../clock.js';
import { generatePrivateKey, publicKeyFromPrivate, type PrivateKey } from '../crypto/keys.js';
import { Endpoint } from '../io/endpoint.js';
import { seededRandom } from '../serverless/sim.js';
import { FakeGossipNetwork } from '../serverless/transport.js';
import { keyId } from '../serverless/trust.js';
import { compareDistance, nodeIdOf } from './id.js';
import type { LookupResult } from './lookup.js';
import { DhtNode } from './node.js';
import { signRecord, type PeerRecord } from './records.js';
import { signingKeyFromX25519 } from './sign.js';

// A whole DHT in one process, for the simulation tests and `npm run bench:dht`: real
// nodes (real sealing, codec, records) on FakeGossipNetwork under one FakeClock, each
// on its own /24 (10.a.b.1), one seeded PRNG. Nodes join the real way (ping a known
// node, then look up their own id), or, for thousands of nodes, start from the table a
// join and a few refreshes give (seedTables: id neighbours plus a random sample).

export interface DhtSimOptions {
  n: number;
  seed?: number;
  /** One-way latency per datagram. */
  latencyMs?: number;
  alpha?: number;
  timeoutMs?: number;
}

export interface RecordLookup {
  record: PeerRecord | null;
  hops: number;
  messages: number;
  ms: number;
}

export class DhtSim {
  readonly clock = new FakeClock();
  readonly net: FakeGossipNetwork;
  readonly random: () => number;
  readonly privateKeys: PrivateKey[] = [];
  readonly keys: Uint8Array[] = [];
  readonly addrs: Endpoint[] = [];
  readonly nodes: DhtNode[] = [];
  readonly down = new Set<number>();
  private readonly trusted = new Set<string>();

  constructor(readonly o: DhtSimOptions) {
    this.random = seededRandom(o.seed ?? 1);
    this.net = new FakeGossipNetwork(this.clock, { latencyMs: o.latencyMs ?? 10, random: this.random });
    for (let i = 0; i < o.n; i++) {
      const priv = generatePrivateKey();
      this.privateKeys.push(priv);
      this.keys.push(publicKeyFromPrivate(priv));
      this.trusted.add(keyId(this.keys[i]));
      this.addrs.push(Endpoint.of(`10.${(i >> 8) & 255}.${i & 255}.1`, 4000));
    }
    for (let i = 0; i < o.n; i++) {
      this.nodes.push(
        new DhtNode({
          privateKey: this.privateKeys[i],
          publicKey: this.keys[i],
          transport: this.net.attach(this.addrs[i]),
          trusted: (id) => this.trusted.has(id),
          clock: this.clock,
          random: this.random,
          alpha: o.alpha,
          timeoutMs: o.timeoutMs ?? 500,
        }),
      );
    }
  }

  /** Runs the simulation for `ms` (timers past it wait). */
  run(ms = 10_000): void {
    this.clock.advance(ms);
  }

  /** Runs in 1 ms steps until `done()` (bounded by `maxMs`); false if it never was. */
  runUntil(done: () => boolean, maxMs = 10_000): boolean {
    for (let t = 0; t < maxMs && !done(); t++) this.clock.advance(1);
    return done();
  }

  /** The real join, one node after the other: ping node 0, then DhtNode.join(). */
  joinAll(): void {
    for (let i = 1; i < this.nodes.length; i++) {
      this.nodes[i].addContact(this.keys[0], this.addrs[0]);
      this.run(2_000);
      let joined = false;
      this.nodes[i].join(() => (joined = true));
      this.runUntil(() => joined);
    }
  }

  /** The table a join plus refreshes leave: the `near` id neighbours and `sample` random nodes. */
  seedTables(near = 20, sample = 120): void {
    const order = this.nodes.map((_, i) => i).sort((a, b) => compareDistance(new Uint8Array(32), this.nodes[a].id, this.nodes[b].id));
    const n = order.length;
    order.forEach((i, pos) => {
      const node = this.nodes[i];
      const pick = new Set<number>();
      for (let d = 1; d <= near / 2 && d < n; d++) pick.add(order[(pos + d) % n]).add(order[(pos - d + n) % n]);
      for (let s = 0; s < sample; s++) pick.add(Math.floor(this.random() * n));
      pick.delete(i);
      for (const j of pick) node.table.seen({ id: nodeIdOf(this.keys[j]), key: this.keys[j], keyId: keyId(this.keys[j]), endpoint: this.addrs[j] }, this.clock.now());
    });
  }

  record(i: number, seq = 1, ttlMs = 30 * 60_000): PeerRecord {
    return signRecord(signingKeyFromX25519(this.privateKeys[i]), this.keys[i], { seq, expiresAt: this.clock.wallNow() + ttlMs, endpoints: [this.addrs[i]], relays: [] });
  }

  /** Every live node (or those in `only`) publishes its record; returns how many nodes took each. */
  publishAll(only?: readonly number[]): number[] {
    const accepted: number[] = [];
    for (const i of only ?? this.nodes.map((_, j) => j)) {
      if (!this.down.has(i)) this.nodes[i].publish(this.record(i), (a) => (accepted[i] = a));
    }
    this.run();
    return accepted;
  }

  findRecord(from: number, of: number): RecordLookup {
    const start = this.clock.now();
    let out = null as RecordLookup | null;
    this.nodes[from].findRecord(this.keys[of], (record, l: LookupResult) => {
      out = { record, hops: l.hops, messages: l.messages, ms: this.clock.now() - start };
    });
    this.runUntil(() => out !== null);
    if (!out) throw new Error('lookup did not finish');
    return out;
  }

  /** Crashes `fraction` of the nodes (never node 0), chosen by the seeded PRNG. */
  kill(fraction: number): void {
    const want = Math.floor(this.nodes.length * fraction);
    while (this.down.size < want) {
      const i = 1 + Math.floor(this.random() * (this.nodes.length - 1));
      if (this.down.has(i)) continue;
      this.down.add(i);
      this.net.setDown(this.addrs[i]);
    }
  }

  stop(): void {
    for (const n of this.nodes) n.stop();
  }
}
