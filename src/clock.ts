// Time is injected so protocol timers (rekey at 120 s, zero keys at 540 s) run in
// milliseconds under test. `now()` is monotonic milliseconds; `wallNow()` is Unix ms.
export interface TimerHandle {
  readonly __timer: true;
}

export interface Clock {
  now(): number;
  wallNow(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t as unknown as TimerHandle;
  },
  clearTimeout: (h) => clearTimeout(h as unknown as NodeJS.Timeout),
};

interface FakeTimer extends TimerHandle {
  due: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

// FakeClock runs due timers in deadline order when advanced; timers armed by a firing
// timer run in the same advance if they fall inside it. Timers sit in a binary heap
// ordered by (due, seq), so simulations with thousands of timers stay fast.
export class FakeClock implements Clock {
  private t: number;
  private readonly wallOffset: number;
  private readonly heap: FakeTimer[] = [];
  private seq = 0;
  private live = 0;

  constructor(startMs = 1_000_000, wallStartMs = Date.UTC(2026, 0, 1)) {
    this.t = startMs;
    this.wallOffset = wallStartMs - startMs;
  }

  now(): number {
    return this.t;
  }

  wallNow(): number {
    return this.t + this.wallOffset;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: FakeTimer = { __timer: true, due: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.push(timer);
    this.live++;
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    const t = handle as FakeTimer;
    if (!t.cancelled) this.live--;
    t.cancelled = true;
  }

  get pending(): number {
    return this.live;
  }

  advance(ms: number): void {
    const end = this.t + ms;
    const h = this.heap;
    while (h.length > 0 && h[0].due <= end) {
      const next = this.pop();
      if (next.cancelled) continue;
      this.t = Math.max(this.t, next.due);
      next.cancelled = true;
      this.live--;
      next.fn();
    }
    this.t = end;
  }

  private static before(a: FakeTimer, b: FakeTimer): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  private push(t: FakeTimer): void {
    const h = this.heap;
    h.push(t);
    for (let i = h.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!FakeClock.before(h[i], h[p])) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  private pop(): FakeTimer {
    const h = this.heap;
    const top = h[0];
    const last = h.pop() as FakeTimer;
    if (h.length > 0) {
      h[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && FakeClock.before(h[l], h[m])) m = l;
        if (r < h.length && FakeClock.before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
}
