import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePcapUdp, type UdpPacket } from '../../src/lab/pcap.js';
import { residences } from '../../src/lab/residence.js';

// B's share of a ping, from a capture on B's link (bench/handshake.ts).

const A = '10.203.0.2';
const B = '10.203.0.1';
const data = (len: number): Buffer => Buffer.concat([Buffer.from([4, 0, 0, 0]), Buffer.alloc(len - 4)]);
const pkt = (ts: number, src: string, dst: string, payload: Buffer): UdpPacket => ({ ts, src, dst, srcPort: 1, dstPort: 2, payload });

test('each request from the peer is paired with the next data back; keepalives and handshakes are not requests', () => {
  const got = residences(
    [
      pkt(10.0, A, B, data(128)),
      pkt(10.0002, B, A, data(32)), // a keepalive: not the answer
      pkt(10.0005, B, A, data(128)),
      pkt(10.01, A, B, Buffer.concat([Buffer.from([1, 0, 0, 0]), Buffer.alloc(144)])), // an initiation
      pkt(10.02, B, A, data(128)), // nothing pending: dropped
      pkt(10.03, A, B, data(128)), // unanswered, replaced by the next request
      pkt(10.04, A, B, data(128)),
      pkt(10.0412, B, A, data(128)),
      pkt(10.05, '10.9.9.9', B, data(128)), // someone else
      pkt(10.0501, B, '10.9.9.9', data(128)),
    ],
    B,
    A,
  );
  assert.deepEqual(
    got.map((r) => [r.at, Math.round(r.ms * 1000) / 1000]),
    [
      [10.0, 0.5],
      [10.04, 1.2],
    ],
  );
});

test('pcap records carry their capture time, micro- and nanosecond files alike', () => {
  const frame = (): Buffer => {
    const ip = Buffer.alloc(20 + 8 + 4);
    ip[0] = 0x45;
    ip[9] = 17;
    ip.set([10, 203, 0, 2], 12);
    ip.set([10, 203, 0, 1], 16);
    ip.writeUInt16BE(8 + 4, 20 + 4);
    return ip;
  };
  for (const [magic, frac, want] of [
    [0xa1b2c3d4, 250_000, 1700000000.25],
    [0xa1b23c4d, 250_000_000, 1700000000.25],
  ] as const) {
    const head = Buffer.alloc(24);
    head.writeUInt32LE(magic, 0);
    head.writeUInt32LE(101, 20); // raw IP
    const f = frame();
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(1700000000, 0);
    rec.writeUInt32LE(frac, 4);
    rec.writeUInt32LE(f.length, 8);
    rec.writeUInt32LE(f.length, 12);
    const [p] = parsePcapUdp(Buffer.concat([head, rec, f]));
    assert.equal(p!.ts, want);
    assert.equal(p!.src, A);
  }
});
