import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/clock.js';
import { generatePrivateKey, publicKeyFromPrivate } from '../../src/crypto/keys.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { CookieChecker, CookieGenerator } from '../../src/wireguard/cookie.js';
import {
  COOKIE_REPLY_NONCE_OFFSET,
  COOKIE_REPLY_RECEIVER_OFFSET,
  INITIATION_MAC1_OFFSET,
  INITIATION_MAC2_OFFSET,
  MESSAGE_COOKIE_REPLY_SIZE,
  messageType,
  MessageType,
  readU32,
  RESPONSE_MAC1_OFFSET,
  RESPONSE_MAC2_OFFSET,
} from '../../src/wireguard/messages.js';
import { createInitiation, Handshake } from '../../src/wireguard/noise-protocol.js';
import { tai64n } from '../../src/wireguard/tai64n.js';
import { seq, toHex } from './helpers.js';

function setup() {
  const clock = new FakeClock();
  const respPriv = generatePrivateKey();
  const respPub = publicKeyFromPrivate(respPriv);
  const initPriv = generatePrivateKey();
  const id = { privateKey: initPriv, publicKey: publicKeyFromPrivate(initPriv) };
  const hs = new Handshake(respPub);
  hs.setIdentity(id);
  const initiation = () => createInitiation(id, hs, 7, tai64n(clock.wallNow()))!;
  let n = 0;
  const random = (len: number) => seq(n++ * 31, len);
  return { clock, respPub, checker: new CookieChecker(respPub, clock, random), gen: new CookieGenerator(respPub, clock), initiation };
}

const SRC = Endpoint.of('192.0.2.1', 51820).bytes;
const OTHER_SRC = Endpoint.of('192.0.2.1', 51821).bytes;

test('mac1 is written by the generator and verified by the checker; mac2 zero without a cookie', () => {
  const { checker, gen, initiation } = setup();
  const msg = initiation();
  assert.equal(checker.checkMAC1(msg), false, 'zero mac1');
  gen.addMacs(msg);
  assert.equal(checker.checkMAC1(msg), true);
  assert.equal(toHex(msg.subarray(INITIATION_MAC2_OFFSET)), '00'.repeat(16));
  assert.equal(checker.checkMAC2(msg, SRC), false, 'no cookie secret yet');
  for (let i = 0; i < INITIATION_MAC2_OFFSET; i++) {
    const bad = msg.slice();
    bad[i] ^= 4;
    assert.equal(checker.checkMAC1(bad), false, `byte ${i}`);
  }
  // mac1 for another responder's key does not verify
  const stranger = new CookieChecker(publicKeyFromPrivate(generatePrivateKey()), new FakeClock());
  assert.equal(stranger.checkMAC1(msg), false);
});

test('cookie reply roundtrip yields a valid mac2 bound to the source address', () => {
  const { clock, checker, gen, initiation } = setup();
  const msg = initiation();
  gen.addMacs(msg);
  const reply = checker.createReply(msg, 7, SRC);
  assert.equal(reply.length, MESSAGE_COOKIE_REPLY_SIZE);
  assert.equal(messageType(reply), MessageType.CookieReply);
  assert.equal(readU32(reply, COOKIE_REPLY_RECEIVER_OFFSET), 7);
  assert.equal(toHex(reply.subarray(COOKIE_REPLY_NONCE_OFFSET, COOKIE_REPLY_NONCE_OFFSET + 24)), toHex(seq(31, 24)), 'nonce from the injected random');

  assert.equal(gen.consumeReply(reply), true);
  clock.advance(5_000);
  const next = initiation();
  gen.addMacs(next);
  assert.notEqual(toHex(next.subarray(INITIATION_MAC2_OFFSET)), '00'.repeat(16));
  assert.equal(checker.checkMAC1(next), true);
  assert.equal(checker.checkMAC2(next, SRC), true);
  assert.equal(checker.checkMAC2(next, OTHER_SRC), false, 'cookie is per source address');
  for (const i of [0, 50, INITIATION_MAC1_OFFSET, INITIATION_MAC2_OFFSET, 147]) {
    const bad = next.slice();
    bad[i] ^= 1;
    assert.equal(checker.checkMAC2(bad, SRC), false, `byte ${i}`);
  }
});

test('works for responses too (macs at 60 and 76)', () => {
  const { checker, gen } = setup();
  const resp = new Uint8Array(92);
  resp[0] = 2;
  resp.set(seq(1, 40), 4);
  gen.addMacs(resp);
  assert.notEqual(toHex(resp.subarray(RESPONSE_MAC1_OFFSET, RESPONSE_MAC2_OFFSET)), '00'.repeat(16));
  assert.equal(checker.checkMAC1(resp), true);
  assert.equal(gen.consumeReply(checker.createReply(resp, 1, SRC)), true);
  gen.addMacs(resp);
  assert.equal(checker.checkMAC2(resp, SRC), true);
});

test('a cookie reply is accepted only for the last mac1 sent', () => {
  const { checker, gen, initiation } = setup();
  const first = initiation();
  assert.equal(gen.consumeReply(checker.createReply(first, 7, SRC)), false, 'no mac1 sent yet');
  gen.addMacs(first);
  const replyToFirst = checker.createReply(first, 7, SRC);
  const second = initiation();
  second[20] ^= 1; // different content, so a different mac1
  gen.addMacs(second);
  assert.equal(gen.consumeReply(replyToFirst), false, 'AD is the mac1 of another message');
  const reply = checker.createReply(second, 7, SRC);
  const tampered = reply.slice();
  tampered[40] ^= 1;
  assert.equal(gen.consumeReply(tampered), false);
  assert.equal(gen.consumeReply(reply), true);
  const foreign = new CookieChecker(publicKeyFromPrivate(generatePrivateKey()), new FakeClock());
  assert.equal(gen.consumeReply(foreign.createReply(second, 7, SRC)), false, 'encrypted under another key');
});

test('cookies expire after COOKIE_REFRESH_TIME on both sides and the secret rotates', () => {
  const { clock, checker, gen, initiation } = setup();
  const m = initiation();
  gen.addMacs(m);
  assert.ok(gen.consumeReply(checker.createReply(m, 7, SRC)));

  clock.advance(120_000);
  const atLimit = initiation();
  gen.addMacs(atLimit);
  assert.equal(checker.checkMAC2(atLimit, SRC), true, 'exactly 120 s old is still valid');

  clock.advance(1);
  const late = initiation();
  gen.addMacs(late);
  assert.equal(toHex(late.subarray(INITIATION_MAC2_OFFSET)), '00'.repeat(16), 'generator stops using a stale cookie');
  assert.equal(checker.checkMAC2(atLimit, SRC), false, 'checker secret expired');

  // the next reply rotates the secret: cookies from the old secret no longer verify
  assert.ok(gen.consumeReply(checker.createReply(late, 7, SRC)));
  const fresh = initiation();
  gen.addMacs(fresh);
  assert.equal(checker.checkMAC2(fresh, SRC), true);
  assert.equal(checker.checkMAC2(atLimit, SRC), false, 'mac2 under the previous secret');
});

test('malformed input returns false, never throws', () => {
  const { checker, gen, initiation } = setup();
  for (const len of [0, 1, 31, 32, 63, 64, 65, 91, 93, 147, 149, 1500]) {
    const b = new Uint8Array(len);
    assert.equal(checker.checkMAC1(b), false);
    assert.equal(checker.checkMAC2(b, SRC), false);
    assert.equal(gen.consumeReply(b), false);
  }
  const m = initiation();
  gen.addMacs(m);
  assert.equal(gen.consumeReply(new Uint8Array(64).fill(3)), false);
  assert.throws(() => gen.addMacs(new Uint8Array(10)), { code: 'ERR_INVALID_ARGUMENT' });
  assert.throws(() => checker.createReply(new Uint8Array(10), 1, SRC), { code: 'ERR_INVALID_ARGUMENT' });
});
