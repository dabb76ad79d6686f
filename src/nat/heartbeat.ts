import type { Clock, TimerHandle } from '../clock.js';
import type { Endpoint } from '../io/endpoint.js';
import type { Logger } from '../log.js';
import type { Birthday } from './birthday.js';
import type { PathDiscovery } from './path-discovery.js';
import type { PathTiming, PeerPath } from './peer-path.js';

// The path heartbeat, lazy as Tailscale's magicsock: a peer is active while WireGuard
// packets went to or came from it within `activeMs` (45 s, sessionActiveTimeout). Only
// active peers are pinged: every heartbeat the best path, without one every candidate
// plus a CallMeMaybe through the relay. An idle peer costs nothing (no pings, no relay
// traffic) and keeps its last direct path untouched. The first packet after idle wakes
// it (`touch`): discovery starts at once while that packet goes through the relay and the
// last known direct path. The timer runs only while some peer is active (or a birthday
// run is on), so an agent without traffic has no heartbeat wakeups at all.

/** Default `activeMs`: Tailscale's sessionActiveTimeout. */
export const ACTIVE_MS = 45_000;
/** A handshake message unanswered this long goes again on the heartbeat. */
const HEARTBEAT_RESEND_MS = 400;

export interface HeartbeatHost {
  clock: Clock;
  logger: Logger;
  timing: PathTiming;
  discovery: PathDiscovery;
  birthday: Birthday;
  peers(): Iterable<PeerPath>;
  /** The bind is open (not closed, has its engine). */
  running(): boolean;
  /** A peer's direct path was dropped for want of pongs. */
  lost(p: PeerPath, ep: Endpoint): void;
  /** Sends the peer's unanswered handshake message again (handshake-resend.ts). */
  resendHandshake(p: PeerPath, now: number): void;
}

export class Heartbeat {
  private timer: TimerHandle | null = null;

  constructor(private readonly host: HeartbeatHost) {}

  /**
   * A WireGuard packet went to or came from `p` (per packet: a subtraction and a store).
   * The first one after `activeMs` of silence starts discovery and the timer.
   */
  touch(p: PeerPath, now: number): void {
    if (p.idle(now)) this.wake(p, now);
    p.lastActive = now;
  }

  /** Runs the heartbeat now; the timer goes on while anything is active. */
  beat(): void {
    if (this.tick()) this.schedule();
  }

  /** Arms one heartbeat (which re-arms itself while anything is active). */
  schedule(): void {
    if (this.timer || !this.host.running()) return;
    this.timer = this.host.clock.setTimeout(() => {
      this.timer = null;
      this.beat();
    }, this.host.timing.heartbeatMs);
  }

  stop(): void {
    if (this.timer) this.host.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private wake(p: PeerPath, now: number): void {
    p.wokeAt = now;
    const { discovery } = this.host;
    if (!p.direct(now)) {
      // The last direct path (if any) is pinged too: it is the likeliest to still work.
      if (p.best && (p.best.sock !== 0 || !p.candidates.has(p.best.ep.key))) discovery.ping(p, p.best.ep, p.best.sock);
      p.attempts = 1;
      discovery.pingAll(p, true);
    }
    this.schedule();
  }

  /** One heartbeat; true while some peer is active or a birthday run is on. */
  private tick(): boolean {
    const { clock, timing, discovery, birthday } = this.host;
    const now = clock.now();
    let active = false;
    for (const s of this.host.peers()) {
      if (s.idle(now)) continue;
      active = true;
      const lost = s.expire(now);
      if (lost) this.host.lost(s, lost);
      // An unanswered handshake message (e.g. sent to a relay the peer had not joined
      // yet) goes again on the current path instead of waiting for WireGuard's 5 s retry.
      if (s.handshake.olderThan(HEARTBEAT_RESEND_MS, now)) this.host.resendHandshake(s, now);
      if (s.best) {
        discovery.ping(s, s.best.ep, s.best.sock);
        if (now - s.lastFull >= timing.retryMs) discovery.pingAll(s, false);
        continue;
      }
      if (s.fullProbeDue(now)) discovery.pingAll(s, true);
      birthday.consider(s, now);
      discovery.punch.consider(s, now);
    }
    birthday.tick(now);
    return active || birthday.running;
  }
}
