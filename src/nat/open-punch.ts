import type { Clock, TimerHandle } from '../clock.js';
import type { Endpoint } from '../io/endpoint.js';
import type { Logger } from '../log.js';
import { publicCandidates } from './birthday.js';
import type { PeerPath } from './peer-path.js';
import { QUICK_ATTEMPTS } from './peer-path.js';

// The open-router punch (docs/NAT.md, "Plain Linux routers that accept UDP to
// themselves"): two endpoint-independent NATs whose routers deliver a peer's early probe
// to themselves. That probe leaves a conntrack entry that makes MASQUERADE remap the
// inside host's port, so the quick probe rounds never open a path. The schedule, per
// attempt, with the opener O, the keeper K and a wait W > the routers' UDP conntrack
// timeout (unknown to us: 35 s first, then longer waits, roles alternating):
//
//   O asks K through the relay (a Punch message), K acks; both stop normal probes to
//   each other's public endpoints.
//   0..W   O is silent towards K's public endpoints (router O's entries expire); K sends
//          TTL-1 packets to O's public endpoints every second: they refresh router K's
//          outbound entry but die in router K's forwarding, never reaching router O.
//   W      O sends one real probe (router O maps it with O's port, all its entries gone).
//          If router K's refreshed entry kept K's port, the probe matches it and reaches
//          K: the path opens now. Else it only poisons router K, as before.
//   W..    O refreshes its new entry with TTL-1 packets every second; K is silent.
//   2W     K probes every 200 ms for 5 s: router K's entries (its own and the poison) have
//          expired, so K keeps its port and the probe matches router O's refreshed entry.
//
// Traffic stays on the relay throughout; a pong confirms the path as usual. A TTL of 1
// is one NAT: a refresher behind two NATs (CGNAT) refreshes only the inner one, and the
// next attempt swaps the roles.

/** The wait per attempt, seconds (attempt i's opener: the lower key when i is even). */
export const PUNCH_WAITS_S = [35, 35, 65, 65, 185, 185];
const ASK_EVERY_MS = 1000;
const ASKS = 5;
const REFRESH_MS = 1000;
const PROBE_EVERY_MS = 200;
const PROBE_MS = 5000;
/** The opener refreshes this long past the keeper's probes (clocks start a relay trip apart). */
const TAIL_MS = 3000;
/** Between one failed attempt and the next. */
const NEXT_GAP_MS = 1000;
/** A peer that did not answer an ask is not asked again for this long (new quick rounds or not). */
const NO_ANSWER_MS = 10 * 60_000;
/** After the quick rounds' last full probe, this long for their pongs. */
const QUICK_SETTLE_MS = 1000;
export const PUNCH_TTL = 1;

export type PunchPhase = 'ask' | 'quiet' | 'refresh' | 'keep' | 'wait' | 'probe';

interface Run {
  role: 'opener' | 'keeper';
  attempt: number;
  waitMs: number;
  phase: PunchPhase;
  /** Start of the schedule: the ack's arrival (opener), the ask's (keeper); or the first ask. */
  t0: number;
  asks: number;
  timer: TimerHandle | null;
}

interface PeerPunch {
  next: number;
  over: boolean;
  notBefore: number;
  /** Until when a peer that never acked is left alone. */
  quietUntil: number;
  run: Run | null;
}

export interface PunchSignal {
  attempt: number;
  ack: boolean;
  waitS: number;
}

export interface PunchHost {
  clock: Clock;
  logger: Logger;
  ownKey: Uint8Array;
  natInfo?: () => { udp: boolean | null; hard: boolean | null };
  /** Whether the socket sends with a TTL (the dgram fallback cannot). */
  canTtl(): boolean;
  isCurrent(p: PeerPath): boolean;
  /** A Punch message through the relay. */
  signal(p: PeerPath, s: PunchSignal): void;
  /** A disco ping to `ep`: a normal one (ttl null), or one that dies after `ttl` hops. */
  probe(p: PeerPath, ep: Endpoint, ttl: number | null): void;
}

/** The peer's public IPv4 candidates: the endpoints a NAT maps. */
export function punchTargets(p: PeerPath): Endpoint[] {
  return publicCandidates(p).filter((e) => e.isV4);
}

/** Whether we open attempt `attempt` with peer key `peer`: the lower key opens the even ones. */
export function opensAttempt(own: Uint8Array, peer: Uint8Array, attempt: number): boolean {
  return Buffer.compare(own, peer) < 0 === (attempt % 2 === 0);
}

export class OpenPunch {
  private readonly peers = new WeakMap<PeerPath, PeerPunch>();

  constructor(private readonly host: PunchHost) {}

  /** Our own NAT fits: UDP works and the mapping is endpoint-independent, and we can send with a TTL. */
  private eligible(): boolean {
    const nat = this.host.natInfo?.();
    return nat?.hard === false && nat.udp !== false && this.host.canTtl();
  }

  private state(p: PeerPath): PeerPunch {
    let s = this.peers.get(p);
    if (!s) this.peers.set(p, (s = { next: 0, over: false, notBefore: -Infinity, quietUntil: -Infinity, run: null }));
    return s;
  }

  /** The current run's phase for `p`, if one runs (status and tests). */
  phase(p: PeerPath): { role: 'opener' | 'keeper'; attempt: number; phase: PunchPhase } | null {
    const r = this.peers.get(p)?.run;
    return r ? { role: r.role, attempt: r.attempt, phase: r.phase } : null;
  }

  /** Whether normal probes to `ep` must wait: a run for `p` needs the peer's router left alone. */
  holds(p: PeerPath, ep: Endpoint): boolean {
    const run = this.peers.get(p)?.run;
    return run !== null && run !== undefined && punchTargets(p).some((e) => e.equals(ep));
  }

  /** Heartbeat, per peer without a direct path: opens an attempt when the quick rounds failed and it is ours. */
  consider(p: PeerPath, now: number): void {
    const s = this.state(p);
    if (p.attempts < QUICK_ATTEMPTS) {
      // Quick rounds again (a path lost, new endpoints, our network changed): start over.
      if (!s.run) Object.assign(s, { next: 0, over: false, notBefore: -Infinity });
      return;
    }
    if (s.run || s.over || now < s.notBefore || now < s.quietUntil || now - p.lastFull < QUICK_SETTLE_MS) return;
    if (s.next >= PUNCH_WAITS_S.length) {
      s.over = true;
      return;
    }
    if (!opensAttempt(this.host.ownKey, p.key, s.next) || !this.eligible() || punchTargets(p).length === 0) return;
    this.begin(p, s, { role: 'opener', attempt: s.next, waitMs: PUNCH_WAITS_S[s.next] * 1000, phase: 'ask', t0: now, asks: 0, timer: null });
  }

  /** A Punch message from `p` (authentic, through the relay). */
  receive(p: PeerPath, m: PunchSignal, now: number): void {
    const s = this.state(p);
    const run = s.run;
    if (m.ack) {
      if (run?.role !== 'opener' || run.phase !== 'ask' || run.attempt !== m.attempt) return;
      run.phase = 'quiet';
      run.t0 = now;
      this.log(p, run, 'the peer keeps; quiet until the probe');
      this.arm(p, run, run.waitMs);
      return;
    }
    // An ask: we keep for the peer's attempt, unless we cannot or a later one of ours runs.
    if (p.direct(now) || !this.eligible() || punchTargets(p).length === 0) return;
    if (opensAttempt(this.host.ownKey, p.key, m.attempt)) return; // not ours to keep
    if (run && run.role === 'keeper' && run.attempt === m.attempt) {
      this.host.signal(p, { attempt: m.attempt, ack: true, waitS: m.waitS });
      return;
    }
    if (run && run.role === 'opener' && run.attempt > m.attempt) return;
    this.stop(s);
    s.over = false;
    s.next = m.attempt;
    this.host.signal(p, { attempt: m.attempt, ack: true, waitS: m.waitS });
    this.begin(p, s, { role: 'keeper', attempt: m.attempt, waitMs: m.waitS * 1000, phase: 'keep', t0: now, asks: 0, timer: null });
  }

  /** A direct path to `p` was confirmed: any run ends; a later loss starts from the first attempt. */
  confirmed(p: PeerPath): void {
    const s = this.peers.get(p);
    if (!s) return;
    if (s.run) this.log(p, s.run, 'direct path confirmed');
    this.stop(s);
    this.peers.delete(p);
  }

  private begin(p: PeerPath, s: PeerPunch, run: Run): void {
    s.run = run;
    this.log(p, run, `attempt started, wait ${run.waitMs / 1000} s`);
    this.step(p, s, run);
  }

  private stop(s: PeerPunch): void {
    if (s.run?.timer) this.host.clock.clearTimeout(s.run.timer);
    s.run = null;
  }

  private arm(p: PeerPath, run: Run, ms: number): void {
    const s = this.state(p);
    if (run.timer) this.host.clock.clearTimeout(run.timer);
    run.timer = this.host.clock.setTimeout(() => {
      run.timer = null;
      if (s.run === run) this.step(p, s, run);
    }, Math.max(0, ms));
  }

  /** The attempt ended without a path: the next one (ours or the peer's) after a gap; past the last, none. */
  private fail(p: PeerPath, s: PeerPunch, run: Run, why: string): void {
    this.log(p, run, why);
    this.stop(s);
    s.next = run.attempt + 1;
    s.notBefore = this.host.clock.now() + NEXT_GAP_MS;
    if (s.next >= PUNCH_WAITS_S.length) s.over = true;
  }

  private send(p: PeerPath, ttl: number | null): void {
    for (const ep of punchTargets(p)) this.host.probe(p, ep, ttl);
  }

  private step(p: PeerPath, s: PeerPunch, run: Run): void {
    const host = this.host;
    const now = host.clock.now();
    if (!host.isCurrent(p) || p.direct(now)) return this.stop(s);
    const t = now - run.t0;
    const w = run.waitMs;
    switch (run.phase) {
      case 'ask':
        if (run.asks >= ASKS) {
          this.fail(p, s, run, 'no answer: the peer cannot keep (hard NAT, no TTL, or an older version)');
          s.over = true;
          s.quietUntil = now + NO_ANSWER_MS;
          return;
        }
        run.asks++;
        host.signal(p, { attempt: run.attempt, ack: false, waitS: w / 1000 });
        return this.arm(p, run, ASK_EVERY_MS);
      case 'quiet':
        if (t < w) return this.arm(p, run, w - t);
        run.phase = 'refresh';
        this.send(p, null);
        return this.arm(p, run, REFRESH_MS);
      case 'refresh':
        if (t >= 2 * w + PROBE_MS + TAIL_MS) return this.fail(p, s, run, 'no path: the peer probed in vain');
        this.send(p, PUNCH_TTL);
        return this.arm(p, run, REFRESH_MS);
      case 'keep':
        if (t >= w) {
          run.phase = 'wait';
          return this.arm(p, run, 2 * w - t);
        }
        this.send(p, PUNCH_TTL);
        return this.arm(p, run, Math.min(REFRESH_MS, w - t));
      case 'wait':
        if (t < 2 * w) return this.arm(p, run, 2 * w - t);
        run.phase = 'probe';
        return this.step(p, s, run);
      case 'probe':
        if (t >= 2 * w + PROBE_MS) return this.fail(p, s, run, 'no path: our probes went unanswered');
        this.send(p, null);
        return this.arm(p, run, PROBE_EVERY_MS);
    }
  }

  private log(p: PeerPath, run: Run, msg: string): void {
    this.host.logger.info({ peer: p.b64.slice(0, 8), attempt: run.attempt, role: run.role, phase: run.phase }, `open-router punch: ${msg}`);
  }
}
