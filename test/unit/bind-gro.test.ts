import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PacketBatch } from '../../src/io/batch.js';
import { LinuxBind, type LinuxBindOptions } from '../../src/io/bind-linux.js';
import { ENDPOINT_BYTES, Endpoint } from '../../src/io/endpoint.js';
import { loadNative, nativeAvailable } from '../../src/io/native.js';

// UDP_GRO on receive: over loopback a UDP_SEGMENT send reaches a GRO socket as one
// coalesced buffer (the kernel only segments it for sockets without GRO), so these tests
// see real coalesced messages and check they come out as the datagrams that went in.

const skip = process.platform !== 'linux' ? 'Linux only' : !nativeAvailable() ? 'native addon not built (npm run build:native)' : false;

function groSupported(): boolean {
  const n = loadNative();
  const s = n.udpOpen(0, 4);
  try {
    return n.udpSetGro(s.fd, true);
  } finally {
    n.close(s.fd);
  }
}

/** Datagram i: its index in the first 4 bytes, then a byte pattern that depends on i and the position. */
function datagram(i: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let k = 0; k < len; k++) b[k] = (i * 7 + k) & 0xff;
  if (len >= 4) b.writeUInt32BE(i, 0);
  return b;
}

function batchOf(sizes: number[], first = 0): PacketBatch {
  const b = new PacketBatch(sizes.length, 2048);
  sizes.forEach((len, k) => assert.ok(b.push(datagram(first + k, len), 16)));
  return b;
}

async function pair(rxOpts: LinuxBindOptions) {
  const tx = new LinuxBind({ family: 4 });
  const rx = new LinuxBind({ family: 4, ...rxOpts });
  const got: Array<{ data: Buffer; from: Endpoint }> = [];
  let want = 0;
  let done: (() => void) | undefined;
  await tx.open(0, { onReceive() {} });
  await rx.open(0, {
    onReceive(batch, sources) {
      for (let i = 0; i < batch.count; i++) got.push({ data: Buffer.from(batch.packet(i)), from: Endpoint.fromBytes(sources, i * ENDPOINT_BYTES) });
      if (done && got.length >= want) done();
    },
  });
  const to = Endpoint.of('127.0.0.1', rx.port);
  return {
    tx,
    rx,
    got,
    send: (b: PacketBatch) => assert.equal(tx.send(b, to), b.count),
    wait(n: number, ms = 5000): Promise<void> {
      want = n;
      if (got.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timeout: got ${got.length}/${n} datagrams`)), ms);
        done = () => (clearTimeout(t), resolve());
      });
    },
    async close() {
      await tx.close();
      await rx.close();
    },
  };
}

function checkInOrder(got: Array<{ data: Buffer; from: Endpoint }>, sizes: number[], fromPort: number): void {
  assert.equal(got.length, sizes.length);
  got.forEach(({ data, from }, i) => {
    assert.equal(from.port, fromPort);
    assert.equal(from.ip, '127.0.0.1');
    assert.ok(data.equals(datagram(i, sizes[i])), `datagram ${i} (${sizes[i]} bytes) intact and in order`);
  });
}

const SKIP = skip || (!groSupported() && 'kernel without UDP_GRO');

test('udpRecvGro: a UDP_SEGMENT send arrives as one coalesced message, split across calls', { skip: SKIP }, () => {
  const n = loadNative();
  const a = n.udpOpen(0, 4);
  const b = n.udpOpen(0, 4);
  try {
    assert.equal(n.udpSetGro(b.fd, true), true);
    const sizes = [...Array(10).fill(1200), 700];
    const tx = batchOf(sizes);
    const abs = Uint32Array.from(sizes.map((_, i) => tx.start(i)));
    const dest = Endpoint.of('127.0.0.1', b.port).bytes;
    assert.equal(n.udpSend(a.fd, tx.data, abs, tx.lengths, sizes.length, dest, true), sizes.length);
    const scratch = Buffer.alloc(2 * n.udpGroMessageBytes);
    const state = new Uint32Array(4 + 2 * 2);
    const rx = new PacketBatch(4, 2048);
    const sources = new Uint8Array(4 * ENDPOINT_BYTES);
    const out: Buffer[] = [];
    for (let round = 0; round < 10 && out.length < sizes.length; round++) {
      const got = n.udpRecvGro(b.fd, rx.data, rx.slotSize, rx.capacity, rx.lengths, sources, scratch, state);
      if (round === 0) {
        assert.equal(got, 4, 'a full batch from the first message');
        assert.equal(state[0], 1, 'one coalesced message held');
        assert.deepEqual([state[4], state[5]], [12700, 1200], 'its length and gso_size');
      }
      for (let i = 0; i < got; i++) out.push(Buffer.from(rx.data.subarray(i * rx.slotSize, i * rx.slotSize + rx.lengths[i])));
    }
    assert.equal(state[3], 0, 'nothing dropped');
    out.forEach((d, i) => assert.ok(d.equals(datagram(i, sizes[i])), `datagram ${i}`));
    assert.equal(out.length, sizes.length);
  } finally {
    n.close(a.fd);
    n.close(b.fd);
  }
});

for (const gro of [true, false]) {
  test(`LinuxBind (gro ${gro}): a burst of 2000 equal datagrams arrives intact and in order`, { skip: SKIP }, async () => {
    const p = await pair({ gro, batchSize: 64 });
    assert.equal(p.rx.gro, gro);
    const sizes: number[] = Array(2000).fill(1400);
    for (let first = 0; first < sizes.length; first += 100) {
      p.send(batchOf(sizes.slice(first, first + 100), first));
      await p.wait(first + 100); // paced so the socket buffer never overflows
    }
    checkInOrder(p.got, sizes, p.tx.port);
    assert.equal(p.rx.groDrops, 0);
    await p.close();
  });
}

test('LinuxBind GRO: mixed sizes, where a shorter datagram ends a coalesced run early', { skip: SKIP }, async () => {
  const p = await pair({ batchSize: 16 });
  // Runs as udpSend groups them: [1000 x5, 300] [1000 x3] [1200] [64 x20, 40] [1400] [1 x3] [0] (an empty datagram is never a segment)
  const sizes = [...Array(5).fill(1000), 300, ...Array(3).fill(1000), 1200, ...Array(20).fill(64), 40, 1400, 1, 1, 1, 0];
  p.send(batchOf(sizes));
  await p.wait(sizes.length);
  checkInOrder(p.got, sizes, p.tx.port);
  await p.close();
});

test('LinuxBind GRO: more than one tick of batches left in scratch is still delivered', { skip: SKIP }, async () => {
  // 8-slot batches, one batch per readable event: most of each coalesced message waits in
  // scratch with the socket already empty.
  const p = await pair({ batchSize: 8, maxBatchesPerTick: 1 });
  const sizes: number[] = Array(320).fill(500);
  for (let first = 0; first < sizes.length; first += 64) p.send(batchOf(sizes.slice(first, first + 64), first));
  await p.wait(sizes.length);
  checkInOrder(p.got, sizes, p.tx.port);
  await p.close();
});

test('LinuxBind GRO: segments longer than a slot are dropped and counted, the rest kept', { skip: SKIP }, async () => {
  const p = await pair({ slotSize: 512 });
  p.send(batchOf([...Array(6).fill(1000), 400])); // one message: six 1000-byte segments, then 400
  p.send(batchOf([200, 200, 200], 7));
  await p.wait(4);
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(
    p.got.map((g) => g.data.length),
    [400, 200, 200, 200],
  );
  assert.ok(p.got[0].data.equals(datagram(6, 400)));
  assert.ok(p.got[3].data.equals(datagram(9, 200)));
  assert.equal(p.rx.groDrops, 6);
  await p.close();
});

test('udpRecvGro: argument checks', { skip }, () => {
  const n = loadNative();
  const s = n.udpOpen(0, 4);
  try {
    const rx = new PacketBatch(4, 2048);
    const src = new Uint8Array(4 * ENDPOINT_BYTES);
    assert.throws(() => n.udpRecvGro(s.fd, rx.data, 2048, 4, rx.lengths, src, Buffer.alloc(1000), new Uint32Array(6)), /scratch/);
    assert.throws(() => n.udpRecvGro(s.fd, rx.data, 2048, 4, rx.lengths, src, Buffer.alloc(n.udpGroMessageBytes * 2), new Uint32Array(6)), /state/);
    assert.equal(n.udpRecvGro(s.fd, rx.data, 2048, 4, rx.lengths, src, Buffer.alloc(n.udpGroMessageBytes), new Uint32Array(6)), 0, 'EAGAIN: 0');
  } finally {
    n.close(s.fd);
  }
});
