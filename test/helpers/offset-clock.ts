import { systemClock, type Clock } from '../../src/clock.js';

/** The system clock, with a wall-time offset a test can move (token expiry, pending logins). */
export class OffsetClock implements Clock {
  offsetMs = 0;
  now = () => systemClock.now();
  wallNow = () => Date.now() + this.offsetMs;
  setTimeout = systemClock.setTimeout;
  clearTimeout = systemClock.clearTimeout;
}
