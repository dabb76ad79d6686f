import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { IndexTable } from '../../src/wireguard/index-table.js';
import { Keypair } from '../../src/wireguard/keypair.js';
import type { Peer } from '../../src/wireguard/peer.js';

const peerA = { name: 'a' } as unknown as Peer;
const peerB = { name: 'b' } as unknown as Peer;

type Op = { kind: 'new'; peer: 0 | 1 } | { kind: 'delete'; pick: number } | { kind: 'swap'; pick: number };

test('index table: agrees with a Map through inserts, deletes and growth, with colliding indices', () => {
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('new' as const), peer: fc.constantFrom(0 as const, 1 as const) }),
    fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant('swap' as const), pick: fc.nat() }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 2000 }), fc.array(fc.nat(), { minLength: 1, maxLength: 64 }), (ops, draws) => {
      // Indices from a small set with shared low bits: long probe runs that wrap around.
      let n = 0;
      const random = (): number => ((draws[n++ % draws.length] + n) % 5000) * 1024 + (n & 63);
      const t = new IndexTable(random);
      const model = new Map<number, { peer: Peer; keypair: Keypair | null }>();
      for (const o of ops) {
        const live = [...model.keys()];
        if (o.kind === 'new') {
          const peer = o.peer ? peerB : peerA;
          const idx = t.newIndex(peer);
          assert.notEqual(idx, 0);
          assert.equal(model.has(idx), false, 'a fresh index is unique');
          model.set(idx, { peer, keypair: null });
        } else if (live.length > 0) {
          const idx = live[o.pick % live.length];
          if (o.kind === 'delete') {
            t.delete(idx);
            model.delete(idx);
          } else {
            const kp = new Keypair();
            t.swapForKeypair(idx, kp);
            model.get(idx)!.keypair = kp;
          }
        }
      }
      assert.equal(t.size, model.size);
      for (const [idx, m] of model) {
        const e = t.lookup(idx);
        assert.ok(e, `index ${idx} is found`);
        assert.equal(e.index, idx);
        assert.equal(e.peer, m.peer);
        assert.equal(e.keypair, m.keypair);
      }
    }),
    { numRuns: 60 },
  );
});

test('index table: a deleted index is gone, and its reused entry no longer names it', () => {
  const t = new IndexTable();
  const idx = t.newIndex(peerA);
  const e = t.lookup(idx)!;
  t.delete(idx);
  assert.equal(t.lookup(idx), undefined);
  assert.notEqual(e.index, idx, 'a holder of the old entry can tell it is stale');
  const idx2 = t.newIndex(peerB);
  assert.equal(t.lookup(idx2)!.peer, peerB);
  t.delete(12345); // unknown: nothing happens
  assert.equal(t.size, 1);
});

test('index table: zero is never handed out', () => {
  const draws = [0, 0, 0, 9];
  const t = new IndexTable(() => draws.shift()!);
  assert.equal(t.newIndex(peerA), 9);
});
