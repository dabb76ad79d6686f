// Onion circuits in process on 127.0.0.1 (issue 21): build time, stream latency and
// throughput for 1, 2 and 3 hops, against a reference in the same run — the same
// operation over a direct TCP connection (connect; 64-byte echo; download). Every relay,
// the client and the servers share this one process and thread, so a circuit's figures
// include all hops' crypto on one core: a worst case for CPU, a best case for network.
// Rounds interleave direct, 1, 2 and 3 hops; medians of the rounds are printed with the
// ratio to direct. Every loop is bounded by a count.
import { createServer, connect as tcpConnect, type Server, type Socket, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { parseArgs } from 'node:util';
import { startLoopbackOnion } from '../src/lab/onion.js';
import { fmt, markdownTable, median, runBench } from './common.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    builds: { type: 'string', default: '20' },
    pings: { type: 'string', default: '200' },
    mbytes: { type: 'string', default: '16' },
  },
});
const ROUNDS = Number(args.rounds);
const BUILDS = Number(args.builds);
const PINGS = Number(args.pings);
const BYTES = Number(args.mbytes) * 1024 * 1024;

async function listen(handler: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

/** ms per 64-byte round trip, median over PINGS. */
async function pingPong(s: Duplex): Promise<number> {
  const msg = Buffer.alloc(64, 7);
  const rtts: number[] = [];
  for (let i = 0; i < PINGS; i++) {
    const t0 = process.hrtime.bigint();
    s.write(msg);
    let got = 0;
    while (got < msg.length) {
      const [chunk] = (await once(s, 'data')) as [Buffer];
      got += chunk.length;
    }
    rtts.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(rtts);
}

/** MB/s of a BYTES download that ends with the stream. */
async function download(s: Duplex): Promise<number> {
  const t0 = process.hrtime.bigint();
  let got = 0;
  for await (const chunk of s) got += (chunk as Buffer).length;
  if (got !== BYTES) throw new Error(`download got ${got} of ${BYTES} bytes`);
  return BYTES / 1024 / 1024 / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function directConnect(port: number): Promise<Socket> {
  const s = tcpConnect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  s.setNoDelay(true);
  return s;
}

interface Sample {
  buildMs: number;
  rttMs: number;
  mbps: number;
}

async function main(): Promise<number> {
  const echo = await listen((s) => s.pipe(s));
  const blob = Buffer.alloc(BYTES, 0x5a);
  const source = await listen((s) => s.end(blob));
  const net = await startLoopbackOnion({ relays: 3, exitPolicy: { allow: ['127.0.0.0/8'], block: [], ports: [] } });
  const samples = new Map<string, Sample[]>();
  try {
    const variants = ['direct', '1', '2', '3'];
    for (let round = 0; round < ROUNDS; round++) {
      for (const v of variants) {
        let sample: Sample;
        if (v === 'direct') {
          const builds: number[] = [];
          for (let i = 0; i < BUILDS; i++) {
            const t0 = process.hrtime.bigint();
            const s = await directConnect(echo.port);
            builds.push(Number(process.hrtime.bigint() - t0) / 1e6);
            s.destroy();
          }
          const e = await directConnect(echo.port);
          const rttMs = await pingPong(e);
          e.destroy();
          const mbps = await download(await directConnect(source.port));
          sample = { buildMs: median(builds), rttMs, mbps };
        } else {
          const path = net.relays.slice(3 - Number(v)).map((r) => r.hop);
          const builds: number[] = [];
          for (let i = 0; i < BUILDS; i++) {
            const t0 = process.hrtime.bigint();
            const c = await net.client.buildCircuit(path);
            builds.push(Number(process.hrtime.bigint() - t0) / 1e6);
            c.destroy();
          }
          const c = await net.client.buildCircuit(path);
          const e = await c.openStream('127.0.0.1', echo.port);
          const rttMs = await pingPong(e);
          e.destroy();
          const mbps = await download(await c.openStream('127.0.0.1', source.port));
          c.destroy();
          sample = { buildMs: median(builds), rttMs, mbps };
        }
        samples.set(v, [...(samples.get(v) ?? []), sample]);
        process.stderr.write(`# round ${round + 1} ${v}: build ${fmt(sample.buildMs)} ms, rtt ${fmt(sample.rttMs)} ms, ${fmt(sample.mbps)} MB/s\n`);
      }
    }
  } finally {
    echo.server.close();
    source.server.close();
    await net.close();
  }
  const m = (v: string, k: keyof Sample): number => median(samples.get(v)!.map((s) => s[k]));
  console.log(`Onion circuits on 127.0.0.1, one process; ${ROUNDS} rounds, ${BUILDS} builds and ${PINGS} pings per round, ${args.mbytes} MiB download`);
  console.log(
    markdownTable(
      ['path', 'build (ms)', 'build ÷ direct', 'RTT 64 B (ms)', 'RTT ÷ direct', 'download (MiB/s)', 'direct ÷ circuit'],
      ['direct', '1', '2', '3'].map((v) => [
        v === 'direct' ? 'direct TCP (reference)' : `${v} hop${v === '1' ? '' : 's'}`,
        fmt(m(v, 'buildMs')),
        fmt(m(v, 'buildMs') / m('direct', 'buildMs')),
        fmt(m(v, 'rttMs')),
        fmt(m(v, 'rttMs') / m('direct', 'rttMs')),
        fmt(m(v, 'mbps')),
        fmt(m('direct', 'mbps') / m(v, 'mbps')),
      ]),
    ).join('\n'),
  );
  return 0;
}

runBench('bench:circuit', main);
