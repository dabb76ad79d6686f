import type { Clock, TimerHandle } from '../clock.js';
import { systemClock } from '../clock.js';
import { RATELIMIT_BURST, RATELIMIT_PACKETS_PER_SECOND } from './constants.js';

// Token bucket per source address for handshake messages under load (kernel
// ratelimiter.c): every source starts with a burst of RATELIMIT_BURST and refills at
// RATELIMIT_PACKETS_PER_SECOND. IPv4 sources are keyed by /32, IPv6 by /64, since one
// host usually owns a whole /64. Tokens are counted in milliseconds of credit.

const PACKET_COST = 1000 / RATELIMIT_PACKETS_PER_SECOND; // ms of credit one packet uses
const TOKEN_MAX = PACKET_COST * RATELIMIT_BURST;
/** Entries idle longer than this are dropped by the collector, which runs this often. */
export const RATELIMIT_GC_INTERVAL = 1000;
export const RATELIMIT_MAX_ENTRIES = 1 << 16;

interface Bucket {
  lastTime: number;
  tokens: number;
}

export class Ratelimiter {
  private readonly table = new Map<number | string, Bucket>();
  private gcTimer: TimerHandle | null = null;
  private closed = false;
  private readonly clock: Clock;
  private readonly maxEntries: number;

  constructor(opts: { clock?: Clock; maxEntries?: number } = {}) {
    this.clock = opts.clock ?? systemClock;
    this.maxEntries = opts.maxEntries ?? RATELIMIT_MAX_ENTRIES;
  }

  get size(): number {
    return this.table.size;
  }

  /** src18 is an endpoint's 18 bytes (IPv6 or IPv4-mapped address, then port). */
  allow(src18: Uint8Array): boolean {
    if (this.closed || src18.length < 16) return false;
    const key = sourceKey(src18);
    const now = this.clock.now();
    const b = this.table.get(key);
    if (b) {
      b.tokens = Math.min(TOKEN_MAX, b.tokens + (now - b.lastTime));
      b.lastTime = now;
      if (b.tokens < PACKET_COST) return false;
      b.tokens -= PACKET_COST;
      return true;
    }
    // A full table refuses new sources rather than growing without bound under a flood.
    if (this.table.size >= this.maxEntries) return false;
    this.table.set(key, { lastTime: now, tokens: TOKEN_MAX - PACKET_COST });
    this.gcTimer ??= this.clock.setTimeout(() => this.gc(), RATELIMIT_GC_INTERVAL);
    return true;
  }

  close(): void {
    this.closed = true;
    if (this.gcTimer) this.clock.clearTimeout(this.gcTimer);
    this.gcTimer = null;
    this.table.clear();
  }

  private gc(): void {
    this.gcTimer = null;
    const now = this.clock.now();
    for (const [k, b] of this.table) if (now - b.lastTime > RATELIMIT_GC_INTERVAL) this.table.delete(k);
    // Only keep ticking while there is something to collect.
    if (this.table.size > 0) this.gcTimer = this.clock.setTimeout(() => this.gc(), RATELIMIT_GC_INTERVAL);
  }
}

function sourceKey(b: Uint8Array): number | string {
  let mapped = b[10] === 0xff && b[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) mapped = b[i] === 0;
  if (mapped) return ((b[12] << 24) | (b[13] << 16) | (b[14] << 8) | b[15]) >>> 0;
  const hi = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
  const lo = ((b[4] << 24) | (b[5] << 16) | (b[6] << 8) | b[7]) >>> 0;
  return `${hi}:${lo}`; // the /64; strings keep it distinct from IPv4 number keys
}
