import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { generatePrivateKey, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import {
  FRAME,
  MAX_FRAME_SIZE,
  MAX_PACKET_SIZE,
  encodeFrame,
  parseFrame,
  relayAuthKey,
  relayProof,
  verifyRelayProof,
  type Frame,
} from '../../src/wire/relay.js';
import { LOW_ORDER_POINTS, seq } from './helpers.js';

const KEY = seq(1, 32);

const samples: Frame[] = [
  { type: 'serverHello', serverKey: KEY, challenge: seq(100, 32) },
  { type: 'clientAuth', clientKey: KEY, proof: seq(7, 32) },
  { type: 'serverInfo', version: 1, maxPacket: MAX_PACKET_SIZE, keepaliveMs: 60_000 },
  { type: 'sendPacket', key: KEY, packet: seq(0, 1420) },
  { type: 'recvPacket', key: KEY, packet: new Uint8Array(0) },
  { type: 'peerGone', key: KEY, reason: 1 },
  { type: 'keepalive' },
  { type: 'ping', data: seq(9, 8) },
  { type: 'pong', data: seq(9, 8) },
  { type: 'health', problem: 'replaced' },
];

test('every frame type round-trips; wire layout is type byte then body', () => {
  for (const f of samples) assert.deepEqual(parseFrame(encodeFrame(f)), f);
  const send = encodeFrame({ type: 'sendPacket', key: KEY, packet: Uint8Array.of(0xaa) });
  assert.deepEqual([...send.subarray(0, 2)], [FRAME.SEND_PACKET, 1]);
  assert.equal(send.length, 1 + 32 + 1);
  assert.equal(Buffer.from(encodeFrame(samples[0]).subarray(1, 9)).toString(), 'WEFTRLY1');
});

test('bad sizes, unknown types, oversize frames -> null', () => {
  assert.equal(parseFrame(new Uint8Array(0)), null);
  assert.equal(parseFrame(Uint8Array.of(0xff)), null);
  assert.equal(parseFrame(Uint8Array.of(FRAME.PING, 1, 2)), null);
  assert.equal(parseFrame(Uint8Array.of(FRAME.KEEPALIVE, 0)), null);
  assert.equal(parseFrame(new Uint8Array(10).fill(FRAME.SEND_PACKET)), null);
  const big = new Uint8Array(MAX_FRAME_SIZE + 1);
  big[0] = FRAME.SEND_PACKET;
  assert.equal(parseFrame(big), null);
  big[0] = FRAME.SERVER_HELLO;
  assert.equal(parseFrame(encodeFrame(samples[0]).map((b, i) => (i === 1 ? 0 : b))), null, 'magic checked');
});

test('proof: both sides derive the same key; wrong key, challenge or low-order point fail', () => {
  const server = generatePrivateKey();
  const client = generatePrivateKey();
  const spub = publicKeyFromPrivate(server);
  const cpub = publicKeyFromPrivate(client);
  const challenge = seq(3, 32);
  const kc = relayAuthKey(client, spub)!;
  const ks = relayAuthKey(server, cpub)!;
  assert.deepEqual(kc, ks);
  const proof = relayProof(kc, challenge, spub, cpub);
  assert.ok(verifyRelayProof(ks, challenge, spub, cpub, proof));
  assert.ok(!verifyRelayProof(ks, seq(4, 32), spub, cpub, proof));
  const mallory = publicKeyFromPrivate(generatePrivateKey());
  assert.ok(!verifyRelayProof(relayAuthKey(server, mallory)!, challenge, spub, mallory, proof));
  for (const p of LOW_ORDER_POINTS) assert.equal(relayAuthKey(server, p), null);
});

test('fuzz: parseFrame never throws (100k inputs)', () => {
  const typed = fc.tuple(fc.integer({ min: 0, max: 12 }), fc.uint8Array({ maxLength: 80 })).map(([t, b]) => {
    const out = new Uint8Array(b.length + 1);
    out[0] = t;
    out.set(b, 1);
    return out;
  });
  const mutated = fc.tuple(fc.constantFrom(...samples.map(encodeFrame)), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: -3, max: 3 })).map(([v, pos, val, cut]) => {
    const b = v.slice(0, Math.max(0, v.length + Math.min(0, cut)));
    if (b.length) b[pos % b.length] = val;
    return b;
  });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 80 }), typed, mutated), (b) => {
      const f = parseFrame(b);
      if (f) assert.deepEqual(parseFrame(encodeFrame(f)), f);
    }),
    { numRuns: 100_000 },
  );
});
