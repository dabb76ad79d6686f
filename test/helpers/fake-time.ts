import type { FakeClock } from '../../src/clock.js';
import type { FakeNetwork } from '../../src/io/bind-fake.js';

// Driving a fake clock and the in-memory network together: time moves in small steps,
// and between steps the network delivers and real I/O (a relay on loopback) gets a turn.

/** Advances fake time in `stepMs` steps until `done` or `ms` pass; returns the fake ms taken. */
export async function run(clock: FakeClock, net: FakeNetwork, ms: number, done: () => boolean = () => false, stepMs = 10): Promise<number> {
  const start = clock.now();
  while (clock.now() - start < ms && !done()) {
    clock.advance(stepMs);
    await net.flush();
    await new Promise((r) => setImmediate(r));
    await net.flush();
  }
  return clock.now() - start;
}

/** As waitFor, on fake time: whether `cond` held within `ms`. */
export async function until(clock: FakeClock, net: FakeNetwork, cond: () => boolean, ms: number): Promise<boolean> {
  await run(clock, net, ms, cond);
  return cond();
}
