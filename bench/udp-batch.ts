// Micro-benchmark (not a test): loopback UDP packets/s through node:dgram versus
// LinuxBind (recvmmsg/sendmmsg). Sender and receiver share one process and one core, so
// the number is the combined per-packet send+receive cost. The sender keeps at most
// WINDOW datagrams in flight so socket buffers do not overflow. ~1.5 s per case.
//
//   npx tsc -p tsconfig.json && node dist/bench/udp-batch.js [seconds-per-case]
import dgram from 'node:dgram';
import { PacketBatch } from '../src/io/batch.js';
import { LinuxBind } from '../src/io/bind-linux.js';
import { Endpoint } from '../src/io/endpoint.js';

const SECONDS = Number(process.argv[2] ?? 1.5);
const WINDOW = Number(process.env.WINDOW ?? 1024);

interface Result {
  name: string;
  size: number;
  pps: number;
  lost: number;
}

async function benchDgram(size: number): Promise<Result> {
  const rx = dgram.createSocket('udp4');
  const tx = dgram.createSocket('udp4');
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
  const port = rx.address().port;
  const payload = Buffer.alloc(size, 0xab);
  let received = 0;
  let sent = 0;
  let running = true;
  rx.on('message', () => {
    received++;
  });
  const pump = () => {
    if (!running) return;
    const room = WINDOW - (sent - received);
    for (let i = 0; i < Math.min(room, 64); i++, sent++) tx.send(payload, port, '127.0.0.1');
    setImmediate(pump);
  };
  const t0 = process.hrtime.bigint();
  pump();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  running = false;
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  const got = received;
  await new Promise((r) => setTimeout(r, 100));
  rx.close();
  tx.close();
  return { name: 'dgram', size, pps: got / dt, lost: sent - received };
}

async function benchBind(size: number, batchSize: number): Promise<Result> {
  let received = 0;
  const rx = new LinuxBind({ batchSize });
  const tx = new LinuxBind();
  const port = await rx.open(0, {
    onReceive(batch) {
      received += batch.count;
    },
  });
  await tx.open(0, { onReceive() {} });
  const to = Endpoint.of('127.0.0.1', port);
  const batch = new PacketBatch(batchSize, 2048);
  for (let i = 0; i < batchSize; i++) batch.push(Buffer.alloc(size, 0xab), 16);
  let sent = 0;
  let running = true;
  const pump = () => {
    if (!running) return;
    const room = WINDOW - (sent - received);
    if (room >= batchSize) sent += tx.send(batch, to);
    setImmediate(pump);
  };
  const t0 = process.hrtime.bigint();
  pump();
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  running = false;
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  const got = received;
  await new Promise((r) => setTimeout(r, 100));
  await rx.close();
  await tx.close();
  return { name: `LinuxBind(batch ${batchSize})`, size, pps: got / dt, lost: sent - received };
}

const results: Result[] = [];
for (const size of [1420, 64]) {
  results.push(await benchDgram(size));
  results.push(await benchBind(size, 128));
}
console.log(`loopback UDP, ${SECONDS}s per case, window ${WINDOW}, one process (send+receive on one core)`);
for (const r of results) {
  console.log(`${r.name.padEnd(22)} ${String(r.size).padStart(5)} B  ${(r.pps / 1000).toFixed(1).padStart(8)} kpps  ${((r.pps * r.size * 8) / 1e9).toFixed(2)} Gb/s  in flight/lost at end ${r.lost}`);
}
