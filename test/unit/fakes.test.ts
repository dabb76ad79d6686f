import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PacketBatch } from '../../src/io/batch.js';
import type { BindEvents } from '../../src/io/bind.js';
import { FakeNetwork, type FakeBind } from '../../src/io/bind-fake.js';
import { ENDPOINT_BYTES, Endpoint } from '../../src/io/endpoint.js';
import { FakeTun } from '../../src/io/tun-fake.js';
import { WeftError } from '../../src/errors.js';

interface Rx {
  text: string;
  from: string;
  batch: number;
}

function sink(): { rx: Rx[]; batches: number; events: BindEvents } {
  const s = {
    rx: [] as Rx[],
    batches: 0,
    events: {
      onReceive(batch: PacketBatch, sources: Uint8Array) {
        s.batches++;
        for (let i = 0; i < batch.count; i++) {
          s.rx.push({ text: Buffer.from(batch.packet(i)).toString(), from: Endpoint.fromBytes(sources, i * ENDPOINT_BYTES).key, batch: s.batches });
        }
      },
    } as BindEvents,
  };
  return s;
}

function batchOf(...texts: string[]): PacketBatch {
  const b = new PacketBatch(Math.max(1, texts.length), 256);
  for (const t of texts) b.push(Buffer.from(t), 16);
  return b;
}

async function pair(net: FakeNetwork): Promise<{ a: FakeBind; b: FakeBind; ra: ReturnType<typeof sink>; rb: ReturnType<typeof sink> }> {
  const a = net.bind(['10.0.0.1', 'fd00::1']);
  const b = net.bind(['10.0.0.2', 'fd00::2']);
  const ra = sink();
  const rb = sink();
  await a.open(51820, ra.events);
  await b.open(0, rb.events);
  return { a, b, ra, rb };
}

test('FakeNetwork delivers asynchronously, in order, batched, with correct sources', async () => {
  const net = new FakeNetwork();
  const { a, b, ra, rb } = await pair(net);
  assert.equal(a.port, 51820);
  assert.ok(b.port >= 49152);
  assert.equal(a.send(batchOf('one', 'two', 'three'), Endpoint.of('10.0.0.2', b.port)), 3);
  assert.equal(a.send(batchOf('four'), Endpoint.of('fd00::2', b.port)), 1);
  assert.equal(rb.rx.length, 0, 'not delivered synchronously');
  assert.equal(net.pending, 4);
  await net.flush();
  assert.deepEqual(rb.rx.map((r) => r.text), ['one', 'two', 'three', 'four']);
  assert.deepEqual(rb.rx.map((r) => r.from), ['10.0.0.1:51820', '10.0.0.1:51820', '10.0.0.1:51820', '[fd00::1]:51820']);
  assert.equal(rb.batches, 1, 'consecutive datagrams to one bind arrive as one batch');
  assert.equal(ra.rx.length, 0);
  assert.deepEqual(net.stats, { sent: 4, delivered: 4, dropped: 0, unreachable: 0 });
});

test('FakeNetwork.flush also drains replies', async () => {
  const net = new FakeNetwork();
  const a = net.bind('10.0.0.1');
  const b = net.bind('10.0.0.2');
  const ra = sink();
  await a.open(1000, ra.events);
  await b.open(2000, {
    onReceive(batch, sources) {
      const from = Endpoint.fromBytes(sources, 0);
      const reply = new PacketBatch(batch.count, 256);
      for (let i = 0; i < batch.count; i++) reply.push(Buffer.from(`re:${Buffer.from(batch.packet(i)).toString()}`));
      b.send(reply, from);
    },
  });
  a.send(batchOf('hi'), Endpoint.of('10.0.0.2', 2000));
  await net.flush();
  assert.deepEqual(ra.rx.map((r) => [r.text, r.from]), [['re:hi', '10.0.0.2:2000']]);
});

test('FakeNetwork filter: drop, duplicate, defer (reorder), observe', async () => {
  const net = new FakeNetwork();
  const { a, b, rb } = await pair(net);
  const observed: string[] = [];
  net.observe = (pkt, from, to, verdict) => observed.push(`${Buffer.from(pkt).toString()}:${verdict}`);
  net.filter = (pkt) => {
    const t = Buffer.from(pkt).toString();
    return t === 'drop' ? 'drop' : t === 'dup' ? 'duplicate' : t === 'late' ? 'defer' : 'pass';
  };
  a.send(batchOf('late', 'drop', 'dup', 'ok'), b.endpoint(4));
  await net.flush();
  assert.deepEqual(rb.rx.map((r) => r.text), ['dup', 'dup', 'ok', 'late']);
  assert.deepEqual(observed, ['late:defer', 'drop:drop', 'dup:duplicate', 'ok:pass', 'late:pass']);
  assert.equal(net.stats.dropped, 1);
});

test('FakeNetwork: unreachable destinations, wrong family, closed binds, port conflicts', async () => {
  const net = new FakeNetwork();
  const a = net.bind('10.0.0.1');
  const b = net.bind('10.0.0.2');
  const rb = sink();
  await a.open(0, sink().events);
  await b.open(0, rb.events);
  assert.equal(a.send(batchOf('x'), Endpoint.of('fd00::2', b.port)), 0, 'no IPv6 address on a');
  a.send(batchOf('y'), Endpoint.of('10.0.0.3', b.port));
  await net.flush();
  assert.equal(net.stats.unreachable, 1);
  await b.close();
  a.send(batchOf('z'), Endpoint.of('10.0.0.2', b.port));
  await net.flush();
  assert.equal(rb.rx.length, 0);
  const c = net.bind('10.0.0.1');
  await assert.rejects(c.open(a.port, sink().events), (e: unknown) => e instanceof WeftError && e.code === 'EADDRINUSE');
  a.setMark(0x1234);
  assert.equal(a.mark, 0x1234);
});

test('FakeNetwork.changeAddress: roaming changes the source the peer sees', async () => {
  const net = new FakeNetwork();
  const { a, b, ra, rb } = await pair(net);
  a.send(batchOf('before'), b.endpoint(4));
  await net.flush();
  net.changeAddress(a, '192.168.7.9');
  assert.equal(a.port, 51820);
  a.send(batchOf('after'), b.endpoint(4));
  await net.flush();
  assert.deepEqual(rb.rx.map((r) => [r.text, r.from]), [['before', '10.0.0.1:51820'], ['after', '192.168.7.9:51820']]);
  // replies to the old address go nowhere; to the new one arrive
  b.send(batchOf('old'), Endpoint.of('10.0.0.1', 51820));
  b.send(batchOf('new'), Endpoint.parse(rb.rx[1].from));
  await net.flush();
  assert.deepEqual(ra.rx.map((r) => r.text), ['new']);
});

test('FakeNetwork.translate is the NAT extension point', async () => {
  const net = new FakeNetwork();
  const { a, b, rb } = await pair(net);
  net.translate = (from) => (from.ip === '10.0.0.1' ? Endpoint.of('203.0.113.1', 40000) : from);
  a.send(batchOf('natted'), b.endpoint(4));
  await net.flush();
  assert.deepEqual(rb.rx.map((r) => r.from), ['203.0.113.1:40000']);
});

test('FakeTun: inject delivers batches with headroom; writes are recorded', async () => {
  const tun = new FakeTun({ name: 'wt0', mtu: 1380 });
  assert.equal(tun.name, 'wt0');
  assert.equal(tun.mtu, 1380);
  tun.mtu = 1280;
  assert.equal(tun.mtu, 1280);
  assert.throws(() => tun.inject(new Uint8Array([0x45])));
  const got: { bytes: number[]; offset: number }[] = [];
  let closed: Error | undefined;
  tun.start({
    onPackets(batch) {
      for (let i = 0; i < batch.count; i++) got.push({ bytes: [...batch.packet(i)], offset: batch.offsets[i] });
    },
    onClose(err) {
      closed = err;
    },
  });
  tun.inject(new Uint8Array([0x45, 1, 2]));
  tun.injectMany([new Uint8Array([0x60, 3]), new Uint8Array([0x45, 4])]);
  assert.deepEqual(got, [
    { bytes: [0x45, 1, 2], offset: 16 },
    { bytes: [0x60, 3], offset: 16 },
    { bytes: [0x45, 4], offset: 16 },
  ]);
  const hooked: number[][] = [];
  tun.onWrite = (p) => hooked.push([...p]);
  const out = new PacketBatch(2, 64);
  out.push(new Uint8Array([9, 9]), 16);
  out.push(new Uint8Array([8]), 0);
  assert.equal(tun.write(out), 2);
  out.data.fill(0); // recorded packets are copies
  assert.deepEqual(tun.written.map((p) => [...p]), [[9, 9], [8]]);
  assert.deepEqual(hooked, [[9, 9], [8]]);
  tun.vanish();
  assert.equal((closed as Error & { code?: string })?.code, 'EBADFD');
  await tun.stop();
  assert.equal(tun.write(out), 0);
});
