import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/clock.js';
import { HandshakeLoad } from '../../src/wireguard/load.js';
import { UNDER_LOAD_AFTER_TIME, UNDER_LOAD_QUEUE_LEN } from '../../src/wireguard/constants.js';

// The responder's "under load" signal: a backlog (handshake messages delivered in one
// event-loop turn, 1/8 of wireguard-go's queue), not a rate.

function harness() {
  const clock = new FakeClock();
  let pending: (() => void) | null = null;
  const load = new HandshakeLoad(UNDER_LOAD_QUEUE_LEN, (fn) => {
    assert.equal(pending, null, 'one end-of-turn callback per burst');
    pending = fn;
  });
  const endTurn = (): void => {
    pending?.();
    pending = null;
  };
  return { clock, load, endTurn };
}

test('handshake load: thousands per second, one per turn, is never under load', () => {
  const { clock, load, endTurn } = harness();
  // 1,024 peers, each handshake on its own wake-up, 5,000 per second for 3 s.
  for (let i = 0; i < 15_000; i++) {
    assert.equal(load.arrived(clock.now()), false, `message ${i}`);
    endTurn();
    clock.advance(0.2);
  }
});

test('handshake load: a closed loop of 32 outstanding (bursts of 32) is never under load', () => {
  const { clock, load, endTurn } = harness();
  for (let turn = 0; turn < 1000; turn++) {
    for (let i = 0; i < 32; i++) assert.equal(load.arrived(clock.now()), false);
    endTurn();
    clock.advance(5);
  }
});

test('handshake load: a backlog of 1/8 of the queue in one turn is under load, for UNDER_LOAD_AFTER_TIME after', () => {
  const { clock, load, endTurn } = harness();
  for (let i = 0; i < UNDER_LOAD_QUEUE_LEN - 1; i++) assert.equal(load.arrived(clock.now()), false);
  assert.equal(load.backlog, UNDER_LOAD_QUEUE_LEN - 1);
  assert.equal(load.arrived(clock.now()), true, 'the 128th in one burst');
  endTurn();
  assert.equal(load.backlog, 0);
  clock.advance(UNDER_LOAD_AFTER_TIME - 1);
  assert.equal(load.arrived(clock.now()), true, 'still under load just before the hold time ends');
  endTurn();
  clock.advance(1);
  assert.equal(load.arrived(clock.now()), false, 'over once the hold time passed without a backlog');
  endTurn();
});

test('handshake load: a sustained flood stays under load', () => {
  const { clock, load, endTurn } = harness();
  for (let turn = 0; turn < 50; turn++) {
    let last = false;
    for (let i = 0; i < 1024; i++) last = load.arrived(clock.now());
    assert.equal(last, true);
    endTurn();
    clock.advance(200);
  }
});

test('handshake load: the default end of turn is a microtask', async () => {
  const load = new HandshakeLoad(3);
  load.arrived(0);
  load.arrived(0);
  await Promise.resolve();
  assert.equal(load.backlog, 0);
  assert.equal(load.arrived(0), false);
});
