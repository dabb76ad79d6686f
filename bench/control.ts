// Coordinator benchmark: simulated agents (real HTTP registrations and WebSocket map
// streams, no TUN, spread over `--clients` processes: control-worker.ts) against one
// coordinator process on 127.0.0.1. Per node count:
// registrations per second, the time to connect every stream, then a load phase of
// `--rate` changes a second (endpoint changes, joins, leaves, a policy edit every 10 s;
// control-load.ts) with the time from each change to every affected peer (p50/p99 over
// all deliveries), the coordinator's CPU and bytes per change, and its RSS. The policy
// splits the nodes into teams of TEAM that see only each other, so the affected peers of
// a change stay constant as the node count grows: CPU and bytes per change should too.
// Last, the time and size of a Prometheus scrape with every node connected.
// There is no reference implementation to interleave with here; numbers are absolute.
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AdminClient } from '../src/control/admin-client.js';
import { http } from '../test/helpers/control.js';
import { exited, startServerProcess } from '../test/helpers/server-process.js';
import { cpuSeconds, quantile } from './common.js';
import { TEAM, teamPolicy, type LoadResult } from './control-load.js';
import type { FromWorker, ToWorker, WorkerSetup } from './control-worker.js';
import { measureScrapes } from './sim.js';

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '100,1000' },
    rate: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '20' },
    clients: { type: 'string', default: '3' },
    // A CPU profile of the coordinator per node count (node --cpu-prof), written to this folder.
    'cpu-prof': { type: 'string' },
  },
});
const SIZES = args.nodes.split(',').map(Number);
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const CLIENTS = Number(args.clients);
if (SIZES.some((n) => !Number.isInteger(n) || n < 2 || n > 20_000) || !(RATE > 0 && RATE <= 1000) || !(SECONDS > 0 && SECONDS <= 120) || !(Number.isInteger(CLIENTS) && CLIENTS >= 1 && CLIENTS <= 16)) {
  throw new Error('--nodes: integers 2..20000; --rate: 1..1000; --seconds: 1..120; --clients: 1..16');
}
/** How long registering and streaming one size may take in all (bounded like every load loop). */
const JOIN_TIMEOUT_MS = 30 * 60_000;

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
  missingKinds: Record<string, number>;
  policyErrors: number;
  clientLagP99: number;
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
  const server = await startServerProcess(['--state-dir', dir, '--register-rate', '0', '--metrics-listen', '127.0.0.1:0'], args['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', args['cpu-prof'], '--cpu-prof-name', `coordinator-${size}.cpuprofile`] : []);
  const pid = server.proc.pid!;
  try {
    const admin = new AdminClient({ socketPath: joinPath(dir, 'admin.sock') });
    const teams = Math.ceil(size / TEAM);
    await admin.request('PUT', '/api/v1/admin/policy', { policy: teamPolicy(teams, 0) });
    const teamKeys: string[] = [];
    for (let t = 0; t < teams; t++) teamKeys.push((await admin.request<{ key: string }>('POST', '/api/v1/admin/authkeys', { reusable: true, tags: [`tag:team${t}`] })).key);
    const serverKey = (await http(`${server.url}/api/v1/key`, 'GET')).json.publicKey as string;
    const clients = Math.min(CLIENTS, teams);
    const workers = Array.from({ length: clients }, () => new Worker());
    try {
      const t0 = performance.now();
      await Promise.all(workers.map((w, k) => {
        const own = Array.from({ length: teams }, (_, t) => t).filter((t) => t % clients === k);
        const memberTeams = Array.from({ length: size }, (_, i) => i % teams).filter((t) => t % clients === k);
        const setup: WorkerSetup = { serverUrl: server.url, serverKey, adminSocket: own.includes(0) ? joinPath(dir, 'admin.sock') : null, teamKeys, teams, own, memberTeams };
        return w.ask({ type: 'setup', setup }, 'joined', JOIN_TIMEOUT_MS);
      }));
      const regPerSec = size / ((performance.now() - t0) / 1000);
      // Let the online flips of the connect phase drain before measuring.
      await new Promise((r) => setTimeout(r, 1000));
      const rssIdle = rssMiB(pid);
      let rssPeak = rssIdle;
      const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMiB(pid))), 500);
      const cpu0 = cpuSeconds(pid);
      const startAt = Date.now() + 200;
      const results = await Promise.all(workers.map((w) => w.ask({ type: 'load', rate: RATE / clients, seconds: SECONDS, startAt }, 'result', SECONDS * 2000 + 60_000)));
      const load = merge(results.map((r) => (r as Extract<FromWorker, { type: 'result' }>).result));
      const cpu = cpuSeconds(pid) - cpu0;
      clearInterval(sampler);
      const s = await measureScrapes(`${server.metrics}/metrics`);
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
        missingKinds: load.missingKinds,
        clientLagP99: load.clientLagP99,
        policyErrors: load.policyErrors,
        cpuMsPerChange: (cpu * 1000) / load.changes,
        bytesPerChange: load.bytes / load.changes,
        rssIdle,
        rssPeak,
        scrapeP50: s.p50,
        scrapeBytes: s.bytes,
      };
    } finally {
      await Promise.all(workers.map((w) => w.close()));
    }
  } finally {
    server.proc.kill('SIGTERM');
    await exited(server.proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One forked client process (control-worker.ts) and its replies. */
class Worker {
  private readonly proc: ChildProcess = fork(fileURLToPath(new URL('./control-worker.js', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });

  /** Sends `m` and resolves with the reply of `type` (progress is printed; a failure or an exit rejects). */
  ask(m: ToWorker, type: FromWorker['type'], timeoutMs: number): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      const done = (err: Error | null, r?: FromWorker): void => {
        clearTimeout(timer);
        this.proc.off('message', onMessage).off('exit', onExit);
        if (err) reject(err);
        else resolve(r!);
      };
      const onMessage = (r: FromWorker): void => {
        if (r.type === type) done(null, r);
        else if (r.type === 'failed') done(new Error(`client process: ${r.error}`));
        else if (r.type === 'progress') console.error(`client ${this.proc.pid}: ${r.count} registered and streaming`);
      };
      const onExit = (code: number | null): void => done(new Error(`client process exited (${code}) before '${type}'`));
      const timer = setTimeout(() => done(new Error(`client process: no '${type}' within ${timeoutMs} ms`)), timeoutMs);
      this.proc.on('message', onMessage).once('exit', onExit);
      this.proc.send(m);
    });
  }

  async close(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    this.proc.send({ type: 'close' } satisfies ToWorker);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await exited(this.proc);
    clearTimeout(t);
  }
}

function merge(rs: LoadResult[]): LoadResult {
  return {
    changes: rs.reduce((a, r) => a + r.changes, 0),
    latencies: rs.flatMap((r) => r.latencies),
    missing: rs.reduce((a, r) => a + r.missing, 0),
    missingKinds: rs.reduce<Record<string, number>>((a, r) => {
      for (const [k, n] of Object.entries(r.missingKinds)) a[k] = (a[k] ?? 0) + n;
      return a;
    }, {}),
    bytes: rs.reduce((a, r) => a + r.bytes, 0),
    policyErrors: rs.reduce((a, r) => a + r.policyErrors, 0),
    clientLagP99: rs.reduce((a, r) => Math.max(a, r.clientLagP99), 0),
  };
}

const rows: Row[] = [];
for (const size of SIZES) {
  rows.push(await run(size));
  console.error(`${size} nodes done: ${JSON.stringify(rows.at(-1))}`);
}

console.log(`\nWeft coordinator bench (SQLite, one process on 127.0.0.1; agents simulated in ${CLIENTS} client processes)`);
console.log(`Load: ${RATE} changes/s for ${SECONDS} s (endpoints 80%, joins 10%, leaves 10%, a policy edit every 10 s); teams of ${TEAM} see only each other.`);
console.log('No reference implementation is run alongside: these are absolute numbers, not ratios.\n');
const header = ['nodes', 'registrations/s', 'changes', 'change->peer p50', 'p99', 'max', 'deliveries', 'missing', 'policy edits failed', 'client lag p99', 'coord CPU/change', 'bytes/change', 'RSS idle', 'peak', `/metrics p50`, 'size'];
const body = rows.map((r) => [String(r.nodes), r.regPerSec.toFixed(0), String(r.changes), `${r.p50.toFixed(1)} ms`, `${r.p99.toFixed(1)} ms`, `${r.max.toFixed(1)} ms`, String(r.deliveries), String(r.missing), String(r.policyErrors), `${r.clientLagP99.toFixed(0)} ms`, `${r.cpuMsPerChange.toFixed(2)} ms`, r.bytesPerChange.toFixed(0), `${r.rssIdle.toFixed(0)} MiB`, `${r.rssPeak.toFixed(0)} MiB`, `${r.scrapeP50.toFixed(2)} ms`, `${(r.scrapeBytes / 1024).toFixed(1)} KiB`]);
const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
for (const line of [header, widths.map((w) => '-'.repeat(w)), ...body]) console.log(line.map((c, i) => c.padStart(widths[i])).join('  '));
