// Relay throughput and capacity on 127.0.0.1: one relay in its own process (forked from
// this script with --serve), clients in this process.
//  1. Throughput: P sender→receiver pairs push fixed-size packets through the relay for
//     a bounded time, keeping each sender's socket buffer under a bound (so we measure
//     the relay, not an ever-growing queue). Reported: payload Mbit/s and kpps received,
//     relay CPU seconds per GB, drops. Median of interleaved rounds.
//  2. Capacity: N idle authenticated clients; the relay's RSS and heap growth per client,
//     then one packet per client around a ring to check they are all served.
// Every loop is bounded in time and count.
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generatePrivateKey, publicKeyFromPrivate, type PublicKey } from '../src/crypto/keys.js';
import { RelayServer, type RelayServerStats } from '../src/relay/server.js';
import { RelayClient } from '../src/relay/client.js';
import { CoordinatorAdmission } from '../src/relay/admission.js';
import { startStubCoordinator } from './relay-coordinator.js';

interface Probe {
  stats: RelayServerStats;
  rss: number;
  /** heap + external + array buffers: what the JS side holds, less noisy than RSS. */
  jsBytes: number;
  cpuUs: number;
  clients: number;
  /** With --admission: coordinator requests made and keys refused as busy. */
  admission?: { queries: number; refusedBusy: number };
}

const { values: args } = parseArgs({
  options: {
    serve: { type: 'boolean', default: false },
    pairs: { type: 'string', default: '1,4' },
    size: { type: 'string', default: '1280' },
    seconds: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    clients: { type: 'string', default: '2000' },
    /** Admission as `weft relay --coordinator` does it, against a stub coordinator in the relay's process that vouches for every key. */
    admission: { type: 'boolean', default: false },
    /** Writes a V8 CPU profile of the relay process into this folder (node --cpu-prof). */
    'cpu-prof': { type: 'string' },
  },
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const SENDER_QUEUE_BOUND = 256 * 1024;

async function serve(): Promise<void> {
  const coordinator = args.admission ? await startStubCoordinator() : undefined;
  const admission = coordinator ? new CoordinatorAdmission({ coordinator: coordinator.url, secret: coordinator.secret }) : undefined;
  const relay = new RelayServer({ maxQueueBytes: 4 << 20, ...(admission ? { authorize: admission.authorize } : {}) });
  admission?.start(relay);
  const port = await relay.listen('127.0.0.1', 0);
  process.on('message', (m: string) => {
    if (m === 'exit') {
      admission?.stop();
      return void Promise.all([relay.stop(), coordinator?.stop()]).then(() => process.exit(0));
    }
    (globalThis as { gc?: () => void }).gc?.();
    const mem = process.memoryUsage();
    const cpu = process.cpuUsage();
    const probe: Probe = { stats: { ...relay.stats }, rss: mem.rss, jsBytes: mem.heapUsed + mem.external + mem.arrayBuffers, cpuUs: cpu.user + cpu.system, clients: relay.clientCount, ...(admission ? { admission: { ...admission.stats } } : {}) };
    process.send!(probe);
  });
  process.send!({ port });
}

function ask(child: ChildProcess): Promise<Probe> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as Probe));
    child.send('probe');
  });
}

interface Node {
  client: RelayClient;
  pub: PublicKey;
  bytes: number;
  packets: number;
}

async function connectMany(url: string, n: number, batch = 200): Promise<Node[]> {
  const nodes: Node[] = [];
  for (let i = 0; i < n; i += batch) {
    const group = Array.from({ length: Math.min(batch, n - i) }, () => {
      const key = generatePrivateKey();
      const node: Node = { client: undefined as unknown as RelayClient, pub: publicKeyFromPrivate(key), bytes: 0, packets: 0 };
      node.client = new RelayClient({
        url,
        privateKey: key,
        pingIntervalMs: 600_000,
        onPacket: (_src, pkt) => {
          node.bytes += pkt.length;
          node.packets++;
        },
      });
      return node;
    });
    await Promise.all(group.map((g) => g.client.connect(AbortSignal.timeout(30_000))));
    nodes.push(...group);
  }
  return nodes;
}

async function throughput(child: ChildProcess, url: string, pairs: number, size: number, seconds: number) {
  const nodes = await connectMany(url, 2 * pairs);
  const payload = new Uint8Array(size).fill(0x5a);
  const before = await ask(child);
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: pairs }, async (_, p) => {
      const src = nodes[2 * p].client;
      const dst = nodes[2 * p + 1].pub;
      while (performance.now() < end) {
        for (let i = 0; i < 64 && src.queuedBytes < SENDER_QUEUE_BOUND; i++) src.send(dst, payload);
        await new Promise((r) => setImmediate(r));
      }
    }),
  );
  await sleep(300);
  const after = await ask(child);
  const received = nodes.reduce((a, n) => a + n.bytes, 0);
  const packets = nodes.reduce((a, n) => a + n.packets, 0);
  await Promise.all(nodes.map((n) => n.client.stop()));
  const relayCpuS = (after.cpuUs - before.cpuUs) / 1e6;
  return {
    // Packets still draining after the window count towards it: at most 300 ms worth.
    mbps: (received * 8) / seconds / 1e6,
    kpps: packets / seconds / 1e3,
    cpuSPerGB: relayCpuS / (received / 1e9),
    drops: after.stats.droppedQueueFull - before.stats.droppedQueueFull,
  };
}

async function capacity(child: ChildProcess, url: string, n: number) {
  await sleep(200);
  const base = await ask(child);
  const t0 = performance.now();
  const nodes = await connectMany(url, n);
  const connectS = (performance.now() - t0) / 1000;
  const loaded = await ask(child);
  // One packet per client around the ring: every connection is live and forwarding.
  nodes.forEach((node, i) => node.client.send(nodes[(i + 1) % n].pub, new Uint8Array(100)));
  const deadline = performance.now() + 10_000;
  while (nodes.some((x) => x.packets === 0) && performance.now() < deadline) await sleep(20);
  const served = nodes.filter((x) => x.packets > 0).length;
  await Promise.all(nodes.map((x) => x.client.stop()));
  return {
    clients: loaded.clients,
    served,
    connectPerS: n / connectS,
    rssPerClientKiB: (loaded.rss - base.rss) / n / 1024,
    jsPerClientKiB: (loaded.jsBytes - base.jsBytes) / n / 1024,
    rssMiB: loaded.rss / 2 ** 20,
    admission: loaded.admission && base.admission ? { queries: loaded.admission.queries - base.admission.queries, refusedBusy: loaded.admission.refusedBusy - base.admission.refusedBusy } : undefined,
  };
}

/** The soft limit on open files (Linux /proc; undefined elsewhere). Node cannot raise its own. */
function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  // Each client is one socket in this process and one in the relay's: say so up front rather than fail at EMFILE.
  const limit = openFileLimit();
  if (limit !== undefined && Number(args.clients) + 256 > limit) throw new Error(`--clients ${args.clients} needs \`ulimit -n\` of at least ${Number(args.clients) + 256} (now ${limit})`);
  const prof = args['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${args['cpu-prof']}`] : [];
  const child = fork(fileURLToPath(import.meta.url), ['--serve', ...(args.admission ? ['--admission'] : [])], { execArgv: ['--expose-gc', ...prof], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { port } = await new Promise<{ port: number }>((r) => child.once('message', (m) => r(m as { port: number })));
  const url = `ws://127.0.0.1:${port}/relay`;
  const size = Number(args.size);
  const seconds = Number(args.seconds);
  const rounds = Number(args.rounds);
  const pairList = args.pairs.split(',').map(Number);
  try {
    // Capacity first, on a fresh relay process, so RSS is not inflated by earlier buffers.
    const cap = await capacity(child, url, Number(args.clients));
    const perClient = Math.max(cap.rssPerClientKiB, cap.jsPerClientKiB);
    console.log(`capacity: ${cap.clients} concurrent clients held, ${cap.served} served a packet, ${cap.connectPerS.toFixed(0)} connects/s`);
    console.log(`relay memory per client: ${cap.rssPerClientKiB.toFixed(1)} KiB RSS, ${cap.jsPerClientKiB.toFixed(1)} KiB JS (heap+external); RSS ${cap.rssMiB.toFixed(0)} MiB total`);
    if (cap.admission) console.log(`admission: ${cap.admission.queries} coordinator requests for ${cap.clients} connects, ${cap.admission.refusedBusy} refused as busy (clients retried)`);
    console.log(`projection: ~${Math.floor((1024 * 1024) / perClient)} idle clients per GiB of relay memory\n`);

    console.log(`relay bench: ${size} B packets, ${seconds} s x ${rounds} interleaved rounds, node ${process.version}`);
    const results = new Map<number, Array<Awaited<ReturnType<typeof throughput>>>>();
    for (let r = 0; r < rounds; r++) {
      for (const p of pairList) {
        const res = await throughput(child, url, p, size, seconds);
        results.set(p, [...(results.get(p) ?? []), res]);
        console.log(`  round ${r + 1} pairs=${p}: ${res.mbps.toFixed(0)} Mbit/s, ${res.kpps.toFixed(1)} kpps, drops ${res.drops}`);
      }
    }
    // Relay CPU per GB gives the relay's own ceiling: on this 2-core box the clients share the CPUs.
    console.log('\n| pairs | Mbit/s (median) | kpps | relay CPU s/GB | relay-bound Mbit/s per core | drops |\n|--:|--:|--:|--:|--:|--:|');
    for (const [p, rs] of results) {
      const cpu = median(rs.map((x) => x.cpuSPerGB));
      console.log(`| ${p} | ${median(rs.map((x) => x.mbps)).toFixed(0)} | ${median(rs.map((x) => x.kpps)).toFixed(1)} | ${cpu.toFixed(2)} | ${(8000 / cpu).toFixed(0)} | ${median(rs.map((x) => x.drops))} |`);
    }
  } finally {
    child.send('exit');
    await new Promise((r) => child.once('exit', r));
  }
}

if (args.serve) await serve();
else await main();
