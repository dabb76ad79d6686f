import type { Clock, TimerHandle } from '../clock.js';
import { Endpoint } from '../io/endpoint.js';
import type { Logger } from '../log.js';
import { publicCandidates } from './birthday.js';
import { PUNCH_SOCK_BASE } from './extra-sockets.js';
import type { PeerPath } from './peer-path.js';
import { QUICK_ATTEMPTS } from './peer-path.js';

// The open-router punch (docs/NAT.md, "Plain Linux routers that accept UDP to
// themselves"): two endpoint-independent NATs whose routers deliver a peer's early probe
// to themselves. That probe leaves a conntrack entry that makes MASQUERADE remap the
// inside host's port, so the quick probe rounds never open a path, and a remapped flow
// makes every new flow from that socket leave from the remapped port too (Linux reuses a
// source's latest mapping). So each side punches from a fresh socket of its own: its
// only flow is the punch's, and its public port is its local port (a port-preserving
// NAT, as Linux's MASQUERADE is). The schedule, per attempt, with the opener O, the
// keeper K and a wait W > the routers' UDP conntrack timeout (unknown to us: 35 s first,
// then longer waits, roles alternating):
//
//   O opens its punch socket and asks K through the relay (a Punch message with that
//   socket's port); K opens its own and acks with its port.
//   K, at once: one real probe from its punch socket to O's. Router K maps it (a fresh
//   source keeps its port); router O, where O has not sent yet, takes it for itself and
//   keeps that tuple blocked for one conntrack timeout. Then every second a TTL-1 probe,
//   which refreshes router K's entry but dies in router K's forwarding.
//   O is silent on its punch socket until W: router O's blocked tuple expires.
//   W      O probes K's punch socket every 200 ms for 5 s: router O maps O's fresh
//          socket with its own port, and router K's refreshed entry lets it in. The pong
//          confirms a path on the punch sockets, which then carry WireGuard.
//
// Traffic stays on the relay meanwhile. A TTL of 1 is one NAT: a keeper behind two NATs
// (CGNAT) refreshes only the inner one, and the next attempt swaps the roles.

/** The wait per attempt, seconds (attempt i's opener: the lower key when i is even). */
export const PUNCH_WAITS_S = [35, 35, 65, 65, 185, 185];
const ASK_EVERY_MS = 1000;
const ASKS = 5;
const REFRESH_MS = 1000;
const PROBE_EVERY_MS = 200;
const PROBE_MS = 5000;
/** The keeper refreshes this long past the opener's probes (clocks start a relay trip apart). */
const TAIL_MS = 3000;
/** Between one failed attempt and the next. */
const NEXT_GAP_MS = 1000;
/** A peer that did not answer an ask is not asked again for this long (new quick rounds or not). */
const NO_ANSWER_MS = 10 * 60_000;
/** After the quick rounds' last full probe, this long for their pongs. */
const QUICK_SETTLE_MS = 1000;
export const PUNCH_TTL = 1;

export type PunchPhase = 'open' | 'ask' | 'quiet' | 'probe' | 'keep';

interface Run {
  role: 'opener' | 'keeper';
  attempt: number;
  waitMs: number;
  phase: PunchPhase;
  /** Start of the schedule: the ack's arrival (opener), the ack's sending (keeper); or the first ask. */
  t0: number;
  asks: number;
  timer: TimerHandle | null;
  /** Our punch socket's port once open, and the peer's. */
  port: number;
  peerPort: number;
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
  /** The sender's punch socket's port. */
  port: number;
}

export interface PunchHost {
  clock: Clock;
  logger: Logger;
  ownKey: Uint8Array;
  natInfo?: () => { udp: boolean | null; hard: boolean | null };
  /** Whether punch sockets can be opened and send with a TTL (the dgram fallback cannot). */
  canPunch(): boolean;
  isCurrent(p: PeerPath): boolean;
  /** A Punch message through the relay. */
  signal(p: PeerPath, s: PunchSignal): void;
  /** Opens extra socket `sock` on a random port; resolves that port, or null. */
  openSocket(sock: number): Promise<number | null>;
  closeSocket(sock: number): void;
  /** A disco ping to `ep` from socket `sock`: a tracked one (ttl null), or one that dies after `ttl` hops. */
  probe(p: PeerPath, ep: Endpoint, sock: number, ttl: number | null): void;
}

/** The peer's punch socket at each of its public IPv4 addresses. */
export function punchTargets(p: PeerPath, port: number): Endpoint[] {
  const ips = new Set(publicCandidates(p).filter((e) => e.isV4).map((e) => e.ip));
  return [...ips].map((ip) => Endpoint.of(ip, port));
}

/** Whether we open attempt `attempt` with peer key `peer`: the lower key opens the even ones. */
export function opensAttempt(own: Uint8Array, peer: Uint8Array, attempt: number): boolean {
  return Buffer.compare(own, peer) < 0 === (attempt % 2 === 0);
}

/** The extra socket a peer's punch uses. */
export function punchSock(p: PeerPath): number {
  return PUNCH_SOCK_BASE + p.index;
}

export class OpenPunch {
  private readonly peers = new WeakMap<PeerPath, PeerPunch>();
  /** Peers whose punch socket is open (a run, or the direct path it found). */
  private readonly open = new Set<PeerPath>();

  constructor(private readonly host: PunchHost) {}

  /** Our own NAT fits: UDP works and the mapping is endpoint-independent, and we can punch. */
  private eligible(p: PeerPath): boolean {
    const nat = this.host.natInfo?.();
    return nat?.hard === false && nat.udp !== false && this.host.canPunch() && punchTargets(p, 1).length > 0;
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

  /** Heartbeat, per peer without a direct path: opens an attempt when the quick rounds failed and it is ours. */
  consider(p: PeerPath, now: number): void {
    const s = this.state(p);
    if (!s.run) this.release(p); // a path the punch found was lost: the next attempt takes a fresh socket
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
    if (!opensAttempt(this.host.ownKey, p.key, s.next) || !this.eligible(p)) return;
    this.begin(p, s, { role: 'opener', attempt: s.next, waitMs: PUNCH_WAITS_S[s.next] * 1000, phase: 'open', t0: now, asks: 0, timer: null, port: 0, peerPort: 0 });
  }

  /** A Punch message from `p` (authentic, through the relay). */
  receive(p: PeerPath, m: PunchSignal, now: number): void {
    const s = this.state(p);
    const run = s.run;
    if (m.ack) {
      if (run?.role !== 'opener' || run.phase !== 'ask' || run.attempt !== m.attempt) return;
      run.phase = 'quiet';
      run.t0 = now;
      run.peerPort = m.port;
      this.log(p, run, 'the peer keeps; quiet until the probes');
      this.arm(p, run, run.waitMs);
      return;
    }
    // An ask: we keep for the peer's attempt, unless we cannot or a later one of ours runs.
    if (p.direct(now) || !this.eligible(p)) return;
    if (opensAttempt(this.host.ownKey, p.key, m.attempt)) return; // not ours to keep
    if (run && run.role === 'keeper' && run.attempt === m.attempt) {
      // A repeat (our ack was lost), answered once our socket is open.
      if (run.phase === 'keep') this.host.signal(p, { attempt: m.attempt, ack: true, waitS: m.waitS, port: run.port });
      return;
    }
    if (run && run.role === 'opener' && run.attempt > m.attempt) return;
    this.end(p, s);
    s.over = false;
    s.next = m.attempt;
    this.begin(p, s, { role: 'keeper', attempt: m.attempt, waitMs: m.waitS * 1000, phase: 'open', t0: now, asks: 0, timer: null, port: 0, peerPort: m.port });
  }

  /** A pong from `p`: a run ends once a direct path is confirmed; a punch socket no path uses closes. */
  confirmed(p: PeerPath): void {
    const s = this.peers.get(p);
    if (s?.run) this.log(p, s.run, 'direct path confirmed');
    if (s) this.end(p, s);
    this.peers.delete(p);
    if (p.best?.sock !== punchSock(p)) this.release(p);
  }

  /** Closes the sockets of peers gone from the peer set. */
  retain(): void {
    for (const p of this.open) if (!this.host.isCurrent(p)) this.release(p);
  }

  private begin(p: PeerPath, s: PeerPunch, run: Run): void {
    s.run = run;
    this.log(p, run, `attempt started, wait ${run.waitMs / 1000} s`);
    const sock = punchSock(p);
    this.open.add(p);
    void this.host.openSocket(sock).then((port) => {
      if (s.run !== run) {
        if (!this.open.has(p)) this.host.closeSocket(sock); // released while it opened
        return;
      }
      if (port === null) {
        this.fail(p, s, run, 'cannot open a punch socket');
        s.over = true;
        return;
      }
      run.port = port;
      if (run.role === 'opener') run.phase = 'ask';
      else {
        // Router K maps our fresh socket now and keeps it with TTL-1 refreshes from here.
        run.phase = 'keep';
        run.t0 = this.host.clock.now();
        this.host.signal(p, { attempt: run.attempt, ack: true, waitS: run.waitMs / 1000, port });
        this.send(p, run, null);
        return this.arm(p, run, REFRESH_MS);
      }
      this.step(p, s, run);
    });
  }

  /** Ends the run; its socket stays only while the direct path uses it. */
  private end(p: PeerPath, s: PeerPunch): void {
    if (s.run?.timer) this.host.clock.clearTimeout(s.run.timer);
    s.run = null;
    if (p.best?.sock !== punchSock(p)) this.release(p);
  }

  private release(p: PeerPath): void {
    if (this.open.delete(p)) this.host.closeSocket(punchSock(p));
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
    this.end(p, s);
    s.next = run.attempt + 1;
    s.notBefore = this.host.clock.now() + NEXT_GAP_MS;
    if (s.next >= PUNCH_WAITS_S.length) s.over = true;
  }

  private send(p: PeerPath, run: Run, ttl: number | null): void {
    for (const ep of punchTargets(p, run.peerPort)) this.host.probe(p, ep, punchSock(p), ttl);
  }

  private step(p: PeerPath, s: PeerPunch, run: Run): void {
    const host = this.host;
    const now = host.clock.now();
    if (!host.isCurrent(p) || p.direct(now)) return this.end(p, s);
    const t = now - run.t0;
    const w = run.waitMs;
    switch (run.phase) {
      case 'open':
        return;
      case 'ask':
        if (run.asks >= ASKS) {
          this.fail(p, s, run, 'no answer: the peer cannot keep (hard NAT, no TTL, or an older version)');
          s.over = true;
          s.quietUntil = now + NO_ANSWER_MS;
          return;
        }
        run.asks++;
        host.signal(p, { attempt: run.attempt, ack: false, waitS: w / 1000, port: run.port });
        return this.arm(p, run, ASK_EVERY_MS);
      case 'quiet':
        if (t < w) return this.arm(p, run, w - t);
        run.phase = 'probe';
        return this.step(p, s, run);
      case 'probe':
        if (t >= w + PROBE_MS) return this.fail(p, s, run, 'no path: our probes went unanswered');
        this.send(p, run, null);
        return this.arm(p, run, PROBE_EVERY_MS);
      case 'keep':
        if (t >= w + PROBE_MS + TAIL_MS) return this.fail(p, s, run, "no path: the opener's probes never came");
        this.send(p, run, PUNCH_TTL);
        return this.arm(p, run, REFRESH_MS);
    }
  }

  private log(p: PeerPath, run: Run, msg: string): void {
    this.host.logger.info({ peer: p.b64.slice(0, 8), attempt: run.attempt, role: run.role, phase: run.phase, port: run.port || undefined, peerPort: run.peerPort || undefined }, `open-router punch: ${msg}`);
  }
}
