// SWIM + Lifeguard parameters: hashicorp/memberlist's DefaultLANConfig, and its formulas
// (memberlist util.go; the comments there say log(N+1), the code uses log10).

/** Fixed by default, so `--seed HOST:PORT` can name a member's port without asking it. */
export const DEFAULT_SERVERLESS_PORT = 41641;

/** `--discovery`: how serverless members find each other beyond mDNS (src/dht/discovery.ts). */
export type DiscoveryMode = 'swim' | 'dht' | 'both';
export const DISCOVERY_MODES: readonly DiscoveryMode[] = ['swim', 'dht', 'both'];

export interface SwimConfig {
  /** Time between failure probes (SWIM's protocol period T′). */
  probeIntervalMs: number;
  /** Wait for a direct ack before asking others to probe; well under the interval. */
  probeTimeoutMs: number;
  /** Members asked to probe indirectly (SWIM's k). */
  indirectChecks: number;
  /** Piggyback retransmits = retransmitMult · ceil(log10(n+1)). */
  retransmitMult: number;
  /** Suspicion minimum = suspicionMult · max(1, log10(n)) · probeInterval. */
  suspicionMult: number;
  /** Suspicion maximum = suspicionMaxTimeoutMult · minimum (Lifeguard starts there). */
  suspicionMaxTimeoutMult: number;
  gossipIntervalMs: number;
  gossipNodes: number;
  /** Dead members still gossiped to for this long, so they learn and refute. */
  gossipToTheDeadMs: number;
  /** Full-state sync with one random member, scaled up past 32 members. */
  pushPullIntervalMs: number;
  /** Lifeguard local health: timeouts scale by (score+1), score in 0…max−1. */
  awarenessMaxMultiplier: number;
}

export const DEFAULT_SWIM_CONFIG: Readonly<SwimConfig> = {
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  retransmitMult: 4,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  gossipIntervalMs: 200,
  gossipNodes: 3,
  gossipToTheDeadMs: 30_000,
  pushPullIntervalMs: 30_000,
  awarenessMaxMultiplier: 8,
};

/** How many times each update is piggybacked (memberlist retransmitLimit). */
export function retransmitLimit(mult: number, n: number): number {
  return mult * Math.ceil(Math.log10(n + 1));
}

/** Lifeguard's minimum suspicion timeout (memberlist suspicionTimeout). */
export function suspicionTimeout(mult: number, n: number, intervalMs: number): number {
  return mult * Math.max(1, Math.log10(Math.max(1, n))) * intervalMs;
}

/**
 * Remaining suspicion time after `confirmations` independent suspects out of `k` wanted:
 * max − (max−min)·log(C+1)/log(K+1), never below min, minus time already elapsed.
 */
export function remainingSuspicionTime(confirmations: number, k: number, elapsedMs: number, minMs: number, maxMs: number): number {
  const frac = k > 0 ? Math.log(confirmations + 1) / Math.log(k + 1) : 1;
  const timeout = Math.max(minMs, Math.floor(maxMs - frac * (maxMs - minMs)));
  return timeout - elapsedMs;
}

/** Push/pull interval grows with log2(n) past 32 members (memberlist pushPullScale). */
export function pushPullScale(intervalMs: number, n: number): number {
  if (n <= 32) return intervalMs;
  return (Math.ceil(Math.log2(n) - Math.log2(32)) + 1) * intervalMs;
}
