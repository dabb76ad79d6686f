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
  ) {
    this.global = { tokens: overall.burst, at: clock.now() };
  }

  /** Takes a token for `address`; false (and nothing taken) when either bucket is empty. */
  allow(address: string | undefined): boolean {
    const now = this.clock.now();
    const key = sourceKey(address);
    let b = this.sources.get(key);
    if (b) refill(b, this.perSource, now);
    else {
      if (this.sources.size >= MAX_SOURCES) this.collect(now);
      // A table still full of busy sources refuses new ones rather than growing.
      if (this.sources.size >= MAX_SOURCES) return this.refuse();
      b = { tokens: this.perSource.burst, at: now };
    }
    refill(this.global, this.overall, now);
    if (b.tokens < 1 || this.global.tokens < 1) return this.refuse();
    b.tokens -= 1;
    this.global.tokens -= 1;
    this.sources.set(key, b);
    return true;
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
