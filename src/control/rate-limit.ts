import ipaddr from 'ipaddr.js';
import type { Clock } from '../clock.js';

// Token buckets for registrations of new node keys, the one node-authenticated path a
// stranger may take: one bucket per source (IPv4 /32, IPv6 /64 — one host usually owns
// a whole /64) and one for the whole server, so many sources together cannot spend
// more than the global rate either. Idle buckets are dropped once they would be full.

export interface RateLimit {
  perSecond: number;
  burst: number;
}

/** Per source: a burst of 100 (a fleet rollout behind one NAT), then 10 per second. */
export const DEFAULT_REGISTER_LIMIT: RateLimit = { perSecond: 10, burst: 100 };
/** All sources together. */
export const DEFAULT_REGISTER_GLOBAL_LIMIT: RateLimit = { perSecond: 200, burst: 1000 };
/** Failed admin API-key checks per source: each costs a database read. */
export const ADMIN_FAILURE_LIMIT: RateLimit = { perSecond: 1, burst: 20 };
export const ADMIN_FAILURE_GLOBAL_LIMIT: RateLimit = { perSecond: 50, burst: 200 };
const MAX_SOURCES = 1 << 16;

interface Bucket {
  tokens: number;
  at: number;
}

function refill(b: Bucket, limit: RateLimit, now: number): void {
  b.tokens = Math.min(limit.burst, b.tokens + ((now - b.at) / 1000) * limit.perSecond);
  b.at = now;
}

export function sourceKey(address: string | undefined): string {
  if (!address || !ipaddr.isValid(address)) return 'unknown';
  const a = ipaddr.process(address);
  if (a.kind() === 'ipv4') return a.toString();
  return (a as ipaddr.IPv6).parts.slice(0, 4).join(':') + '::/64';
}

export class SourceRateLimiter {
  private readonly sources = new Map<string, Bucket>();
  private readonly global: Bucket;
  /** Requests refused, for the logs and tests. */
  refused = 0;

  constructor(
    private readonly clock: Clock,
    private readonly perSource: RateLimit = DEFAULT_REGISTER_LIMIT,
    private readonly overall: RateLimit = DEFAULT_REGISTER_GLOBAL_LIMIT,
    /** What shares a bucket: by default the source address (/64 for IPv6); e.g. a login name. */
    private readonly keyOf: (k: string | undefined) => string = sourceKey,
  ) {
    this.global = { tokens: overall.burst, at: clock.now() };
  }

  /** Takes a token for `address`; false (and nothing taken) when either bucket is empty. */
  allow(address: string | undefined): boolean {
    const key = this.keyOf(address);
    const b = this.current(key);
    if (!b) return this.refuse();
    if (b.tokens < 1 || this.global.tokens < 1) return this.refuse();
    b.tokens -= 1;
    this.global.tokens -= 1;
    this.sources.set(key, b);
    return true;
  }

  /** Whether `allow` would pass now, taking nothing (to check before work that costs). */
  wouldAllow(address: string | undefined): boolean {
    const b = this.current(this.keyOf(address));
    return b !== null && b.tokens >= 1 && this.global.tokens >= 1;
  }

  // Both buckets refilled to now; a new source gets a full bucket (not stored until it
  // spends), or null when the table is still full of busy sources after collecting.
  private current(key: string): Bucket | null {
    const now = this.clock.now();
    refill(this.global, this.overall, now);
    const b = this.sources.get(key);
    if (b) {
      refill(b, this.perSource, now);
      return b;
    }
    if (this.sources.size >= MAX_SOURCES) this.collect(now);
    return this.sources.size >= MAX_SOURCES ? null : { tokens: this.perSource.burst, at: now };
  }

  private refuse(): false {
    this.refused++;
    return false;
  }

  private collect(now: number): void {
    const fullAfterMs = (this.perSource.burst / this.perSource.perSecond) * 1000;
    for (const [k, b] of this.sources) if (now - b.at >= fullAfterMs) this.sources.delete(k);
  }
}
