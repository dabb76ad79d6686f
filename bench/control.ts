// Coordinator benchmark: simulated agents (real HTTP registrations and WebSocket map
// streams, no TUN) against one coordinator process on 127.0.0.1. Per node count:
// registrations per second, the time to connect every stream, then a load phase of
// `--rate` changes a second (endpoint changes, joins, leaves, a policy edit every 10 s;
// control-load.ts) with the time from each change to every affected peer (p50/p99 over
// all deliveries), the coordinator's CPU and bytes per change, and its RSS. The policy
// splits the nodes into teams of TEAM that see only each other, so the affected peers of
// a change stay constant as the node count grows: CPU and bytes per change should too.
// Last, the time and size of a Prometheus scrape with every node connected.
// There is no reference implementation to interleave with here; numbers are absolute.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { parseArgs } from 'node:util';
import { AdminClient } from '../src/control/admin-client.js';
import { http } from '../test/helpers/control.js';
import { exited, startServerProcess } from '../test/helpers/server-process.js';
import { cpuSeconds, quantile } from './common.js';
import { join, runLoad, TEAM, teamPolicy, type Member } from './control-load.js';
import { measureScrapes, pool } from './sim.js';

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '100,1000' },
    rate: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '20' },
  },
});
const SIZES = args.nodes.split(',').map(Number);
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
if (SIZES.some((n) => !Number.isInteger(n) || n < 2 || n > 20_000) || !(RATE > 0 && RATE <= 1000) || !(SECONDS > 0 && SECONDS <= 120)) {
  throw new Error('--nodes: integers 2..20000; --rate: 1..1000; --seconds: 1..120');
}
const CONCURRENCY = 50;

const rssMiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;


interface Row {
  nodes: number;
  regPerSec: number;
  changes: number;
  p50: number;
  p99: number;
  max: number;
  deliveries: number;
  missing: number;
  policyErrors: number;
  cpuMsPerChange: number;
  bytesPerChange: number;
  rssIdle: number;
  rssPeak: number;
  scrapeP50: number;
  scrapeBytes: number;
}


async function run(size: number): Promise<Row> {
  const dir = mkdtempSync(joinPath(tmpdir(), 'weft-bench-'));
  // The bench registers every node from 127.0.0.1 as fast as it can: no per-source limit.
  const server = await startServerProcess(['--state-dir', dir, '--register-rate', '0', '--metrics-listen', '127.0.0.1:0']);
  const pid = server.proc.pid!;
  try {
    const admin = new AdminClient({ socketPath: joinPath(dir, 'admin.sock') });
    const teams = Math.ceil(size / TEAM);
    await admin.request('PUT', '/api/v1/admin/policy', { policy: teamPolicy(teams, 0) });
    const teamKeys: string[] = [];
    for (let t = 0; t < teams; t++) teamKeys.push((await admin.request<{ key: string }>('POST', '/api/v1/admin/authkeys', { reusable: true, tags: [`tag:team${t}`] })).key);
    const serverKey = (await http(`${server.url}/api/v1/key`, 'GET')).json.publicKey as string;
    const ctx = { serverUrl: server.url, serverKey, admin, teamKeys, teams };

    const t0 = performance.now();
    const members: Member[] = new Array(size);
    await pool(Array.from({ length: size }, (_, i) => i), CONCURRENCY, async (i) => {
      members[i] = await join(ctx, i % teams);
      if ((i + 1) % 1000 === 0) console.error(`${i + 1} registered and streaming`);
    });
    const regPerSec = size / ((performance.now() - t0) / 1000);
    // Let the online flips of the connect phase drain before measuring.
    await new Promise((r) => setTimeout(r, 1000));
    const rssIdle = rssMiB(pid);
    let rssPeak = rssIdle;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMiB(pid))), 500);
    const cpu0 = cpuSeconds(pid);
    const load = await runLoad(ctx, members, RATE, SECONDS);
    const cpu = cpuSeconds(pid) - cpu0;
    clearInterval(sampler);
    const s = await measureScrapes(`${server.metrics}/metrics`);
    await Promise.all(members.map((m) => m.map.close()));
    const lat = load.latencies;
    return {
      nodes: size,
      regPerSec,
      changes: load.changes,
      p50: quantile(lat, 0.5),
      p99: quantile(lat, 0.99),
      max: lat.reduce((a, b) => Math.max(a, b), 0),
      deliveries: lat.length,
      missing: load.missing,
      policyErrors: load.policyErrors,
      cpuMsPerChange: (cpu * 1000) / load.changes,
      bytesPerChange: load.bytes / load.changes,
      rssIdle,
      rssPeak,
      scrapeP50: s.p50,
      scrapeBytes: s.bytes,
    };
  } finally {
    server.proc.kill('SIGTERM');
    await exited(server.proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows: Row[] = [];
for (const size of SIZES) {
  rows.push(await run(size));
  console.error(`${size} nodes done: ${JSON.stringify(rows.at(-1))}`);
}

console.log(`\nWeft coordinator bench (SQLite, one process on 127.0.0.1; agents simulated in one client process)`);
console.log(`Load: ${RATE} changes/s for ${SECONDS} s (endpoints 80%, joins 10%, leaves 10%, a policy edit every 10 s); teams of ${TEAM} see only each other.`);
console.log('No reference implementation is run alongside: these are absolute numbers, not ratios.\n');
const header = ['nodes', 'registrations/s', 'changes', 'change->peer p50', 'p99', 'max', 'deliveries', 'missing', 'policy edits failed', 'coord CPU/change', 'bytes/change', 'RSS idle', 'peak', `/metrics p50`, 'size'];
const body = rows.map((r) => [String(r.nodes), r.regPerSec.toFixed(0), String(r.changes), `${r.p50.toFixed(1)} ms`, `${r.p99.toFixed(1)} ms`, `${r.max.toFixed(1)} ms`, String(r.deliveries), String(r.missing), String(r.policyErrors), `${r.cpuMsPerChange.toFixed(2)} ms`, r.bytesPerChange.toFixed(0), `${r.rssIdle.toFixed(0)} MiB`, `${r.rssPeak.toFixed(0)} MiB`, `${r.scrapeP50.toFixed(2)} ms`, `${(r.scrapeBytes / 1024).toFixed(1)} KiB`]);
const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
for (const line of [header, widths.map((w) => '-'.repeat(w)), ...body]) console.log(line.map((c, i) => c.padStart(widths[i])).join('  '));
