// DHT lookup benchmark (`npm run bench:dht`): real DHT nodes (sealing, codec, signed
// records) on FakeGossipNetwork with a fixed one-way latency per datagram, under a fake
// clock, at several sizes. Per size, random (searcher, member) pairs look up the
// member's record (FIND_VALUE), each pair once with α = 3 (Weft's setting) and once with
// α = 1 (plain sequential Kademlia, the reference), interleaved on the same network.
// Reported medians: simulated lookup latency, messages (requests) per lookup, hops; and
// hops against log2(n), the textbook bound for Kademlia with 1-bit digits. A round trip
// is 2 × latency, so latencies are multiples of it: the mean and p90 show what the
// median's steps hide.
//   node dist/bench/dht.js [--sizes 30,300,3000] [--lookups 200] [--latency 10] [--join real|seeded]
import { DhtSim } from '../src/dht/sim.js';
import { arg, fmt, markdownTable, median, runBench } from './common.js';

const sizes = arg('sizes', '30,300,3000').split(',').map(Number);
const lookups = Number(arg('lookups', '200'));
const latencyMs = Number(arg('latency', '10'));
const join = arg('join', 'auto');

/** The q-quantile (0…1) of `xs`, nearest rank. */
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

interface Stats {
  ok: number;
  ms: number[];
  msgs: number[];
  hops: number[];
}

interface Row {
  n: number;
  join: string;
  a3: Stats;
  a1: Stats;
  wallS: number;
}

const stats = (): Stats => ({ ok: 0, ms: [], msgs: [], hops: [] });

function runSize(n: number): Row {
  const wall0 = performance.now();
  const sim = new DhtSim({ n, seed: n, latencyMs });
  // Real joins (ping one node, look up one's own id) are sequential and cost O(n log n)
  // sealed messages; past 300 nodes the tables are seeded with what joins and refreshes
  // leave (id neighbours and a random sample; DhtSim.seedTables).
  const how = join === 'auto' ? (n <= 300 ? 'real' : 'seeded') : join;
  if (how === 'real') sim.joinAll();
  else sim.seedTables();
  const other = (x: number): number => {
    const y = Math.floor(sim.random() * (n - 1));
    return y >= x ? y + 1 : y;
  };
  const targets = Array.from({ length: lookups }, () => Math.floor(sim.random() * n));
  sim.publishAll([...new Set(targets)]);
  const a3 = stats();
  const a1 = stats();
  for (const [j, b] of targets.entries()) {
    const runs = [[3, a3], [1, a1]] as const;
    for (const [alpha, s] of j % 2 === 0 ? runs : [...runs].reverse()) {
      const a = other(b);
      sim.nodes[a].alpha = alpha;
      const r = sim.findRecord(a, b);
      sim.nodes[a].alpha = 3;
      if (r.record) s.ok++;
      s.ms.push(r.ms);
      s.msgs.push(r.messages);
      s.hops.push(r.hops);
    }
  }
  sim.stop();
  return { n, join: how, a3, a1, wallS: (performance.now() - wall0) / 1000 };
}

runBench('bench:dht', async () => {
  const rows: Row[] = [];
  for (const n of sizes) {
    const r = runSize(n);
    rows.push(r);
    process.stderr.write(`# n=${n} done in ${fmt(r.wallS)} s\n`);
  }
  console.log(`DHT lookups (FIND_VALUE of a signed record), k = 20, ${lookups} random pairs per size, ${latencyMs} ms one-way per datagram; medians; reference: the same pairs with α = 1`);
  console.log(
    markdownTable(
      ['nodes', 'tables', 'found α=3', 'latency α=3 (ms)', 'latency α=1 (ms)', 'ratio', 'mean α=3 / α=1 (ms)', 'p90 α=3 (ms)', 'p90 α=1 (ms)', 'msgs α=3', 'msgs α=1', 'ratio', 'hops α=3', 'log2(n)', 'hops/log2(n)', 'wall (s)'],
      rows.map((r) => {
        const l3 = median(r.a3.ms);
        const l1 = median(r.a1.ms);
        const m3 = median(r.a3.msgs);
        const m1 = median(r.a1.msgs);
        const h3 = median(r.a3.hops);
        return [String(r.n), r.join, `${r.a3.ok}/${lookups} (α=1 ${r.a1.ok})`, fmt(l3), fmt(l1), fmt(l3 / l1), `${fmt(mean(r.a3.ms))} / ${fmt(mean(r.a1.ms))}`, fmt(quantile(r.a3.ms, 0.9)), fmt(quantile(r.a1.ms, 0.9)), fmt(m3), fmt(m1), fmt(m3 / m1), fmt(h3), fmt(Math.log2(r.n)), fmt(h3 / Math.log2(r.n)), fmt(r.wallS)];
      }),
    ).join('\n'),
  );
  return rows.every((r) => r.a3.ok === lookups) ? 0 : 1;
});
