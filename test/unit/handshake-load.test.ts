import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/clock.js';
import { HandshakeLoad, INITIAL_HANDSHAKE_COST_MS } from '../../src/wireguard/load.js';
import { UNDER_LOAD_AFTER_TIME, UNDER_LOAD_CPU_SHARE, UNDER_LOAD_QUEUE_LEN } from '../../src/wireguard/constants.js';

// The responder's "under load" signal reflects capacity: a backlog (handshake messages
// delivered in one event-loop turn, 1/8 of wireguard-go's queue) or the CPU share the
// last second's handshakes would take at their measured cost. Not a fixed rate.

function harness(costMs = 0.37) {
  const clock = new FakeClock();
  let pending: (() => void) | null = null;
  const load = new HandshakeLoad({
    endOfTurn: (fn) => {
      assert.equal(pending, null, 'one end-of-turn callback per burst');
      pending = fn;
    },
  });
  for (let i = 0; i < 200; i++) load.spent(costMs); // the measured cost settles
  const endTurn = (): void => {
    pending?.();
    pending = null;
  };
  /** `n` handshakes per second for `seconds`, in bursts of `burst`; returns how many were under load. */
  const offer = (n: number, seconds: number, burst = 1): number => {
    let under = 0;
    const turns = (n * seconds) / burst;
    for (let t = 0; t < turns; t++) {
      for (let i = 0; i < burst; i++) if (load.arrived(clock.now())) under++;
      endTurn();
      clock.advance((1000 * burst) / n);
    }
    return under;
  };
  return { clock, load, endTurn, offer };
}

test('handshake load: a 1,024-peer closed loop below capacity (1,024/s at 0.37 ms, bursts of 32) is never under load', () => {
  const { offer, load } = harness(0.37);
  assert.ok(Math.abs(load.handshakeCostMs - 0.37) < 0.01);
  assert.equal(offer(1024, 5, 32), 0);
});

test('handshake load: thousands per second of cheap handshakes, one per turn, are not under load', () => {
  const { offer } = harness(0.1);
  assert.equal(offer(4000, 3), 0); // 40 % of the thread
});

test('handshake load: offered work past the CPU share is under load, within the second it crosses', () => {
  const { offer } = harness(0.37);
  const perSecond = Math.ceil((UNDER_LOAD_CPU_SHARE * 1000) / 0.37) + 100;
  const under = offer(perSecond, 2, 8);
  assert.ok(under > perSecond, `${under} of ${2 * perSecond} under load`);
});

test('handshake load: a backlog of 1/8 of the queue in one turn is under load, for UNDER_LOAD_AFTER_TIME after', () => {
  const { clock, load, endTurn } = harness(0.01);
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

test('handshake load: a flood stays under load although cookies mean no handshake is processed', () => {
  const { offer } = harness(0.06); // junk initiations cost one DH each
  const n = 20_000;
  assert.ok(offer(n, 3, 16) >= 3 * n - n / 2, 'under load from ~0.42 s on (8,333 arrivals x 0.06 ms = half the thread)');
});

test('handshake load: the cost is a moving average; before any sample it is the documented default', () => {
  const load = new HandshakeLoad();
  assert.equal(load.handshakeCostMs, INITIAL_HANDSHAKE_COST_MS);
  load.spent(NaN);
  load.spent(-1);
  assert.equal(load.handshakeCostMs, INITIAL_HANDSHAKE_COST_MS, 'bad samples ignored');
  load.spent(INITIAL_HANDSHAKE_COST_MS + 1.6);
  assert.ok(Math.abs(load.handshakeCostMs - (INITIAL_HANDSHAKE_COST_MS + 0.1)) < 1e-9);
});

test('handshake load: the default end of turn is a microtask', async () => {
  const load = new HandshakeLoad({ threshold: 3 });
  load.arrived(0);
  load.arrived(0);
  await Promise.resolve();
  assert.equal(load.backlog, 0);
  assert.equal(load.arrived(0), false);
});
