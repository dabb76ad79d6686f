import { randomInt } from 'node:crypto';
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
// Behind an endpoint-dependent NAT (a random port per destination) a socket's public
// port cannot be told in advance, so that side always keeps, with many fresh sockets:
// each sends one real probe (each gets its own random port) and TTL-1 refreshes, and at
// W the opener sprays real probes at random ports of the keeper's address. A probe that
// hits one of those ports matches its refreshed entry (the birthday paradox: 256 sockets
// and 2,048 probes hit with ~99 % odds). When such a side would open by the roles, it
// invites the peer to open instead. Two endpoint-dependent NATs do not take part.
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
/** An endpoint-dependent keeper's sockets, and the opener's spray at its address (chunks every SPRAY_GAP_MS). */
export const MANY_SOCKETS = 256;
const SPRAY_TOTAL = 2048;
const SPRAY_CHUNK = 256;
const SPRAY_GAP_MS = 100;
/** Real probes where a TTL must be given (untracked sends): Linux's default. */
const FULL_TTL = 64;
/** The keeper refreshes this long past the opener's probes (clocks start a relay trip apart). */
const TAIL_MS = 3000;
/** Between one failed attempt and the next. */
const NEXT_GAP_MS = 1000;
/** A peer that did not answer an ask is not asked again for this long (new quick rounds or not). */
const NO_ANSWER_MS = 10 * 60_000;
/** After the quick rounds' last full probe, this long for their pongs. */
const QUICK_SETTLE_MS = 1000;
export const PUNCH_TTL = 1;

export type PunchPhase = 'invite' | 'open' | 'ask' | 'quiet' | 'probe' | 'keep';

interface Run {
  role: 'opener' | 'keeper';
  attempt: number;
  waitMs: number;
  phase: PunchPhase;
  /** Start of the schedule: the ack's arrival (opener), the ack's sending (keeper); or the first ask. */
  t0: number;
  asks: number;
  timer: TimerHandle | null;
  /** Our punch socket's port once open, and the peer's (0: the peer keeps with many sockets). */
  port: number;
  peerPort: number;
  /** Sockets this run uses: 1, or MANY_SOCKETS for a keeper behind an endpoint-dependent NAT. */
  socks: number;
  /** Spray probes sent (an opener whose keeper has many sockets). */
  sprayed: number;
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
  /** The sender's punch socket's port (0 from a sender with many). */
  port: number;
  /** The sender is behind an endpoint-dependent NAT: it keeps with many sockets (an ask from it invites us to open). */
  hard: boolean;
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
  closeSockets(socks: readonly number[]): void;
  /** A disco ping to `ep` from socket `sock`: a tracked one (ttl null), or an untracked one with this TTL. */
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

/** The extra socket a peer's punch uses (`i` < MANY_SOCKETS: a keeper with many). */
export function punchSock(p: PeerPath, i = 0): number {
  return PUNCH_SOCK_BASE + p.index * MANY_SOCKETS + i;
}

function socksOf(p: PeerPath, n: number): number[] {
  return Array.from({ length: n }, (_, i) => punchSock(p, i));
}

export class OpenPunch {
  private readonly peers = new WeakMap<PeerPath, PeerPunch>();
  /** Peers with punch sockets open (a run, or the direct path it found), and which. */
  private readonly open = new Map<PeerPath, number[]>();

  constructor(private readonly host: PunchHost) {}

  /** Our NAT is known and UDP works, and we can punch; the peer has a public IPv4 address. */
  private eligible(p: PeerPath): boolean {
    const nat = this.host.natInfo?.();
    return nat !== undefined && nat.hard !== null && nat.udp !== false && this.host.canPunch() && punchTargets(p, 1).length > 0;
  }

  /** Behind an endpoint-dependent NAT: we keep with many sockets, never open. */
  private hard(): boolean {
    return this.host.natInfo?.().hard === true;
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
    if (!s.run) this.release(p); // a path the punch found was lost: the next attempt takes fresh sockets
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
    const waitMs = PUNCH_WAITS_S[s.next] * 1000;
    // Behind an endpoint-dependent NAT we cannot open: we invite the peer to.
    if (this.hard()) this.begin(p, s, this.newRun('keeper', s.next, waitMs, 'invite', now, 0));
    else this.begin(p, s, this.newRun('opener', s.next, waitMs, 'open', now, 0));
  }

  /** A Punch message from `p` (authentic, through the relay). */
  receive(p: PeerPath, m: PunchSignal, now: number): void {
    const s = this.state(p);
    const run = s.run;
    if (m.ack) {
      if (run?.role !== 'opener' || run.phase !== 'ask' || run.attempt !== m.attempt) return;
      run.phase = 'quiet';
      run.t0 = now;
      run.peerPort = m.hard ? 0 : m.port;
      this.log(p, run, m.hard ? 'the peer keeps with many sockets; quiet until the spray' : 'the peer keeps; quiet until the probes');
      this.arm(p, run, run.waitMs);
      return;
    }
    if (p.direct(now) || !this.eligible(p)) return;
    const hard = this.hard();
    if (m.hard) {
      // An invitation: the peer cannot open attempt m.attempt, we do (unless we cannot either).
      if (hard || (run && (run.attempt > m.attempt || (run.attempt === m.attempt && run.role === 'opener')))) return;
      this.end(p, s);
      Object.assign(s, { over: false, next: m.attempt });
      return this.begin(p, s, this.newRun('opener', m.attempt, m.waitS * 1000, 'open', now, 0));
    }
    // An ask: we keep for the peer's attempt, unless it is ours to open (a peer behind an
    // endpoint-dependent NAT keeps whatever the roles say) or a later one of ours runs.
    if (!hard && opensAttempt(this.host.ownKey, p.key, m.attempt)) return;
    if (run && run.role === 'keeper' && run.attempt === m.attempt && run.phase !== 'invite') {
      // A repeat (our ack was lost), answered once our sockets are open.
      if (run.phase === 'keep') this.host.signal(p, { attempt: m.attempt, ack: true, waitS: m.waitS, port: run.port, hard });
      return;
    }
    if (run && run.role === 'opener' && run.attempt > m.attempt) return;
    this.end(p, s);
    Object.assign(s, { over: false, next: m.attempt });
    this.begin(p, s, this.newRun('keeper', m.attempt, m.waitS * 1000, 'open', now, m.port));
  }

  /** A pong from `p`: a run ends once a direct path is confirmed; punch sockets no path uses close. */
  confirmed(p: PeerPath): void {
    const s = this.peers.get(p);
    if (s?.run) this.log(p, s.run, 'direct path confirmed');
    if (s) this.end(p, s);
    this.peers.delete(p);
    this.release(p);
  }

  /** Ends the runs of peers gone from the peer set and closes their sockets. */
  retain(): void {
    for (const p of this.open.keys()) {
      if (this.host.isCurrent(p)) continue;
      const s = this.peers.get(p);
      if (s) this.end(p, s);
    }
  }

  private newRun(role: Run['role'], attempt: number, waitMs: number, phase: PunchPhase, t0: number, peerPort: number): Run {
    const socks = role === 'keeper' && this.hard() ? MANY_SOCKETS : 1;
    return { role, attempt, waitMs, phase, t0, asks: 0, timer: null, port: 0, peerPort, socks, sprayed: 0 };
  }

  private begin(p: PeerPath, s: PeerPunch, run: Run): void {
    s.run = run;
    this.log(p, run, `attempt started, wait ${run.waitMs / 1000} s`);
    if (run.phase === 'invite') return this.step(p, s, run);
    void this.openSockets(p, run).then((port) => {
      if (s.run !== run) {
        if (!this.open.has(p)) this.host.closeSockets(socksOf(p, run.socks)); // released while they opened
        return;
      }
      if (port === null) {
        this.fail(p, s, run, 'cannot open a punch socket');
        s.over = true;
        return;
      }
      run.port = port;
      if (run.role === 'opener') {
        run.phase = 'ask';
        return this.step(p, s, run);
      }
      // Our router maps our fresh sockets now and keeps them with TTL-1 refreshes from here.
      run.phase = 'keep';
      run.t0 = this.host.clock.now();
      this.host.signal(p, { attempt: run.attempt, ack: true, waitS: run.waitMs / 1000, port, hard: run.socks > 1 });
      this.send(p, run, FULL_TTL);
      this.arm(p, run, REFRESH_MS);
    });
  }

  /** Opens the run's sockets; resolves the first one's port, or null when none opened. */
  private async openSockets(p: PeerPath, run: Run): Promise<number | null> {
    const socks = socksOf(p, run.socks);
    this.open.set(p, [...new Set([...(this.open.get(p) ?? []), ...socks])]);
    const ports = await Promise.all(socks.map((k) => this.host.openSocket(k)));
    return ports[0];
  }

  /** Ends the run; of its sockets only one carrying the direct path stays. */
  private end(p: PeerPath, s: PeerPunch): void {
    if (s.run?.timer) this.host.clock.clearTimeout(s.run.timer);
    s.run = null;
    this.release(p);
  }

  /** Closes the peer's punch sockets but the one its direct path uses (all of a peer gone). */
  private release(p: PeerPath): void {
    const open = this.open.get(p);
    if (!open || this.peers.get(p)?.run) return;
    const inUse = this.host.isCurrent(p) ? p.best?.sock : undefined;
    const keep = open.filter((k) => k === inUse);
    if (keep.length === open.length) return;
    if (keep.length > 0) this.open.set(p, keep);
    else this.open.delete(p);
    this.host.closeSockets(open.filter((k) => k !== inUse));
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

  /** Probes from each of the run's sockets to the peer's punch socket(s). */
  private send(p: PeerPath, run: Run, ttl: number | null): void {
    const targets = punchTargets(p, run.peerPort);
    for (let i = 0; i < run.socks; i++) for (const ep of targets) this.host.probe(p, ep, punchSock(p, i), ttl);
  }

  /** One chunk of the spray at random ports of the keeper's public addresses. */
  private spray(p: PeerPath, run: Run): void {
    const ips = punchTargets(p, 1).map((e) => e.ip);
    for (let i = 0; i < SPRAY_CHUNK && run.sprayed < SPRAY_TOTAL; i++, run.sprayed++) {
      const port = randomInt(1024, 65536);
      for (const ip of ips) this.host.probe(p, Endpoint.of(ip, port), punchSock(p), FULL_TTL);
    }
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
      case 'invite':
      case 'ask': {
        if (run.asks >= ASKS) {
          this.fail(p, s, run, 'no answer: the peer cannot take part (both NATs endpoint-dependent, no TTL, or an older version)');
          s.over = true;
          s.quietUntil = now + NO_ANSWER_MS;
          return;
        }
        run.asks++;
        const invite = run.phase === 'invite';
        host.signal(p, { attempt: run.attempt, ack: false, waitS: w / 1000, port: run.port, hard: invite });
        return this.arm(p, run, ASK_EVERY_MS);
      }
      case 'quiet':
        if (t < w) return this.arm(p, run, w - t);
        run.phase = 'probe';
        return this.step(p, s, run);
      case 'probe':
        if (t >= w + PROBE_MS) return this.fail(p, s, run, 'no path: our probes went unanswered');
        if (run.peerPort === 0) this.spray(p, run);
        else this.send(p, run, null);
        return this.arm(p, run, run.peerPort === 0 ? SPRAY_GAP_MS : PROBE_EVERY_MS);
      case 'keep':
        if (t >= w + PROBE_MS + TAIL_MS) return this.fail(p, s, run, "no path: the opener's probes never came");
        this.send(p, run, PUNCH_TTL);
        return this.arm(p, run, REFRESH_MS);
    }
  }

  private log(p: PeerPath, run: Run, msg: string): void {
    this.host.logger.info({ peer: p.b64.slice(0, 8), attempt: run.attempt, role: run.role, phase: run.phase, sockets: run.socks, port: run.port || undefined, peerPort: run.peerPort || undefined }, `open-router punch: ${msg}`);
  }
}
