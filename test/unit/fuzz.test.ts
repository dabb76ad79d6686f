import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeClock } from '../../src/clock.js';
import { generatePrivateKey, publicKeyFromPrivate, type PublicKey } from '../../src/crypto/keys.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { CookieChecker, CookieGenerator } from '../../src/wireguard/cookie.js';
import {
  INITIATION_MAC1_OFFSET,
  INITIATION_MAC2_OFFSET,
  MESSAGE_COOKIE_REPLY_SIZE,
  MESSAGE_INITIATION_SIZE,
  MESSAGE_RESPONSE_SIZE,
  messageType,
  RESPONSE_MAC1_OFFSET,
  writeU32,
} from '../../src/wireguard/messages.js';
import { consumeInitiation, consumeResponse, createInitiation, createResponse, Handshake, type NoiseIdentity } from '../../src/wireguard/noise-protocol.js';
import { tai64n } from '../../src/wireguard/tai64n.js';

// Every parser entry point must return null/false for garbage, never throw. Each
// entry point sees >= 100,000 inputs: cheap random inputs (random lengths, exact
// sizes, exact sizes with a valid header so the crypto actually runs) plus fewer,
// costlier mutations of valid messages restricted to authenticated bytes.

function identity(): NoiseIdentity {
  const privateKey = generatePrivateKey();
  return { privateKey, publicKey: publicKeyFromPrivate(privateKey) };
}

const SRC = Endpoint.of('198.51.100.7', 40000).bytes;

/** Random bytes: any length, the exact size, or the exact size with a valid type header. */
function garbage(size: number, type: number): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ minLength: 0, maxLength: 2 * size }),
    fc.uint8Array({ minLength: size, maxLength: size }),
    fc.uint8Array({ minLength: size, maxLength: size }).map((b) => {
      b.set([type, 0, 0, 0]);
      return b;
    }),
  );
}

/** Flips 1–4 bytes of `valid` at positions from `positions`, optionally truncating or extending. */
function mutation(valid: Uint8Array, positions: number[]): fc.Arbitrary<Uint8Array> {
  const flip = fc.record({ at: fc.constantFrom(...positions), xor: fc.integer({ min: 1, max: 255 }) });
  return fc.oneof(
    fc.array(flip, { minLength: 1, maxLength: 4 }).map((flips) => {
      const m = valid.slice();
      // XORs at one position could cancel out; apply each position once.
      const seen = new Set<number>();
      for (const { at, xor } of flips) if (!seen.has(at)) (seen.add(at), (m[at] ^= xor));
      return m;
    }),
    fc.integer({ min: 0, max: valid.length - 1 }).map((n) => valid.slice(0, n)),
    fc.uint8Array({ minLength: 1, maxLength: 16 }).map((tail) => {
      const m = new Uint8Array(valid.length + tail.length);
      m.set(valid);
      m.set(tail, valid.length);
      return m;
    }),
  );
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

// Initiation: sender (4..7) and the macs are not covered by the Noise AEADs.
const INITIATION_AUTHENTICATED = [...range(0, 4), ...range(8, INITIATION_MAC1_OFFSET)];
// Response: sender (4..7) and the macs are not covered; the receiver index selects the handshake.
const RESPONSE_AUTHENTICATED = [...range(0, 4), ...range(8, RESPONSE_MAC1_OFFSET)];

test('fuzz messageType (100k)', () => {
  const reference = (b: Uint8Array): number => {
    if (b.length < 4 || b[1] | b[2] | b[3]) return 0;
    const sizes: Record<number, (n: number) => boolean> = {
      1: (n) => n === 148,
      2: (n) => n === 92,
      3: (n) => n === 64,
      4: (n) => n >= 32,
    };
    return sizes[b[0]]?.(b.length) ? b[0] : 0;
  };
  const headerish = fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 200 }), fc.boolean()).map(([t, n, dirty]) => {
    const b = new Uint8Array(n);
    if (n > 0) b[0] = t;
    if (dirty && n > 2) b[2] = 1;
    return b;
  });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), headerish), (b) => messageType(b) === reference(b)),
    { numRuns: 100_000 },
  );
});

test('fuzz consumeInitiation (70k random + 30k mutations)', () => {
  const a = identity();
  const b = identity();
  const hsA = new Handshake(b.publicKey);
  hsA.setIdentity(a);
  const hsB = new Handshake(a.publicKey);
  hsB.setIdentity(b);
  const lookup = (_: PublicKey) => hsB;
  const valid = createInitiation(a, hsA, 1, tai64n(Date.UTC(2026, 0, 1)))!;
  const check = (m: Uint8Array) => {
    assert.equal(consumeInitiation(b, m, lookup, 1e9), null);
    assert.equal(hsB.state, 'zeroed');
    assert.equal(hsB.lastInitiationConsumedAt, -Infinity);
  };
  fc.assert(fc.property(garbage(MESSAGE_INITIATION_SIZE, 1), check), { numRuns: 70_000 });
  fc.assert(fc.property(mutation(valid, INITIATION_AUTHENTICATED), check), { numRuns: 30_000 });
  assert.ok(consumeInitiation(b, valid, lookup, 1e9), 'the unmutated message is accepted');
});

test('fuzz consumeResponse (70k random + 30k mutations)', () => {
  const a = identity();
  const b = identity();
  const hsA = new Handshake(b.publicKey);
  hsA.setIdentity(a);
  const hsB = new Handshake(a.publicKey);
  hsB.setIdentity(b);
  const init = createInitiation(a, hsA, 0x01010101, tai64n(Date.UTC(2026, 0, 1)))!;
  assert.ok(consumeInitiation(b, init, () => hsB, 0));
  const valid = createResponse(b, hsB, 2)!;
  const lookup = (i: number) => (i === hsA.localIndex ? hsA : undefined);
  const check = (m: Uint8Array) => {
    assert.equal(consumeResponse(a, m, lookup), null);
    assert.equal(hsA.state, 'initiation-created');
  };
  // half of the exact-size garbage names the right receiver so the crypto runs
  const aimed = fc.uint8Array({ minLength: MESSAGE_RESPONSE_SIZE, maxLength: MESSAGE_RESPONSE_SIZE }).map((m) => {
    m.set([2, 0, 0, 0]);
    writeU32(m, 8, 0x01010101);
    return m;
  });
  fc.assert(fc.property(fc.oneof(garbage(MESSAGE_RESPONSE_SIZE, 2), aimed), check), { numRuns: 70_000 });
  fc.assert(fc.property(mutation(valid, RESPONSE_AUTHENTICATED), check), { numRuns: 30_000 });
  assert.ok(consumeResponse(a, valid, lookup), 'the unmutated message is accepted');
});

test('fuzz CookieChecker.checkMAC1 / checkMAC2 (100k random + 50k mutations each)', () => {
  const clock = new FakeClock();
  const b = identity();
  const checker = new CookieChecker(b.publicKey, clock);
  const gen = new CookieGenerator(b.publicKey, clock);
  const a = identity();
  const hs = new Handshake(b.publicKey);
  hs.setIdentity(a);
  const valid = createInitiation(a, hs, 1, tai64n(clock.wallNow()))!;
  gen.addMacs(valid);
  assert.ok(gen.consumeReply(checker.createReply(valid, 1, SRC)));
  gen.addMacs(valid);
  assert.ok(checker.checkMAC1(valid) && checker.checkMAC2(valid, SRC));

  const randomMsg = fc.oneof(garbage(MESSAGE_INITIATION_SIZE, 1), garbage(MESSAGE_RESPONSE_SIZE, 2));
  const src = fc.oneof(fc.constant(SRC), fc.uint8Array({ maxLength: 40 }));
  fc.assert(
    fc.property(randomMsg, src, (m, s) => checker.checkMAC1(m) === false && checker.checkMAC2(m, s) === false),
    { numRuns: 100_000 },
  );
  // every byte before mac1 is covered by mac1; every byte before mac2 by mac2
  fc.assert(fc.property(mutation(valid, range(0, INITIATION_MAC2_OFFSET)), (m) => checker.checkMAC2(m, SRC) === false), { numRuns: 50_000 });
  fc.assert(
    fc.property(mutation(valid, range(0, INITIATION_MAC2_OFFSET)), (m) => {
      const touchedMac1Region = m.length !== valid.length || range(0, INITIATION_MAC2_OFFSET).some((i) => m[i] !== valid[i]);
      return checker.checkMAC1(m) === !touchedMac1Region;
    }),
    { numRuns: 50_000 },
  );
});

test('fuzz CookieGenerator.consumeReply (70k random + 30k mutations)', () => {
  const clock = new FakeClock();
  const b = identity();
  const checker = new CookieChecker(b.publicKey, clock);
  const gen = new CookieGenerator(b.publicKey, clock);
  const msg = new Uint8Array(MESSAGE_INITIATION_SIZE);
  msg[0] = 1;
  gen.addMacs(msg);
  const valid = checker.createReply(msg, 9, SRC);
  fc.assert(fc.property(garbage(MESSAGE_COOKIE_REPLY_SIZE, 3), (m) => gen.consumeReply(m) === false), { numRuns: 70_000 });
  // the receiver index (4..7) is routing only, everything else is authenticated
  const authenticated = [...range(0, 4), ...range(8, MESSAGE_COOKIE_REPLY_SIZE)];
  fc.assert(fc.property(mutation(valid, authenticated), (m) => gen.consumeReply(m) === false), { numRuns: 30_000 });
  assert.ok(gen.consumeReply(valid));
});
