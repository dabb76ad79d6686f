// SWIM simulation benchmark (`npm run bench:swim`): real members (real sealing and
// codec) on a fake lossy network under a fake clock, for several cluster sizes.
// Per size: time for a new member to be known alive by all others, failure detection
// time (first and last observer) against memberlist's bound, false positives in a steady
// window, and gossip bytes per member per second. The "reference" column is memberlist's
// own formula for the same parameters (no Go toolchain here to run memberlist itself).
//   node dist/bench/swim.js [--sizes 50,200,1000] [--loss 0.05] [--window 120] [--kills 3]
import { DEFAULT_SWIM_CONFIG as C, suspicionTimeout } from '../src/serverless/config.js';
import { SimCluster } from '../src/serverless/sim.js';
import { keyId } from '../src/serverless/trust.js';
import { arg, fmt, markdownTable, median } from './common.js';

const sizes = arg('sizes', '50,200,1000').split(',').map(Number);
const loss = Number(arg('loss', '0.05'));
const windowS = Number(arg('window', '120'));
const kills = Number(arg('kills', '3'));

interface Row {
  n: number;
  joinS: number | null;
  newMemberS: number | null;
  detectFirstS: number;
  detectAllS: number;
  boundS: number;
  falseDead: number;
  suspicions: number;
  bytesPerNodeS: number;
  wallS: number;
}

function runSize(n: number): Row {
  const wall0 = performance.now();
  // One extra member joins later, through a random existing one.
  const sim = new SimCluster({ n: n + 1, loss, seed: n });
  const newcomer = n;
  const down = new Set<number>([newcomer]);
  const live = (i: number): boolean => !down.has(i);
  let falseDead = 0;
  let suspicions = 0;
  const killedIds = new Set<string>();
  sim.nodes.forEach((node) =>
    node.on('member', (e) => {
      if (e.type === 'suspect') suspicions++;
      if (e.type === 'dead' && !killedIds.has(e.id)) falseDead++;
    }),
  );
  for (let i = 0; i < n; i++) sim.nodes[i].start(i === 0 ? [] : [sim.addrs[0]]);
  const joinMs = sim.runUntil(() => sim.converged(live), 300_000, 500);

  // Steady state: bytes and false positives over the window.
  const tx0 = sim.nodes.reduce((s, x) => s + x.counters.txBytes, 0);
  sim.clock.advance(windowS * 1000);
  const bytesPerNodeS = (sim.nodes.reduce((s, x) => s + x.counters.txBytes, 0) - tx0) / n / windowS;

  down.delete(newcomer);
  sim.nodes[newcomer].start([sim.addrs[Math.floor(sim.random() * n)]]);
  const newMemberMs = sim.runUntil(() => sim.lagging(newcomer, 'alive', live) === 0, 120_000, 100);

  const first: number[] = [];
  const all: number[] = [];
  for (let k = 0; k < kills; k++) {
    const victim = 1 + k * Math.floor((n - 1) / Math.max(1, kills));
    killedIds.add(keyId(sim.keys[victim]));
    sim.kill(victim);
    down.add(victim);
    const t0 = sim.clock.now();
    let firstAt: number | null = null;
    sim.runUntil(() => {
      const lag = sim.lagging(victim, 'dead', live);
      if (firstAt === null && lag < n - down.size + 1) firstAt = sim.clock.now() - t0;
      return lag === 0;
    }, 300_000, 100);
    first.push(firstAt ?? NaN);
    all.push(sim.clock.now() - t0);
    sim.clock.advance(5000);
  }
  const maxSusp = C.suspicionMaxTimeoutMult * suspicionTimeout(C.suspicionMult, n, C.probeIntervalMs);
  for (const node of sim.nodes) node.stop();
  return {
    n,
    joinS: joinMs === null ? null : joinMs / 1000,
    newMemberS: newMemberMs === null ? null : newMemberMs / 1000,
    detectFirstS: median(first) / 1000,
    detectAllS: median(all) / 1000,
    boundS: (maxSusp + 10 * C.probeIntervalMs) / 1000,
    falseDead,
    suspicions,
    bytesPerNodeS,
    wallS: (performance.now() - wall0) / 1000,
  };
}

const rows: Row[] = [];
for (const n of sizes) {
  const r = runSize(n);
  rows.push(r);
  process.stderr.write(`# n=${n} done in ${fmt(r.wallS)} s\n`);
}
const minS = (n: number): number => suspicionTimeout(C.suspicionMult, n, C.probeIntervalMs) / 1000;
console.log(`SWIM simulation, loss ${loss * 100} %, steady window ${windowS} s, ${kills} crash(es) per size, LAN defaults`);
console.log(
  markdownTable(
    ['members', 'cluster join (s)', 'new member known by all (s)', 'detect: first (s)', 'detect: all (s)', 'memberlist suspicion min..max (s)', 'bound (s)', 'false dead', 'suspicions (events)', 'gossip B/member/s', 'wall (s)'],
    rows.map((r) => [
      String(r.n),
      fmt(r.joinS ?? NaN),
      fmt(r.newMemberS ?? NaN),
      fmt(r.detectFirstS),
      fmt(r.detectAllS),
      `${fmt(minS(r.n))}..${fmt(C.suspicionMaxTimeoutMult * minS(r.n))}`,
      fmt(r.boundS),
      String(r.falseDead),
      String(r.suspicions),
      fmt(r.bytesPerNodeS),
      fmt(r.wallS),
    ]),
  ).join('\n'),
);
