import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { generatePrivateKey, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { CELL_SIZE, CellCommand, decodeCell, encodeCell, newCellCounters, type Cell } from '../../src/onion/cells.js';
import { HANDSHAKE1_LEN, HandshakeInitiator, HopCipher, respondHandshake } from '../../src/onion/hop-crypto.js';
import { unwrapBackward, wrapForward } from '../../src/onion/layers.js';
import type { CellLink } from '../../src/onion/link.js';
import { decodeRelay, encodeExtend, encodeRelay, RelayCommand } from '../../src/onion/relay-msg.js';
import { OnionRelay } from '../../src/onion/relay.js';

// A relay driven through in-memory links: the test plays the client on `prev` and the
// next hop on `next`, so every cell the relay emits can be inspected.

class FakeLink implements CellLink {
  sent: Cell[] = [];
  constructor(readonly id: string) {}
  send(cell: Uint8Array): boolean {
    assert.equal(cell.length, CELL_SIZE);
    const c = decodeCell(Uint8Array.from(cell), newCellCounters());
    assert.ok(c);
    this.sent.push(c);
    return true;
  }
  backlog(): number {
    return 0;
  }
  remote(): string {
    return this.id;
  }
  close(): void {}
  take(): Cell {
    const c = this.sent.shift();
    assert.ok(c, `${this.id}: no cell sent`);
    return c;
  }
}

const cell = (circId: number, cmd: CellCommand, body?: Uint8Array): Cell => decodeCell(encodeCell(circId, cmd, body), newCellCounters())!;

/** A relay at depth 1 extended to a (played) hop 2; returns the client's two ciphers. */
function twoHopSetup() {
  const priv = generatePrivateKey();
  const pub = publicKeyFromPrivate(priv);
  const prev = new FakeLink('prev');
  const next = new FakeLink('next');
  const relay = new OnionRelay({ staticPrivate: priv, staticPublic: pub, connect: () => next, allocCircId: () => 77 });
  const hs1 = new HandshakeInitiator(pub, 1);
  relay.handleCell(prev, cell(5, CellCommand.Create, hs1.message1));
  const created = prev.take();
  assert.equal(created.command, CellCommand.Created);
  const hops = [HopCipher.forClient(hs1.finish(created.body)!)];
  const priv2 = generatePrivateKey();
  const pub2 = publicKeyFromPrivate(priv2);
  const hs2 = new HandshakeInitiator(pub2, 2);
  relay.handleCell(prev, cell(5, CellCommand.Relay, wrapForward(hops, 0, encodeRelay(RelayCommand.Extend, 0, encodeExtend('10.0.0.2:7301', hs2.message1)))));
  const create = next.take();
  assert.equal(create.command, CellCommand.Create);
  assert.equal(create.circId, 77);
  const r2 = respondHandshake(priv2, pub2, create.body.subarray(0, HANDSHAKE1_LEN))!;
  relay.handleCell(next, cell(77, CellCommand.Created, r2.message2));
  const ext = unwrapBackward(hops, prev.take().body);
  assert.equal(ext.kind, 'mine');
  const m = ext.kind === 'mine' ? decodeRelay(ext.msg) : null;
  assert.equal(m?.command, RelayCommand.Extended);
  hops.push(HopCipher.forClient(hs2.finish(m!.data)!));
  const hop2 = HopCipher.forHop(r2.keys);
  return { relay, prev, next, hops, hop2 };
}

function assertKilled(s: ReturnType<typeof twoHopSetup>): void {
  assert.equal(s.relay.circuits().length, 0);
  assert.equal(s.prev.take().command, CellCommand.Destroy);
  assert.equal(s.next.take().command, CellCommand.Destroy);
}

test('relay forwards a valid cell with its own circId and kills the circuit on a tagged cell', () => {
  const s = twoHopSetup();
  s.relay.handleCell(s.prev, cell(5, CellCommand.Relay, wrapForward(s.hops, 1, encodeRelay(RelayCommand.Data, 1, Uint8Array.of(1)))));
  const fwd = s.next.take();
  assert.equal(fwd.circId, 77);
  const tagged = wrapForward(s.hops, 1, encodeRelay(RelayCommand.Data, 1, Uint8Array.of(2)));
  tagged[500] ^= 0x80;
  s.relay.handleCell(s.prev, cell(5, CellCommand.Relay, tagged));
  assert.equal(s.relay.counters.badTag, 1);
  assertKilled(s);
});

test('relay kills the circuit on a replayed cell', () => {
  const s = twoHopSetup();
  const c = cell(5, CellCommand.Relay, wrapForward(s.hops, 1, encodeRelay(RelayCommand.Data, 1)));
  s.relay.handleCell(s.prev, c);
  s.next.take();
  s.relay.handleCell(s.prev, c);
  assert.equal(s.relay.counters.replay, 1);
  assertKilled(s);
});

test('relay kills the circuit on a cell reordered beyond the replay window', () => {
  const s = twoHopSetup();
  const held = cell(5, CellCommand.Relay, wrapForward(s.hops, 1, encodeRelay(RelayCommand.Data, 1)));
  const last = (() => {
    let body: Uint8Array = new Uint8Array(0);
    for (let i = 0; i < 8200; i++) body = wrapForward(s.hops, 1, encodeRelay(RelayCommand.Data, 1));
    return body;
  })();
  s.relay.handleCell(s.prev, cell(5, CellCommand.Relay, last));
  s.next.take();
  s.relay.handleCell(s.prev, held);
  assert.equal(s.relay.counters.replay, 1);
  assertKilled(s);
});

test('a DESTROY from either side propagates to the other and frees the circuit', () => {
  const s = twoHopSetup();
  s.relay.handleCell(s.next, cell(77, CellCommand.Destroy));
  assert.equal(s.relay.circuits().length, 0);
  assert.equal(s.prev.take().command, CellCommand.Destroy);
  assert.equal(s.next.sent.length, 0);
});

test('relay: random cells, on new and on established circuits, never throw', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ cmd: fc.integer({ min: 0, max: 6 }), fromNext: fc.boolean(), circ: fc.constantFrom(5, 77, 1, 0xffffffff), body: fc.uint8Array({ maxLength: 1019 }) }), {
        maxLength: 20,
      }),
      (cells) => {
        const s = twoHopSetup();
        for (const c of cells) {
          const raw = encodeCell(c.circ, 0, c.body);
          raw[4] = c.cmd;
          const decoded = decodeCell(raw, newCellCounters());
          if (!decoded) continue;
          assert.doesNotThrow(() => s.relay.handleCell(c.fromNext ? s.next : s.prev, decoded));
        }
        // Random bytes never complete a handshake or pass a layer: at most the one circuit.
        assert.ok(s.relay.circuits().length <= 1);
        assert.equal(s.relay.counters.created, 1);
      },
    ),
    { numRuns: 200 },
  );
});
