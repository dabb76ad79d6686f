import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import fc from 'fast-check';
import * as ws from 'ws';
import { FrameBatch, wsHeaderLen, type BatchTarget, type FlushResult } from '../../src/relay/batch.js';
import { encodeFrame, parseFrame, MAX_PACKET_SIZE } from '../../src/wire/relay.js';
import { seq } from './helpers.js';

// FrameBatch: frames queued in a turn leave as one write per destination, in arrival
// order, as WebSocket messages ws itself decodes; bounded per turn; drops counted.

interface Target extends BatchTarget {
  writes: Buffer[];
  ws: { readyState: number };
}

function target(): Target {
  const writes: Buffer[] = [];
  const socket = { write: (b: Buffer) => writes.push(Buffer.from(b)) } as unknown as Duplex;
  return { socket, writes, ws: { readyState: 1 }, batchBytes: 0, batchBuf: undefined, batchOff: 0 };
}

/** The messages in `bytes` as a WebSocket client (ws's own parser) sees them. */
function decode(bytes: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  // ws's own frame parser, as a client uses it (server messages are not masked).
  const { Receiver } = ws as unknown as { Receiver: new (o: object) => NodeJS.WritableStream & { on(e: 'message', f: (d: Buffer) => void): void } };
  const r = new Receiver({ isServer: false, maxPayload: 0 });
  r.on('message', (d: Buffer) => out.push(Buffer.from(d)));
  for (const b of bytes) r.write(b);
  return out;
}

function manualTurns(): { schedule: (fn: () => void) => void; endTurn: () => void; pending: () => number } {
  let fns: Array<() => void> = [];
  return {
    schedule: (fn) => void fns.push(fn),
    endTurn: () => {
      const run = fns;
      fns = [];
      for (const fn of run) fn();
    },
    pending: () => fns.length,
  };
}

const SRC = seq(1, 32);
const DST = seq(101, 32);
const sendFrame = (packet: Uint8Array) => Buffer.from(encodeFrame({ type: 'sendPacket', key: DST, packet }));

test('one turn: one write per destination; packets become RecvPacket from the source; control frames verbatim; order kept', () => {
  const turns = manualTurns();
  const batch = new FrameBatch<Target>(() => assert.fail('no drops'), 4096, turns.schedule);
  const a = target();
  const b = target();
  // Sizes around the WebSocket header boundaries (125/126, 65535/65536 bytes of message).
  const sizes = [0, 92, 93, 100, 65502, 65503, MAX_PACKET_SIZE];
  for (const [i, n] of sizes.entries()) batch.push(i % 2 ? b : a, sendFrame(new Uint8Array(n).fill(i)), SRC);
  const pong = encodeFrame({ type: 'pong', data: seq(7, 8) });
  batch.push(a, pong);
  assert.equal(a.writes.length + b.writes.length, 0, 'nothing is written before the turn ends');
  assert.equal(turns.pending(), 1, 'one flush scheduled per turn, not per frame');
  turns.endTurn();
  assert.equal(a.writes.length, 1);
  assert.equal(b.writes.length, 1);
  assert.equal(batch.size, 0);
  assert.equal(batch.queuedBytes(a), 0);
  const got = { a: decode(a.writes), b: decode(b.writes) };
  const want = { a: [] as Buffer[], b: [] as Buffer[] };
  for (const [i, n] of sizes.entries()) want[i % 2 ? 'b' : 'a'].push(Buffer.from(encodeFrame({ type: 'recvPacket', key: SRC, packet: new Uint8Array(n).fill(i) })));
  want.a.push(Buffer.from(pong));
  assert.deepEqual(got, want);
  assert.deepEqual(parseFrame(got.a[0]), { type: 'recvPacket', key: got.a[0].subarray(1, 33), packet: got.a[0].subarray(33) });
});

test('queuedBytes counts the encoded bytes waiting for a destination (for its queue bound)', () => {
  const turns = manualTurns();
  const batch = new FrameBatch<Target>(() => {}, 4096, turns.schedule);
  const a = target();
  const f = sendFrame(new Uint8Array(1280));
  batch.push(a, f, SRC);
  batch.push(a, f, SRC);
  assert.equal(batch.queuedBytes(a), 2 * (wsHeaderLen(f.length) + f.length));
  turns.endTurn();
  assert.equal(batch.queuedBytes(a), 0);
  assert.equal(a.writes[0].length, 2 * (4 + f.length));
});

test('bounded: at maxFrames frames the batch is written at once, not at the end of the turn', () => {
  const turns = manualTurns();
  const batch = new FrameBatch<Target>(() => {}, 8, turns.schedule);
  const a = target();
  for (let i = 0; i < 20; i++) batch.push(a, sendFrame(Uint8Array.of(i)), SRC);
  assert.equal(a.writes.length, 2, 'two full batches of 8 written during the turn');
  assert.equal(batch.size, 4);
  turns.endTurn();
  assert.deepEqual(decode(a.writes).map((m) => m[33]), Array.from({ length: 20 }, (_, i) => i));
});

test('a destination closed before the flush gets nothing; its packets and control frames are counted as drops', () => {
  const turns = manualTurns();
  const drops: FlushResult[] = [];
  const batch = new FrameBatch<Target>((r) => drops.push(r), 4096, turns.schedule);
  const open = target();
  const closed = target();
  batch.push(closed, sendFrame(Uint8Array.of(1)), SRC);
  batch.push(open, sendFrame(Uint8Array.of(2)), SRC);
  batch.push(closed, encodeFrame({ type: 'keepalive' }));
  batch.push(closed, sendFrame(Uint8Array.of(3)), SRC);
  closed.ws.readyState = 2; // CLOSING
  turns.endTurn();
  assert.deepEqual(drops, [{ droppedPackets: 2, droppedControl: 1 }]);
  assert.equal(closed.writes.length, 0);
  assert.equal(closed.batchBytes, 0);
  assert.equal(decode(open.writes).length, 1);
});

test('property: any interleaving of frames to several destinations arrives complete and in order per destination', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ to: fc.nat(3), len: fc.oneof(fc.nat(200), fc.integer({ min: 65490, max: 65510 })), control: fc.boolean(), turnEnd: fc.boolean() }), { maxLength: 60 }),
      fc.integer({ min: 1, max: 16 }),
      (ops, maxFrames) => {
        const turns = manualTurns();
        const batch = new FrameBatch<Target>(() => assert.fail('no drops'), maxFrames, turns.schedule);
        const ts = [target(), target(), target(), target()];
        const want: Buffer[][] = [[], [], [], []];
        ops.forEach((op, i) => {
          if (op.control) {
            const f = encodeFrame({ type: 'ping', data: seq(i, 8) });
            batch.push(ts[op.to], f);
            want[op.to].push(Buffer.from(f));
          } else {
            const pkt = new Uint8Array(op.len).fill(i);
            batch.push(ts[op.to], sendFrame(pkt), SRC);
            want[op.to].push(Buffer.from(encodeFrame({ type: 'recvPacket', key: SRC, packet: pkt })));
          }
          assert.ok(batch.size < maxFrames, 'never more than maxFrames waiting');
          if (op.turnEnd) turns.endTurn();
        });
        turns.endTurn();
        assert.deepEqual(
          ts.map((t) => decode(t.writes)),
          want,
        );
      },
    ),
    { numRuns: 200 },
  );
});
