import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { GEN_MAGIC, GEN_TAG_BYTES, GenCounter, genPayloadFor, genResult, parseGenReport, writeGenTag, type GenRecvReport, type GenSendReport } from '../../src/lab/udpgen.js';

/** Datagrams laid out one per 64-byte slot, as a receive batch holds them. */
function batch(payloads: Uint8Array[]): { data: Uint8Array; offsets: number[]; lengths: number[] } {
  const data = new Uint8Array(payloads.length * 64);
  payloads.forEach((p, i) => data.set(p, i * 64));
  return { data, offsets: payloads.map((_, i) => i * 64), lengths: payloads.map((p) => p.length) };
}

function tagged(run: number, len: number): Uint8Array {
  const p = new Uint8Array(len).fill(0xee);
  writeGenTag(p, run);
  return p;
}

test('writeGenTag: magic then the run id, big-endian; a payload shorter than the tag is refused', () => {
  const p = tagged(0x01020304, 12);
  assert.deepEqual([...p.subarray(0, 8)], [0x57, 0x47, 0x45, 0x4e, 1, 2, 3, 4]);
  assert.equal(Buffer.from(p).readUInt32BE(0), GEN_MAGIC);
  assert.deepEqual([...p.subarray(8)], [0xee, 0xee, 0xee, 0xee]);
  assert.throws(() => writeGenTag(new Uint8Array(GEN_TAG_BYTES - 1), 1), RangeError);
});

test('GenCounter counts only its run, sums bytes, and keeps the first and last time', () => {
  const c = new GenCounter(7);
  const short = tagged(7, 8).subarray(0, 7);
  const b1 = batch([tagged(7, 36), tagged(8, 36), tagged(7, 50), new Uint8Array(40), short]);
  c.add(b1.data, b1.offsets, b1.lengths, 5, 100);
  assert.deepEqual([c.datagrams, c.bytes, c.foreign, c.firstMs, c.lastMs], [2, 86, 3, 100, 100]);
  const b2 = batch([tagged(7, 36)]);
  c.add(b2.data, b2.offsets, b2.lengths, 1, 250);
  // A batch with nothing of ours moves neither the count nor the window.
  const b3 = batch([tagged(9, 36)]);
  c.add(b3.data, b3.offsets, b3.lengths, 1, 400);
  assert.deepEqual([c.datagrams, c.bytes, c.foreign, c.firstMs, c.lastMs], [3, 122, 4, 100, 250]);
});

test('GenCounter: only the first `count` entries count; a datagram running past the buffer is foreign', () => {
  const c = new GenCounter(1);
  const b = batch([tagged(1, 36), tagged(1, 36)]);
  c.add(b.data, b.offsets, b.lengths, 1, 0);
  assert.equal(c.datagrams, 1);
  c.add(b.data, [b.data.length - 8], [36], 1, 0);
  assert.deepEqual([c.datagrams, c.foreign], [1, 1]);
});

test('GenCounter: property, counted + foreign = seen, and counted = the tagged ones of the run', () => {
  fc.assert(
    fc.property(fc.array(fc.record({ run: fc.constantFrom(3, 4), len: fc.integer({ min: 0, max: 64 }) }), { maxLength: 40 }), (items) => {
      const c = new GenCounter(3);
      const b = batch(items.map((x) => (x.len >= GEN_TAG_BYTES ? tagged(x.run, x.len) : new Uint8Array(x.len))));
      c.add(b.data, b.offsets, b.lengths, items.length, 1);
      const ours = items.filter((x) => x.run === 3 && x.len >= GEN_TAG_BYTES);
      assert.equal(c.datagrams, ours.length);
      assert.equal(c.bytes, ours.reduce((s, x) => s + x.len, 0));
      assert.equal(c.datagrams + c.foreign, items.length);
    }),
  );
});

const SEND: GenSendReport = { kind: 'send', sent: 1000, bytes: 36000, ms: 500, calls: 2, short: 0, gso: true };
const RECV: GenRecvReport = { kind: 'recv', datagrams: 800, bytes: 28800, foreign: 0, windowMs: 480, gro: true, groDrops: 0, timedOut: false };

test('parseGenReport takes the last well-formed report of its kind and skips everything else', () => {
  const text = ['{"ready":true,"port":5301}', JSON.stringify({ ...RECV, datagrams: 1 }), 'noise', JSON.stringify(RECV), JSON.stringify(SEND), '{"kind":"recv","datagrams":-1', ''].join('\n');
  assert.deepEqual(parseGenReport(text, 'recv'), RECV);
  assert.deepEqual(parseGenReport(text, 'send'), SEND);
  assert.equal(parseGenReport('', 'send'), null);
  for (const bad of [{ ...SEND, sent: -1 }, { ...SEND, ms: 'x' }, { ...SEND, gso: 1 }, { ...RECV, kind: 'send' }, { ...RECV, windowMs: Infinity }, null, [1]]) {
    assert.equal(parseGenReport(JSON.stringify(bad), 'send'), null, JSON.stringify(bad));
  }
  assert.equal(parseGenReport(JSON.stringify({ ...RECV, timedOut: 'no' }), 'recv'), null);
});

test('genResult: rates over the sender time, loss of what was sent, never below 0 %', () => {
  const r = genResult(SEND, RECV);
  assert.equal(r.kpps, 1.6);
  assert.equal(r.sentKpps, 2);
  assert.equal(r.lossPct, 20);
  assert.equal(r.mbps, (28800 * 8) / 0.5 / 1e6);
  assert.equal(genResult(SEND, { ...RECV, datagrams: 1200 }).lossPct, 0);
  assert.equal(genResult({ ...SEND, sent: 0 }, { ...RECV, datagrams: 0 }).lossPct, 0);
  assert.throws(() => genResult({ ...SEND, ms: 0 }, RECV), /sender ran 0 ms/);
});

test('genPayloadFor: the iperf3 -l of an inner IPv4 packet size, within the tag and MTU', () => {
  assert.equal(genPayloadFor(64), 36);
  assert.equal(genPayloadFor(1400), 1372);
  assert.throws(() => genPayloadFor(35), RangeError);
  assert.throws(() => genPayloadFor(1501), RangeError);
  assert.throws(() => genPayloadFor(64.5), RangeError);
});
