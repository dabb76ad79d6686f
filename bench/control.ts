// Coordinator benchmark: simulated agents (real HTTP registrations and WebSocket map
// streams, no TUN) against one coordinator process on 127.0.0.1. Measures registrations
// per second, the time from one node's endpoint change to its arrival at every peer
// (p50/p99 over all peer deliveries), the coordinator's RSS, and the time and size of a
// Prometheus scrape of its --metrics-listen address with every node connected.
// There is no reference implementation to interleave with here; numbers are absolute.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerMessage } from '../src/wire/control.js';
import type { MapClient } from '../test/helpers/control.js';
import { exited, startServerProcess } from '../test/helpers/server-process.js';
import { measureScrapes, pct, pool, register, SCRAPES, simNodes } from './sim.js';

const SIZES = [100, 1000];
const CHANGES = 20;
const CONCURRENCY = 50;
const DEADLINE_MS = 240_000;

const rssMiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

interface Row {
  nodes: number;
  regPerSec: number;
  connectSec: number;
  p50: number;
  p99: number;
  max: number;
  deliveries: number;
  rssIdle: number;
  rssPeak: number;
  scrapeP50: number;
  scrapeMax: number;
  scrapeBytes: number;
}

async function run(size: number, started: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-'));
  // The bench registers every node from 127.0.0.1 as fast as it can: no per-source limit.
  const server = await startServerProcess(['--state-dir', dir, '--register-rate', '0', '--metrics-listen', '127.0.0.1:0']);
  try {
    const { key, nodes } = await simNodes(server.url, dir, size);

    let t0 = performance.now();
    await pool(nodes, CONCURRENCY, (n) => register(n, key));
    const regPerSec = size / ((performance.now() - t0) / 1000);

    t0 = performance.now();
    // maps[i] is nodes[i]'s stream (streams finish connecting in any order).
    const maps: MapClient[] = new Array(size);
    await pool(nodes.map((n, i) => ({ n, i })), CONCURRENCY, async ({ n, i }) => {
      const m = await n.openMap();
      await m.waitFor((x) => x.type === 'full', 60_000);
      maps[i] = m;
    });
    const connectSec = (performance.now() - t0) / 1000;
    // Let the online flips of the connect phase drain before measuring.
    await new Promise((r) => setTimeout(r, 500));
    const rssIdle = rssMiB(server.proc.pid!);

    const latencies: number[] = [];
    let rssPeak = rssIdle;
    for (let c = 0; c < CHANGES && performance.now() - started < DEADLINE_MS; c++) {
      const mover = maps[c % maps.length];
      const moverKey = nodes[c % nodes.length].publicKey;
      const endpoint = `198.51.100.${(c % 250) + 1}:${10000 + c}`;
      const peers = maps.filter((m) => m !== mover);
      let pending = peers.length;
      const sent = performance.now();
      const done = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`change ${c}: ${pending} peers never saw it`)), 30_000);
        for (const m of peers) {
          m.onMessage = (msg: ServerMessage) => {
            if (msg.type === 'delta' && msg.upserts.some((u) => u.publicKey === moverKey && u.endpoints[0] === endpoint)) {
              latencies.push(performance.now() - sent);
              m.onMessage = null;
              if (--pending === 0) {
                clearTimeout(timer);
                resolve();
              }
            }
          };
        }
      });
      mover.send({ type: 'endpoints', endpoints: [endpoint] });
      await done;
      rssPeak = Math.max(rssPeak, rssMiB(server.proc.pid!));
      for (const m of maps) m.messages.length = 0;
    }
    latencies.sort((a, b) => a - b);
    const scrape = await measureScrapes(`${server.metrics}/metrics`);
    await Promise.all(maps.map((m) => m.close()));
    return { nodes: size, regPerSec, connectSec, p50: pct(latencies, 50), p99: pct(latencies, 99), max: latencies.at(-1)!, deliveries: latencies.length, rssIdle, rssPeak, scrapeP50: scrape.p50, scrapeMax: scrape.max, scrapeBytes: scrape.bytes };
  } finally {
    server.proc.kill('SIGTERM');
    await exited(server.proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

const started = performance.now();
const rows: Row[] = [];
for (const size of SIZES) rows.push(await run(size, started));

console.log('\nWeft coordinator bench (SQLite, one process on 127.0.0.1; agents simulated in one client process)');
console.log('No reference implementation is run alongside: these are absolute numbers, not ratios.\n');
const header = ['nodes', 'registrations/s', 'connect all streams', 'change->all peers p50', 'p99', 'max', 'deliveries', 'coord RSS idle', 'peak', `/metrics p50 (${SCRAPES})`, 'max', 'size'];
const body = rows.map((r) => [String(r.nodes), r.regPerSec.toFixed(0), `${r.connectSec.toFixed(2)} s`, `${r.p50.toFixed(1)} ms`, `${r.p99.toFixed(1)} ms`, `${r.max.toFixed(1)} ms`, String(r.deliveries), `${r.rssIdle.toFixed(0)} MiB`, `${r.rssPeak.toFixed(0)} MiB`, `${r.scrapeP50.toFixed(2)} ms`, `${r.scrapeMax.toFixed(2)} ms`, `${(r.scrapeBytes / 1024).toFixed(1)} KiB`]);
const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
for (const line of [header, widths.map((w) => '-'.repeat(w)), ...body]) console.log(line.map((c, i) => c.padStart(widths[i])).join('  '));
