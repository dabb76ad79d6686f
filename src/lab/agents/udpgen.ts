// Usage: node udpgen.js send HOST PORT PAYLOAD_BYTES MAX_MS RUN [MAX_PACKETS] [RATE_PPS]
//        node udpgen.js recv PORT RUN MAX_MS [nogro]
// The data-plane bench's UDP load generator (see src/lab/udpgen.ts for why).
// send: datagrams of PAYLOAD_BYTES tagged with RUN to HOST:PORT (IPv4), as fast as the
//   kernel takes them (or RATE_PPS), in sendmmsg batches of 1,024 with UDP GSO (up to 64
//   datagrams per message), bounded by MAX_MS and MAX_PACKETS (default 100 million);
//   prints one GenSendReport line.
// recv: prints {"ready":true,"port":N} once bound (PORT 0: any free port), counts RUN's
//   datagrams (recvmmsg, UDP_GRO unless `nogro`) until its stdin closes or MAX_MS
//   passes, then prints one GenRecvReport line.
import { PacketBatch } from '../../io/batch.js';
import { LinuxBind } from '../../io/bind-linux.js';
import { Endpoint } from '../../io/endpoint.js';
import { GenCounter, GEN_MAX_PAYLOAD, GEN_TAG_BYTES, writeGenTag, type GenRecvReport, type GenSendReport } from '../udpgen.js';

const BATCH = 1024;
const SLOT = 2048;
/** Hard bounds on what the command line may ask for. */
const MAX_MS_CAP = 120_000;
const MAX_PACKETS_CAP = 1e9;

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const yieldLoop = (): Promise<void> => new Promise((r) => setImmediate(r));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function bounded(s: string | undefined, name: string, lo: number, hi: number): number {
  const v = Number(s);
  if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`${name} must be an integer in ${lo}..${hi}, got ${s}`);
  return v;
}

async function send(argv: string[]): Promise<GenSendReport> {
  const [host, portS, sizeS, maxMsS, runS, maxS, rateS] = argv;
  const to = Endpoint.of(host, bounded(portS, 'PORT', 1, 65535));
  const size = bounded(sizeS, 'PAYLOAD_BYTES', GEN_TAG_BYTES, GEN_MAX_PAYLOAD);
  const maxMs = bounded(maxMsS, 'MAX_MS', 1, MAX_MS_CAP);
  const run = bounded(runS, 'RUN', 0, 0xffffffff);
  const maxPackets = maxS === undefined ? 1e8 : bounded(maxS, 'MAX_PACKETS', 1, MAX_PACKETS_CAP);
  const rate = rateS === undefined ? 0 : bounded(rateS, 'RATE_PPS', 0, 1e9);

  const batch = new PacketBatch(BATCH, SLOT);
  const payload = Buffer.alloc(size, 0x5a);
  writeGenTag(payload, run);
  for (let i = 0; i < BATCH; i++) batch.push(payload);
  const bind = new LinuxBind({ family: 4, batchSize: 1, gro: false });
  await bind.open(0, { onReceive() {} });

  let sent = 0;
  let calls = 0;
  let short = 0;
  // Paced: at least a millisecond's worth per call, so pacing costs ~1,000 calls/s.
  const chunk = Math.max(1, Math.min(BATCH, Math.floor(rate / 1000)));
  const t0 = nowMs();
  let t = t0;
  try {
    while (sent < maxPackets && t - t0 < maxMs) {
      let want = Math.min(BATCH, maxPackets - sent);
      if (rate > 0) {
        const due = Math.floor((rate * (t - t0)) / 1000) - sent;
        if (due < chunk) {
          await sleep(1);
          t = nowMs();
          continue;
        }
        want = Math.min(want, due);
      }
      batch.count = want;
      const n = bind.send(batch, to);
      calls++;
      sent += n;
      // A full queue (EAGAIN/ENOBUFS) or an error: let the loop (and the kernel) breathe.
      if (n < want) {
        short++;
        await yieldLoop();
      } else if ((calls & 15) === 0) await yieldLoop(); // signals and timers still run
      t = nowMs();
    }
  } finally {
    await bind.close();
  }
  const err = bind.lastSendError as (Error & { code?: string }) | undefined;
  return { kind: 'send', sent, bytes: sent * size, ms: t - t0, calls, short, gso: bind.gso, ...(err ? { error: err.code ?? err.message } : {}) };
}

async function recv(argv: string[]): Promise<GenRecvReport> {
  const [portS, runS, maxMsS, groS] = argv;
  const port = bounded(portS, 'PORT', 0, 65535); // 0: any free port, reported in the ready line
  const run = bounded(runS, 'RUN', 0, 0xffffffff);
  const maxMs = bounded(maxMsS, 'MAX_MS', 1, MAX_MS_CAP);
  const counter = new GenCounter(run);
  const bind = new LinuxBind({ family: 4, batchSize: 256, gro: groS !== 'nogro', groMessages: 64, maxBatchesPerTick: 16 });
  let abs = new Uint32Array(256);
  await bind.open(port, {
    onReceive(b) {
      if (abs.length < b.count) abs = new Uint32Array(b.capacity);
      for (let i = 0; i < b.count; i++) abs[i] = i * b.slotSize + b.offsets[i];
      counter.add(b.data, abs, b.lengths, b.count, nowMs());
    },
  });
  process.stdout.write(JSON.stringify({ ready: true, port: bind.port }) + '\n');
  const timedOut = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(true), maxMs);
    const stop = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    process.stdin.on('end', stop);
    process.stdin.on('close', stop);
    process.stdin.resume();
  });
  await bind.close();
  const windowMs = counter.datagrams > 0 ? counter.lastMs - counter.firstMs : 0;
  return { kind: 'recv', datagrams: counter.datagrams, bytes: counter.bytes, foreign: counter.foreign, windowMs, gro: bind.gro, groDrops: bind.groDrops, timedOut };
}

const [mode, ...rest] = process.argv.slice(2);
(mode === 'send' ? send(rest) : mode === 'recv' ? recv(rest) : Promise.reject(new Error(`unknown mode ${mode}: send or recv`))).then(
  (report) => {
    process.stdout.write(JSON.stringify(report) + '\n');
    process.exit(0);
  },
  (err: Error) => {
    process.stderr.write(`udpgen: ${err.message}\n`);
    process.exit(2);
  },
);
