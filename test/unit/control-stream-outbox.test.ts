// The map streams' per-turn outbox (src/control/stream-outbox.ts): deltas for one stream
// within a turn fold into one, in order (applied once, as the agent applies them one by
// one); a frame for many streams is serialized once; other messages keep their frames.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { WebSocket } from 'ws';
import { Frame, Outbox } from '../../src/control/stream-outbox.js';
import type { NodeView, ServerMessage } from '../../src/wire/control.js';

type Delta = Extract<ServerMessage, { type: 'delta' }>;
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const view = (k: string, endpoint = '192.0.2.1:1'): NodeView => ({ publicKey: k, name: k, endpoints: [endpoint] }) as unknown as NodeView;
const delta = (seq: number, upserts: NodeView[], removals: string[], extra: Partial<Delta> = {}): Frame => new Frame({ type: 'delta', seq, upserts, removals, ...extra });

function recorder(): { outbox: Outbox; writes: Array<{ ws: WebSocket; data: string | Buffer }>; msgs: (ws: WebSocket) => ServerMessage[] } {
  const writes: Array<{ ws: WebSocket; data: string | Buffer }> = [];
  const outbox = new Outbox((ws, data) => writes.push({ ws, data }));
  return { outbox, writes, msgs: (ws) => writes.filter((w) => w.ws === ws).map((w) => JSON.parse(w.data.toString()) as ServerMessage) };
}

// The agent's delta application (src/agent/backend.ts): upserts, then removals; self, filter and dns replace.
function apply(state: { peers: Map<string, NodeView>; seq: number; filter?: unknown; self?: unknown }, d: Delta): void {
  assert.ok(d.seq > state.seq, 'seq increases');
  state.seq = d.seq;
  for (const v of d.upserts) state.peers.set(v.publicKey, v);
  for (const k of d.removals) state.peers.delete(k);
  if (d.packetFilter) state.filter = d.packetFilter;
  if (d.self) state.self = d.self;
}

test('two deltas for one stream in one turn arrive as one, in order, applied once', async () => {
  const { outbox, writes, msgs } = recorder();
  const ws = {} as WebSocket;
  outbox.push(ws, delta(1, [view('a', '1.1.1.1:1'), view('b')], ['c'], { packetFilter: [] }));
  outbox.push(ws, delta(2, [view('a', '2.2.2.2:2'), view('c')], ['b'], { self: view('me') }));
  assert.equal(writes.length, 0, 'nothing is written before the turn ends');
  await turn();
  assert.equal(writes.length, 1);
  assert.equal(outbox.folded, 1);
  const [m] = msgs(ws) as Delta[];
  assert.equal(m.seq, 2);
  assert.deepEqual(m.upserts.map((v) => [v.publicKey, v.endpoints[0]]), [['a', '2.2.2.2:2'], ['c', '192.0.2.1:1']]);
  assert.deepEqual(m.removals, ['b']);
  assert.deepEqual(m.packetFilter, []);
  assert.equal(m.self?.publicKey, 'me');
});

test('one frame to many streams is serialized once; other messages go at once, after the queued delta', async () => {
  const { outbox, writes, msgs } = recorder();
  const [x, y] = [{} as WebSocket, {} as WebSocket];
  const shared = delta(1, [view('a')], []);
  outbox.push(x, shared);
  outbox.push(y, shared);
  outbox.push(x, new Frame({ type: 'pong', id: 7 }));
  assert.deepEqual(msgs(x).map((m) => m.type), ['delta', 'pong'], 'the pong flushed the delta before it');
  outbox.push(x, delta(2, [], ['a']));
  await turn();
  assert.deepEqual(msgs(x).map((m) => m.type), ['delta', 'pong', 'delta']);
  const [dx, dy] = [writes.find((w) => w.ws === x)!.data, writes.find((w) => w.ws === y)!.data];
  // Serialized once; UTF-8 encoded once, when the second stream needs it.
  assert.equal(typeof dx, 'string');
  assert.ok(Buffer.isBuffer(dy) && dy === shared.data && dy.toString() === dx);
  assert.equal(outbox.folded, 0);
});

test('flush writes one stream now (before its close), and nothing twice', async () => {
  const { outbox, writes } = recorder();
  const [x, y] = [{} as WebSocket, {} as WebSocket];
  outbox.push(x, delta(1, [view('a')], []));
  outbox.push(y, delta(1, [view('a')], []));
  outbox.flush(x);
  assert.deepEqual(writes.map((w) => w.ws), [x]);
  await turn();
  assert.deepEqual(writes.map((w) => w.ws), [x, y]);
});

test('property: a folded turn leaves the agent where the deltas one by one would', async () => {
  const keys = ['a', 'b', 'c', 'd'];
  const deltaArb = fc.record({
    upserts: fc.array(fc.tuple(fc.constantFrom(...keys), fc.nat(9)), { maxLength: 3 }),
    removals: fc.subarray(keys),
    filter: fc.option(fc.nat(9), { nil: undefined }),
    self: fc.option(fc.nat(9), { nil: undefined }),
  });
  await fc.assert(
    fc.asyncProperty(fc.array(deltaArb, { minLength: 1, maxLength: 6 }), async (ds) => {
      const { outbox, msgs } = recorder();
      const ws = {} as WebSocket;
      const one = { peers: new Map<string, NodeView>([['a', view('a')]]), seq: 0 } as Parameters<typeof apply>[0];
      const folded = { peers: new Map(one.peers), seq: 0 } as Parameters<typeof apply>[0];
      ds.forEach((d, i) => {
        const f = delta(i + 1, d.upserts.map(([k, e]) => view(k, `192.0.2.${e}:1`)), d.removals, {
          ...(d.filter === undefined ? {} : { packetFilter: [{ srcs: [`10.0.0.${d.filter}/32`], ports: [[1, 1]] }] }),
          ...(d.self === undefined ? {} : { self: view('me', `192.0.2.${d.self}:1`) }),
        } as Partial<Delta>);
        apply(one, f.msg as Delta);
        outbox.push(ws, f);
      });
      await turn();
      const got = msgs(ws);
      assert.equal(got.length, 1);
      apply(folded, got[0] as Delta);
      assert.deepEqual(folded, one);
    }),
    { numRuns: 200 },
  );
});
