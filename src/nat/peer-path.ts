import ipaddr from 'ipaddr.js';
import { keyFromBase64 } from '../crypto/keys.js';
import { Endpoint } from '../io/endpoint.js';
import { HandshakeMemo } from './handshake-resend.js';
import { isSyntheticEndpoint, synthFor } from './synthetic.js';

// One peer's path state (Tailscale's magicsock endpoint, simplified): its direct
// candidates (netmap endpoints, CallMeMaybe endpoints, sources of its pings), the pings
// in flight, the best direct path confirmed by a pong, and the probing schedule. A path
// without a pong for `trustMs` is dropped (traffic falls back to the relay); without a
// direct path every candidate is probed, quickly a few times, then every `retryMs`.
// Time comes in as `now` from the injected clock; the caller does the sending.

const MAX_CANDIDATES = 64;
const MAX_PENDING = 1024;
export const QUICK_ATTEMPTS = 5;

export interface PathTiming {
  heartbeatMs: number;
  trustMs: number;
  retryMs: number;
  /** A peer without WireGuard traffic for this long is idle: no probing (heartbeat.ts). */
  activeMs: number;
}

export interface Confirmed {
  ep: Endpoint;
  /** 0 = the main socket, k = extra socket k (birthday method). */
  sock: number;
  lastPong: number;
  rttMs: number;
}

export interface Probe {
  ep: Endpoint;
  sentAt: number;
  sock: number;
}

export function isLanAddress(ep: Endpoint): boolean {
  try {
    const r = ipaddr.parse(ep.ip).range();
    return r === 'private' || r === 'uniqueLocal' || r === 'carrierGradeNat';
  } catch {
    return false;
  }
}

export class PeerPath {
  readonly key: Uint8Array;
  readonly synth: Endpoint;
  netmapEndpoints: string[] = [];
  readonly candidates = new Map<string, Endpoint>();
  best: Confirmed | null = null;
  private readonly pending = new Map<string, Probe>();
  homeRelay: string | null = null;
  lastFull = -Infinity;
  attempts = 0;
  lastPingBack = -Infinity;
  lostAt = -Infinity;
  firstDirectAt: number | null = null;
  lastBirthday = -Infinity;
  lastSpray = -Infinity;
  /** When a WireGuard packet last went to or came from the peer (heartbeat.ts). */
  lastActive = -Infinity;
  /** When traffic last resumed after idle: the stale best path gets trustMs to answer. */
  wokeAt = -Infinity;
  /** An external engine sends to the peer directly, around the bind: always active. */
  bypassed = false;
  readonly handshake = new HandshakeMemo();
  /** A peer on an external engine: its WireGuard port (disco answers on another one). */
  wgPort: number | null = null;
  private wgEp: { from: Endpoint; to: Endpoint } | null = null;

  constructor(
    readonly b64: string,
    readonly index: number,
    private readonly timing: PathTiming,
  ) {
    this.key = keyFromBase64(b64);
    this.synth = synthFor(index);
  }

  /** Whether the peer had no WireGuard traffic for activeMs. */
  idle(now: number): boolean {
    return !this.bypassed && now - this.lastActive > this.timing.activeMs;
  }

  /** Whether the best direct path answered within trustMs. */
  direct(now: number): boolean {
    return this.best !== null && now - this.best.lastPong <= this.timing.trustMs;
  }

  /**
   * Whether the best path stands: answered within trustMs, or not pinged since (the peer
   * is idle, or woke less than trustMs ago). The heartbeat drops it otherwise.
   */
  kept(now: number): boolean {
    return this.best !== null && (this.direct(now) || this.idle(now) || now - this.wokeAt <= this.timing.trustMs);
  }

  isBest(ep: Endpoint, sock: number): boolean {
    return this.best !== null && this.best.sock === sock && this.best.ep.equals(ep);
  }

  /** The netmap's endpoints for the peer; a change adds candidates and restarts probing. */
  setNetmapEndpoints(list: string[]): void {
    const eps = list.flatMap((e) => {
      try {
        return [Endpoint.parse(e)];
      } catch {
        return [];
      }
    });
    const keys = eps.map((e) => e.key);
    if (keys.join(',') === this.netmapEndpoints.join(',')) return;
    this.netmapEndpoints = keys;
    for (const e of eps) this.addCandidate(e);
    this.attempts = 0;
    this.lastFull = -Infinity;
  }

  addCandidate(ep: Endpoint): void {
    if (isSyntheticEndpoint(ep) || ep.port === 0 || this.candidates.has(ep.key)) return;
    if (this.candidates.size >= MAX_CANDIDATES) this.candidates.delete(this.candidates.keys().next().value as string);
    this.candidates.set(ep.key, ep);
  }

  /** Records a ping in flight (bounded), answered by the pong carrying `txid`. */
  probeSent(txid: Uint8Array, ep: Endpoint, sock: number, now: number): void {
    if (this.pending.size > MAX_PENDING) this.pending.clear();
    this.pending.set(Buffer.from(txid).toString('hex'), { ep, sentAt: now, sock });
  }

  /**
   * The probe a pong answers, settled; 'unknown' for no such ping, 'elsewhere' when the
   * pong came another way than the ping went (through the relay, another address or socket).
   */
  takeProbe(txid: Uint8Array, from: Endpoint, sock: number, viaRelay: boolean): Probe | 'unknown' | 'elsewhere' {
    const id = Buffer.from(txid).toString('hex');
    const p = this.pending.get(id);
    if (!p) return 'unknown';
    if (viaRelay || !p.ep.equals(from) || p.sock !== sock) return 'elsewhere';
    this.pending.delete(id);
    return p;
  }

  /**
   * A pong confirmed `ep` on `sock` with `rttMs`. Returns null when the best path stays
   * (refreshed if it was this one), else the best path replaced (`was`, or null when
   * there was no trusted one): lower latency wins; a LAN address beats a public one of
   * similar latency (both behind the same NAT).
   */
  confirm(ep: Endpoint, sock: number, rttMs: number, now: number): { was: Endpoint | null } | null {
    const valid = this.direct(now);
    const best = this.best;
    if (best && this.isBest(ep, sock)) {
      best.lastPong = now;
      best.rttMs = rttMs;
      return null;
    }
    if (valid && !(rttMs < best!.rttMs * 0.8 - 0.5 || (isLanAddress(ep) && !isLanAddress(best!.ep) && rttMs < best!.rttMs * 2 + 5))) return null;
    this.best = { ep, sock, lastPong: now, rttMs };
    this.firstDirectAt ??= now;
    this.attempts = 0;
    return { was: valid ? best!.ep : null };
  }

  /**
   * Heartbeat: drops a best path no longer kept and returns it (one immediate retry,
   * then every retryMs); forgets probes unanswered for twice trustMs.
   */
  expire(now: number): Endpoint | null {
    let lost: Endpoint | null = null;
    if (this.best && !this.kept(now)) {
      lost = this.best.ep;
      this.best = null;
      this.lostAt = now;
      this.attempts = QUICK_ATTEMPTS - 1;
      this.lastFull = -Infinity;
    }
    for (const [id, p] of this.pending) if (now - p.sentAt > this.timing.trustMs * 2) this.pending.delete(id);
    return lost;
  }

  /** The best path's address at the peer's own WireGuard port (an external engine's), else the path itself. */
  wgPortAt(best: Confirmed): Endpoint {
    if (this.wgPort === null) return best.ep;
    if (this.wgEp?.from !== best.ep) this.wgEp = { from: best.ep, to: Endpoint.of(best.ep.ip, this.wgPort) };
    return this.wgEp.to;
  }

  /**
   * Where WireGuard goes on the best path. To an external engine's own port only when our
   * NAT maps every destination alike (`natInfo` says not hard, or nothing): behind an
   * endpoint-dependent NAT a flow to that port gets another public port, which the peer's
   * router does not expect, so WireGuard goes to the peer's disco socket (its proxy
   * hands it to the engine). Our NAT is asked only for such peers.
   */
  wgEndpoint(best: Confirmed, natInfo?: () => { hard: boolean | null }): Endpoint {
    return this.wgPort === null || natInfo?.().hard === true ? best.ep : this.wgPortAt(best);
  }

  /**
   * Whether the peer's NAT maps alike towards every destination as far as we can see: the
   * best path is one of the endpoints it reported (its STUN or LAN address). A path found
   * at another port (the birthday method, a remapped flow) means an endpoint-dependent
   * mapping, which a flow from another of our ports would not match.
   */
  reportedPath(best: Confirmed): boolean {
    return this.netmapEndpoints.includes(best.ep.key);
  }

  /** Heartbeat without a direct path: whether to probe every candidate now (counted as an attempt). */
  fullProbeDue(now: number): boolean {
    const interval = this.attempts < QUICK_ATTEMPTS ? this.timing.heartbeatMs : this.timing.retryMs;
    if (now - this.lastFull < interval) return false;
    this.attempts++;
    return true;
  }

  /** Our network changed: the direct path may be dead without telling us; probe again at once. */
  linkChanged(now: number): void {
    if (this.best) this.lostAt = now;
    this.best = null;
    this.attempts = 0;
    this.lastFull = -Infinity;
  }

  /** Why traffic does not go direct, for `path()`. */
  whyNotDirect(nat: { udp: boolean | null; hard: boolean | null }, now: number): string {
    if (nat.udp === false) return 'UDP blocked here';
    const n = this.candidates.size;
    if (n === 0) return 'peer has no direct candidates';
    if (this.best || now - this.lostAt < this.timing.retryMs) return 'direct path stopped answering; retrying later';
    if (this.idle(now)) return 'idle: no traffic, paths are probed on the next packet';
    if (this.attempts === 0) return 'probing candidates';
    const hard = nat.hard ? ' (we are behind endpoint-dependent NAT; peer probably too)' : '';
    return `no reply to probes of ${n} candidate${n === 1 ? '' : 's'}${hard}`;
  }
}
