import { FakeClock } from '../clock.js';
import { generatePrivateKey, publicKeyFromPrivate, type PrivateKey } from '../crypto/keys.js';
import { Endpoint } from '../io/endpoint.js';
import type { SwimConfig } from './config.js';
import type { MemberState } from './members.js';
import { SwimNode } from './swim.js';
import { FakeGossipNetwork } from './transport.js';
import { keyId, TrustSet } from './trust.js';

// A whole SWIM cluster in one process, for the simulation tests and `npm run bench:swim`:
// real nodes (real sealing, real codec) on FakeGossipNetwork under one FakeClock, with
// one seeded PRNG so a run is reproducible.

export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SimOptions {
  n: number;
  loss?: number;
  seed?: number;
  latencyMs?: number;
  config?: Partial<SwimConfig>;
  /** Admin (Ed25519) public keys every member trusts to sign revocations. */
  admins?: Uint8Array[];
  /** What node i advertises (default: its address only), e.g. an unreachable LAN address first. */
  advertise?: (i: number, addr: Endpoint) => Endpoint[];
}

export class SimCluster {
  readonly clock = new FakeClock();
  readonly net: FakeGossipNetwork;
  readonly random: () => number;
  readonly privateKeys: PrivateKey[] = [];
  readonly keys: Uint8Array[] = [];
  readonly ids: string[] = [];
  readonly addrs: Endpoint[] = [];
  /** Each node has its own trust set, as each host has its own authorized_keys. */
  readonly trust: TrustSet[] = [];
  readonly nodes: SwimNode[] = [];
  private readonly opts: SimOptions;

  constructor(opts: SimOptions) {
    this.opts = opts;
    this.random = seededRandom(opts.seed ?? 1);
    this.net = new FakeGossipNetwork(this.clock, { loss: opts.loss ?? 0, latencyMs: opts.latencyMs ?? 2, random: this.random });
    for (let i = 0; i < opts.n; i++) {
      const priv = generatePrivateKey();
      this.privateKeys.push(priv);
      this.keys.push(publicKeyFromPrivate(priv));
      this.ids.push(keyId(this.keys[i]));
      this.addrs.push(Endpoint.of(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 7946));
    }
    const entries = [...this.keys.map((key, i) => ({ key, name: `n${i}`, role: 'node' as const })), ...(opts.admins ?? []).map((key, i) => ({ key, name: `admin${i}`, role: 'admin' as const }))];
    for (let i = 0; i < opts.n; i++) this.trust.push(new TrustSet(entries));
    for (let i = 0; i < opts.n; i++) this.nodes.push(this.makeNode(i));
  }

  /** Node i as it would restart: same key and address, fresh state. */
  makeNode(i: number): SwimNode {
    return new SwimNode({
      privateKey: this.privateKeys[i],
      publicKey: this.keys[i],
      trust: this.trust[i],
      transport: this.net.attach(this.addrs[i]),
      endpoints: this.opts.advertise?.(i, this.addrs[i]) ?? [this.addrs[i]],
      clock: this.clock,
      config: this.opts.config,
      random: this.random,
    });
  }

  /** Starts every node with node 0 as the seed. */
  startAll(): void {
    this.nodes.forEach((node, i) => node.start(i === 0 ? [] : [this.addrs[0]]));
  }

  /** Crashes node i: its host stops sending and receiving. */
  kill(i: number): void {
    this.net.setDown(this.addrs[i]);
    this.nodes[i].stop();
  }

  stateOf(observer: number, target: number): MemberState | undefined {
    return this.nodes[observer].membership.members.get(this.ids[target])?.state;
  }

  /** Observers (live nodes other than `target`) that do not yet see `target` as `state`. */
  lagging(target: number, state: MemberState, live: (i: number) => boolean): number {
    let n = 0;
    for (let i = 0; i < this.nodes.length; i++) if (i !== target && live(i) && this.stateOf(i, target) !== state) n++;
    return n;
  }

  /** Every live node sees every other live node alive. */
  converged(live: (i: number) => boolean = () => true): boolean {
    return this.nodes.every((_, t) => !live(t) || this.lagging(t, 'alive', live) === 0);
  }

  /** Steps the clock until `done()` or `limitMs` passes; returns the elapsed ms or null. */
  runUntil(done: () => boolean, limitMs: number, stepMs = 100): number | null {
    const start = this.clock.now();
    while (this.clock.now() - start < limitMs) {
      if (done()) return this.clock.now() - start;
      this.clock.advance(stepMs);
    }
    return done() ? this.clock.now() - start : null;
  }
}
