import { systemClock, type Clock } from '../../src/clock.js';

/** The system clock, with offsets a test can move: wall time (token expiry) and monotonic time (timeouts). */
export class OffsetClock implements Clock {
  offsetMs = 0;
  monotonicOffsetMs = 0;
  now = () => systemClock.now() + this.monotonicOffsetMs;
  wallNow = () => Date.now() + this.offsetMs;
  setTimeout = systemClock.setTimeout;
  clearTimeout = systemClock.clearTimeout;
}
