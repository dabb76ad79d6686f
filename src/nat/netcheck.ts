import http from 'node:http';
import https from 'node:https';
import { systemClock, type Clock } from '../clock.js';
import type { Endpoint } from '../io/endpoint.js';
import { WeftError } from '../errors.js';
import type { BindingResult, StunClient } from './stun-client.js';

// netcheck: what the network between this node and the relays looks like. All STUN
// probes leave from ONE local socket (the caller's StunClient), so differing mapped
// addresses across servers mean the NAT maps per destination (endpoint-dependent, "hard"
// NAT) and hole punching needs more than the STUN address. No STUN answer at all means
// UDP is blocked; relays STUN could not time get their latency over TCP (HTTP) instead.

export interface NetcheckRelay {
  /** Stable identifier, e.g. the relay URL or a region name. */
  id: string;
  /** The relay's STUN endpoint(s). */
  stun: Endpoint[];
  /** ws:// or wss:// URL, for the TCP latency fallback. */
  url?: string;
}

export interface NetcheckOptions {
  stun: StunClient;
  relays: NetcheckRelay[];
  /** STUN servers that are not relays; they count for mapping detection only. */
  stunServers?: Endpoint[];
  /** Per-probe deadline (default 3 s). */
  timeoutMs?: number;
  /** The current home relay, kept unless another is clearly better (hysteresis). */
  previousPreferred?: string | null;
  /** TCP latency to a relay URL; default timeTcpLatency (HTTP(S) GET round trip). */
  tcpLatency?: (url: string, signal: AbortSignal) => Promise<number>;
  clock?: Clock;
  signal?: AbortSignal;
}

export interface NetcheckProbe {
  server: string;
  relay: string | null;
  mapped: string | null;
  rttMs: number | null;
  error: string | null;
}

export interface RelayLatency {
  ms: number;
  via: 'stun' | 'tcp';
}

export interface NetcheckReport {
  /** Any STUN answer arrived. */
  udp: boolean;
  ipv4: boolean;
  ipv6: boolean;
  /** Public mapped addresses (ip:port) as seen by the first answering server of each family. */
  globalV4: string | null;
  globalV6: string | null;
  /** True: endpoint-dependent mapping; null: fewer than two servers of a family answered. */
  mappingVariesByDestIP: boolean | null;
  relayLatency: Record<string, RelayLatency>;
  preferredRelay: string | null;
  probes: NetcheckProbe[];
}

/**
 * Lowest latency wins, but the previous home relay is kept unless the best one is at
 * least 10 ms faster AND under 2/3 of the previous one's latency (Tailscale's rule), so
 * the home relay does not flap between two similar ones.
 */
export function choosePreferredRelay(latency: ReadonlyMap<string, number>, previous?: string | null): string | null {
  let best: string | null = null;
  let bestMs = Infinity;
  for (const [id, ms] of latency) {
    if (ms < bestMs) {
      best = id;
      bestMs = ms;
    }
  }
  if (best === null || !previous || previous === best) return best;
  const old = latency.get(previous);
  if (old === undefined) return best;
  return old - bestMs >= 10 && bestMs < (old * 2) / 3 ? best : previous;
}

/** Whether mapped addresses differ across distinct servers; null with fewer than two answers. */
function varies(results: BindingResult[]): boolean | null {
  const byServer = new Map<string, string>();
  for (const r of results) byServer.set(r.server.key, r.mapped.key);
  if (byServer.size < 2) return null;
  return new Set(byServer.values()).size > 1;
}

export async function netcheck(o: NetcheckOptions): Promise<NetcheckReport> {
  const clock = o.clock ?? systemClock;
  const timeoutMs = o.timeoutMs ?? 3_000;
  const targets: Array<{ server: Endpoint; relay: string | null }> = [
    ...o.relays.flatMap((r) => r.stun.map((server) => ({ server, relay: r.id }))),
    ...(o.stunServers ?? []).map((server) => ({ server, relay: null })),
  ];
  const outcomes = await Promise.all(targets.map((t) => probe(o.stun, t.server, timeoutMs, clock, o.signal)));
  if (o.signal?.aborted) throw new WeftError('ERR_ABORTED', 'netcheck aborted');

  const probes: NetcheckProbe[] = [];
  const ok: BindingResult[] = [];
  const latency = new Map<string, number>();
  const relayLatency: Record<string, RelayLatency> = {};
  targets.forEach((t, i) => {
    const r = outcomes[i];
    if (r instanceof Error) {
      probes.push({ server: t.server.key, relay: t.relay, mapped: null, rttMs: null, error: (r as WeftError).code ?? r.message });
      return;
    }
    ok.push(r);
    probes.push({ server: t.server.key, relay: t.relay, mapped: r.mapped.key, rttMs: r.rttMs, error: null });
    if (t.relay !== null && r.rttMs < (latency.get(t.relay) ?? Infinity)) latency.set(t.relay, r.rttMs);
  });
  for (const [id, ms] of latency) relayLatency[id] = { ms, via: 'stun' };

  // Relays STUN could not time (UDP blocked, or their STUN port down) are timed over TCP.
  const measure = o.tcpLatency ?? ((url: string, signal: AbortSignal) => timeTcpLatency(url, signal, clock));
  await Promise.all(
    o.relays.map(async (r) => {
      if (!r.url || latency.has(r.id)) return;
      const ac = new AbortController();
      const stop = (): void => ac.abort();
      o.signal?.addEventListener('abort', stop, { once: true });
      const timer = clock.setTimeout(stop, timeoutMs);
      try {
        const ms = await measure(r.url, ac.signal);
        latency.set(r.id, ms);
        relayLatency[r.id] = { ms, via: 'tcp' };
      } catch {
        // Unreachable over TCP too: the relay gets no latency entry and cannot be preferred.
      } finally {
        clock.clearTimeout(timer);
        o.signal?.removeEventListener('abort', stop);
      }
    }),
  );
  if (o.signal?.aborted) throw new WeftError('ERR_ABORTED', 'netcheck aborted');

  const v4 = ok.filter((r) => r.mapped.isV4);
  const v6 = ok.filter((r) => !r.mapped.isV4);
  const v4Varies = varies(v4);
  const v6Varies = varies(v6);
  return {
    udp: ok.length > 0,
    ipv4: v4.length > 0,
    ipv6: v6.length > 0,
    globalV4: v4[0]?.mapped.key ?? null,
    globalV6: v6[0]?.mapped.key ?? null,
    mappingVariesByDestIP: v4Varies === true || v6Varies === true ? true : (v4Varies ?? v6Varies),
    relayLatency,
    preferredRelay: choosePreferredRelay(latency, o.previousPreferred),
    probes,
  };
}

async function probe(stun: StunClient, server: Endpoint, timeoutMs: number, clock: Clock, signal?: AbortSignal): Promise<BindingResult | Error> {
  const ac = new AbortController();
  let timedOut = false;
  const onAbort = (): void => ac.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  const timer = clock.setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, timeoutMs);
  try {
    return await stun.binding(server, { signal: ac.signal });
  } catch (err) {
    return timedOut ? new WeftError('ERR_STUN_TIMEOUT', `no STUN answer from ${server.key} within ${timeoutMs} ms`) : (err as Error);
  } finally {
    clock.clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * TCP-path latency to a relay: two GETs of its URL (ws→http, wss→https) on one
 * keep-alive connection; the second one is a single round trip, so the faster of the two
 * is reported. Any HTTP status counts — only the timing matters.
 */
export async function timeTcpLatency(url: string, signal: AbortSignal, clock: Clock = systemClock): Promise<number> {
  const target = new URL(url.replace(/^ws/, 'http'));
  const mod = target.protocol === 'https:' ? https : http;
  const agent = new mod.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    let best = Infinity;
    for (let i = 0; i < 2; i++) {
      const t0 = clock.now();
      await new Promise<void>((resolve, reject) => {
        const req = mod.get(target, { agent, signal }, (res) => {
          res.resume();
          res.on('end', resolve);
          res.on('error', reject);
        });
        req.on('error', reject);
      });
      best = Math.min(best, clock.now() - t0);
    }
    return best;
  } finally {
    agent.destroy();
  }
}
