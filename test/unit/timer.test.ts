import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../../src/clock.js';
import { Timer } from '../../src/wireguard/timer.js';

function setup(): { clock: FakeClock; timer: Timer; fired: number[] } {
  const clock = new FakeClock(0);
  const fired: number[] = [];
  const timer = new Timer(clock, () => fired.push(clock.now()));
  return { clock, timer, fired };
}

test('timer: fires once at its due time', () => {
  const { clock, timer, fired } = setup();
  timer.mod(100);
  assert.equal(timer.pending, true);
  clock.advance(99);
  assert.deepEqual(fired, []);
  clock.advance(1);
  assert.deepEqual(fired, [100]);
  assert.equal(timer.pending, false);
  clock.advance(1000);
  assert.deepEqual(fired, [100]);
  assert.equal(clock.pending, 0);
});

test('timer: pushed later, it keeps one clock handle and fires at the new time', () => {
  const { clock, timer, fired } = setup();
  timer.mod(100);
  for (let t = 10; t <= 500; t += 10) {
    clock.advance(10);
    timer.mod(100); // every 10 ms, as a stream of packets would
    assert.equal(clock.pending, 1, 'no handle is created while the timer only moves later');
  }
  assert.deepEqual(fired, []);
  clock.advance(99);
  assert.deepEqual(fired, []);
  clock.advance(1);
  assert.deepEqual(fired, [600]);
  assert.equal(clock.pending, 0);
});

test('timer: pulled earlier, it re-arms for the earlier time', () => {
  const { clock, timer, fired } = setup();
  timer.mod(1000);
  clock.advance(10);
  timer.mod(50);
  assert.equal(clock.pending, 1);
  clock.advance(50);
  assert.deepEqual(fired, [60]);
  clock.advance(2000);
  assert.deepEqual(fired, [60], 'the abandoned later deadline does not fire too');
});

test('timer: del cancels a pending timer and frees its handle; mod after del arms anew', () => {
  const { clock, timer, fired } = setup();
  timer.mod(100);
  clock.advance(50);
  timer.mod(100); // due 150, the handle still fires at 100
  timer.del();
  assert.equal(timer.pending, false);
  assert.equal(clock.pending, 0, 'an idle timer holds no clock handle (no wake-up for nothing)');
  clock.advance(500);
  assert.deepEqual(fired, []);
  timer.mod(10);
  clock.advance(10);
  assert.deepEqual(fired, [560]);
});

test('timer: a callback may re-arm its own timer', () => {
  const clock = new FakeClock(0);
  const fired: number[] = [];
  const timer: Timer = new Timer(clock, () => {
    fired.push(clock.now());
    if (fired.length < 3) timer.mod(10);
  });
  timer.mod(10);
  clock.advance(100);
  assert.deepEqual(fired, [10, 20, 30]);
});
