import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../src/clock.js';
import { Endpoint } from '../../src/io/endpoint.js';
import { Ratelimiter, RATELIMIT_GC_INTERVAL } from '../../src/wireguard/ratelimiter.js';
import { RATELIMIT_BURST, RATELIMIT_PACKETS_PER_SECOND } from '../../src/wireguard/constants.js';

const COST_MS = 1000 / RATELIMIT_PACKETS_PER_SECOND;

// The kernel's selftest/ratelimiter.c expected_results: [result, ms to sleep before].
const EXPECTED: Array<[boolean, number]> = [
  ...Array.from({ length: RATELIMIT_BURST }, (): [boolean, number] => [true, 0]),
  [false, 0],
  [true, COST_MS],
  [false, 0],
  [true, COST_MS * 2],
  [true, 0],
  [false, 0],
];

const v4 = (n: number, port = 1): Uint8Array => Endpoint.of(`${n >>> 24}.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, port).bytes;
function v6(w: [number, number, number, number], port = 1): Uint8Array {
  const ip = w.map((x) => [(x >>> 16).toString(16), (x & 0xffff).toString(16)].join(':')).join(':');
  return Endpoint.of(ip, port).bytes;
}

test('kernel ratelimiter.c timings test', () => {
  const clock = new FakeClock();
  const rl = new Ratelimiter({ clock });
  const base4 = 8182;
  EXPECTED.forEach(([want, sleep], i) => {
    clock.advance(sleep);
    assert.equal(rl.allow(v4(base4, 1000 + i)), want, `v4 step ${i}`); // port ignored
    assert.equal(rl.allow(v4(base4 + i + 1)), true, `other v4 source ${i}`);
    // Same /64, different interface id: shares the bucket.
    assert.equal(rl.allow(v6([1212, 289188, i, i])), want, `v6 step ${i}`);
    assert.equal(rl.allow(v6([1212 + i + 1, 289188, i, i])), true, `other v6 /64 ${i}`);
  });
  rl.close();
  assert.equal(clock.pending, 0);
});

test('kernel ratelimiter.c capacity test and garbage collection', () => {
  const clock = new FakeClock();
  const max = 4096;
  const rl = new Ratelimiter({ clock, maxEntries: max });
  for (let i = 0; i <= max; i++) assert.equal(rl.allow(v4(i)), i !== max, `entry ${i}`);
  assert.equal(rl.size, max);
  // Idle entries disappear after the collector runs; then new sources fit again.
  clock.advance(RATELIMIT_GC_INTERVAL * 2 + 1);
  assert.equal(rl.size, 0);
  assert.equal(clock.pending, 0); // collector stops when empty
  assert.equal(rl.allow(v4(max)), true);
  rl.close();
  assert.equal(clock.pending, 0);
  assert.equal(rl.allow(v4(1)), false);
});

test('tokens refill to the burst cap, active entries survive gc', () => {
  const clock = new FakeClock();
  const rl = new Ratelimiter({ clock });
  const src = Endpoint.parse('[2001:db8::1]:5').bytes;
  for (let i = 0; i < RATELIMIT_BURST; i++) assert.equal(rl.allow(src), true);
  assert.equal(rl.allow(src), false);
  clock.advance(60_000); // long idle still only refills a burst
  for (let i = 0; i < RATELIMIT_BURST; i++) assert.equal(rl.allow(src), true);
  assert.equal(rl.allow(src), false);
  for (let t = 0; t < 5000; t += COST_MS) {
    clock.advance(COST_MS);
    assert.equal(rl.allow(src), true); // steady 20/s is always allowed
  }
  assert.equal(rl.size, 1);
  rl.close();
  assert.equal(clock.pending, 0);
});
