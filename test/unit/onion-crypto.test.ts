import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { generatePrivateKey, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { BODY_LEN, CELL_SIZE, CellCommand, decodeCell, encodeCell, newCellCounters } from '../../src/onion/cells.js';
import { HandshakeInitiator, HopCipher, respondHandshake } from '../../src/onion/hop-crypto.js';
import { capacityAt, originateBackward, unwrapBackward, unwrapForward, wrapBackward, wrapForward } from '../../src/onion/layers.js';
import { decodeRelay, decodeTarget, encodeRelay, encodeTarget, RelayCommand } from '../../src/onion/relay-msg.js';

function hopPair(depth: number): { client: HopCipher; hop: HopCipher } {
  const priv = generatePrivateKey();
  const pub = publicKeyFromPrivate(priv);
  const hs = new HandshakeInitiator(pub, depth);
  const r = respondHandshake(priv, pub, hs.message1);
  assert.ok(r);
  assert.equal(r.depth, depth);
  const keys = hs.finish(r.message2);
  assert.ok(keys);
  assert.deepEqual(keys, r.keys);
  assert.notDeepEqual(keys.fwd, keys.bwd);
  return { client: HopCipher.forClient(keys), hop: HopCipher.forHop(r.keys) };
}

test('cells: round trip, fixed size, zero padding', () => {
  const c = new TextEncoder().encode('hello');
  const buf = encodeCell(0xdeadbeef, CellCommand.Relay, c);
  assert.equal(buf.length, CELL_SIZE);
  const counters = newCellCounters();
  const d = decodeCell(buf, counters);
  assert.ok(d);
  assert.equal(d.circId, 0xdeadbeef);
  assert.equal(d.command, CellCommand.Relay);
  assert.equal(d.body.length, BODY_LEN);
  assert.deepEqual(d.body.subarray(0, 5), c);
  assert.ok(d.body.subarray(5).every((b) => b === 0));
  assert.equal(decodeCell(buf.subarray(1), counters), null);
  assert.equal(decodeCell(encodeCell(0, CellCommand.Relay), counters), null);
  const bad = encodeCell(1, CellCommand.Relay);
  bad[4] = 99;
  assert.equal(decodeCell(bad, counters), null);
  assert.deepEqual(counters, { badSize: 1, badCommand: 1, badCircId: 1 });
});

test('cells and relay messages: decoding random input never throws', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: CELL_SIZE + 8 }), fc.boolean(), (bytes, full) => {
      const b = full ? Uint8Array.from({ length: CELL_SIZE }, (_, i) => bytes[i % Math.max(1, bytes.length)] ?? 0) : bytes;
      const counters = newCellCounters();
      const cell = decodeCell(b, counters);
      assert.equal(cell === null, counters.badSize + counters.badCommand + counters.badCircId === 1);
      decodeRelay(b);
      decodeTarget(b);
    }),
    { numRuns: 2000 },
  );
});

test('relay messages and targets round trip', () => {
  const m = decodeRelay(encodeRelay(RelayCommand.Data, 513, Uint8Array.of(1, 2, 3)));
  assert.deepEqual(m, { command: RelayCommand.Data, streamId: 513, data: Uint8Array.of(1, 2, 3) });
  assert.deepEqual(decodeTarget(encodeTarget('::1', 80)), { host: '::1', port: 80 });
  assert.deepEqual(decodeTarget(encodeTarget('example.org', 443)), { host: 'example.org', port: 443 });
  assert.equal(decodeTarget(new TextEncoder().encode('host:0')), null);
});

test('handshake: a hop without the static key cannot answer; message 1 from a wrong key is refused', () => {
  const priv = generatePrivateKey();
  const pub = publicKeyFromPrivate(priv);
  const hs = new HandshakeInitiator(pub, 1);
  const other = generatePrivateKey();
  assert.equal(respondHandshake(other, publicKeyFromPrivate(other), hs.message1), null);
  assert.equal(respondHandshake(other, pub, hs.message1), null);
  // A reply from an impostor that made up its own ephemeral fails the client's check.
  const hs2 = new HandshakeInitiator(pub, 1);
  const fake = respondHandshake(other, publicKeyFromPrivate(other), new HandshakeInitiator(publicKeyFromPrivate(other), 1).message1);
  assert.ok(fake);
  assert.equal(hs2.finish(fake.message2), null);
});

// Allocating forms of the in-place layering calls.
function unwrapF(hop: HopCipher, depth: number, body: Uint8Array) {
  const out = new Uint8Array(BODY_LEN);
  const r = unwrapForward(hop, depth, body, out);
  return r.kind === 'forward' ? { kind: 'forward' as const, body: out } : r.kind === 'mine' ? { kind: 'mine' as const, msg: Uint8Array.from(r.msg) } : r;
}
function wrapB(hop: HopCipher, depth: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(BODY_LEN);
  wrapBackward(hop, depth, body, out);
  return out;
}
function originate(hop: HopCipher, depth: number, msg: Uint8Array): Uint8Array {
  const out = new Uint8Array(BODY_LEN);
  originateBackward(hop, depth, msg, out);
  return out;
}

test('layering: each of 3 hops removes exactly its layer, both directions, at constant size', () => {
  const pairs = [hopPair(1), hopPair(2), hopPair(3)];
  const clients = pairs.map((p) => p.client);
  const msg = new TextEncoder().encode('to the exit');
  let body = wrapForward(clients, 2, msg);
  assert.equal(body.length, BODY_LEN);
  for (let d = 1; d <= 2; d++) {
    const r = unwrapF(pairs[d - 1].hop, d, body);
    assert.equal(r.kind, 'forward');
    if (r.kind !== 'forward') return;
    assert.equal(r.body.length, BODY_LEN);
    assert.equal(Buffer.from(r.body).includes(Buffer.from(msg)), false, 'plaintext visible before the exit');
    body = r.body;
  }
  const last = unwrapF(pairs[2].hop, 3, body);
  assert.equal(last.kind, 'mine');
  if (last.kind === 'mine') assert.deepEqual(last.msg.subarray(0, msg.length), msg);
  // A message for the middle hop stops there.
  const viaGuard = unwrapF(pairs[0].hop, 1, wrapForward(clients, 1, msg));
  assert.equal(viaGuard.kind, 'forward');
  if (viaGuard.kind === 'forward') assert.equal(unwrapF(pairs[1].hop, 2, viaGuard.body).kind, 'mine');
  // Backward from the exit: each hop adds a layer, the client peels all three.
  const reply = new TextEncoder().encode('from the exit');
  let back = originate(pairs[2].hop, 3, reply);
  back = wrapB(pairs[1].hop, 2, back);
  back = wrapB(pairs[0].hop, 1, back);
  assert.equal(back.length, BODY_LEN);
  const got = unwrapBackward(clients, back);
  assert.equal(got.kind, 'mine');
  if (got.kind === 'mine') {
    assert.equal(got.from, 2);
    assert.deepEqual(got.msg.subarray(0, reply.length), reply);
    assert.equal(got.msg.length, capacityAt(3));
  }
});

test('layering: a cell tagged by hop 1 fails at hop 2; a tagged reply fails at the client', () => {
  const pairs = [hopPair(1), hopPair(2), hopPair(3)];
  const clients = pairs.map((p) => p.client);
  const r1 = unwrapF(pairs[0].hop, 1, wrapForward(clients, 2, Uint8Array.of(1, 2, 3)));
  assert.equal(r1.kind, 'forward');
  if (r1.kind !== 'forward') return;
  r1.body[100] ^= 0x40; // a malicious guard marks the cell
  assert.deepEqual(unwrapF(pairs[1].hop, 2, r1.body), { kind: 'fail', reason: 'bad-tag' });
  let back = originate(pairs[2].hop, 3, Uint8Array.of(9));
  back[7] ^= 1; // a malicious exit's mark, seen by hop 2 only as opaque bytes
  back = wrapB(pairs[1].hop, 2, back);
  back = wrapB(pairs[0].hop, 1, back);
  const got = unwrapBackward(clients, back);
  assert.equal(got.kind, 'fail');
  if (got.kind === 'fail') assert.equal(got.at, 2);
});

test('hop cipher: replayed and beyond-window counters are refused after authenticating', () => {
  const { client, hop } = hopPair(1);
  const plain = new Uint8Array(32);
  const seal = (): Uint8Array => {
    const region = new Uint8Array(32 + 24);
    client.seal(region, plain);
    return region;
  };
  const first = seal();
  const out = new Uint8Array(32);
  assert.equal(hop.open(out, first), 'ok');
  assert.equal(hop.open(out, first), 'replay');
  const old = seal(); // counter 1, held back
  for (let i = 0; i < 8200; i++) seal();
  assert.equal(hop.open(out, seal()), 'ok'); // counter 8202
  assert.equal(hop.open(out, old), 'replay'); // 8201 behind: outside the 8128 window
  const forged = seal();
  forged[30] ^= 1;
  assert.equal(hop.open(out, forged), 'bad-tag');
});
