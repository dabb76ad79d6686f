import { randomInt } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { Clock } from '../clock.js';
import { Endpoint } from '../io/endpoint.js';
import type { Logger } from '../log.js';
import { PUNCH_SOCK_BASE, type ExtraSockets } from './extra-sockets.js';
import type { PeerPath } from './peer-path.js';

// The birthday-paradox method, for a peer pair where we are behind an endpoint-dependent
// NAT and the peer is not: we open many extra sockets and ping the peer's public
// endpoint from each (many mappings towards it), then ask the peer (an empty CallMeMaybe
// through the relay) to spray pings to random ports on our public IP. One hit opens a
// path, on extra socket k (a path's `sock`). Sockets no direct path uses close when the
// run ends (after 20 s, or when every peer of the run has a path).

const RUN_MS = 20_000;
const SPRAY_EVERY_MS = 5000;
const SPRAY_CHUNK = 256;
const SPRAY_GAP_MS = 50;

export interface BirthdayHost {
  clock: Clock;
  logger: Logger;
  stats: { birthdayAttempts: number; sprays: number };
  /** Extra sockets per run (default 256) and the easy side's probes (default 2048). */
  sockets?: number;
  probes?: number;
  /** Where the extra sockets live (indices 1..sockets); none available: the method is off. */
  pool: ExtraSockets;
  natInfo?: () => { udp: boolean | null; hard: boolean | null };
  closed(): boolean;
  peers(): Iterable<PeerPath>;
  isCurrent(p: PeerPath): boolean;
  ping(p: PeerPath, ep: Endpoint, sock: number, track: boolean): void;
  /** An empty CallMeMaybe through the relay: "spray my public IPs". */
  askSpray(p: PeerPath): void;
}

/** The peer's candidates on public addresses (the ones a NAT maps). */
export function publicCandidates(p: PeerPath): Endpoint[] {
  return [...p.candidates.values()].filter((e) => {
    try {
      const r = ipaddr.parse(e.ip).range();
      return r !== 'private' && r !== 'carrierGradeNat' && r !== 'loopback' && r !== 'linkLocal' && r !== 'uniqueLocal';
    } catch {
      return false;
    }
  });
}

export class Birthday {
  private run: { peers: Set<PeerPath>; until: number; ready: boolean } | null = null;

  constructor(
    private readonly host: BirthdayHost,
    private readonly retryMs: number,
  ) {}

  /** A run is on (its pings go out on the heartbeat). */
  get running(): boolean {
    return this.run !== null;
  }

  /** Heartbeat, per peer without a direct path: joins it to a run when the method applies. */
  consider(p: PeerPath, now: number): void {
    if (p.attempts < 2 || now - p.lastBirthday < this.retryMs) return;
    const nat = this.host.natInfo?.();
    if (!this.host.pool.available || nat?.hard !== true || this.host.closed() || publicCandidates(p).length === 0) return;
    p.lastBirthday = now;
    const run = this.run;
    if (run) {
      if (run.peers.has(p)) return;
      run.peers.add(p);
      run.until = Math.max(run.until, now + RUN_MS);
      if (run.ready) this.ask(p);
      return;
    }
    this.run = { peers: new Set([p]), until: now + RUN_MS, ready: false };
    void this.open();
  }

  /** Heartbeat: pings from every extra socket again, or ends the run. */
  tick(now: number): void {
    const run = this.run;
    if (!run) return;
    const open = [...run.peers].filter((p) => !p.best && this.host.isCurrent(p));
    if (now >= run.until || (run.ready && open.length === 0)) {
      this.run = null;
      void this.closeExtras(this.inUse());
    } else if (run.ready) for (const p of open) this.pings(p);
  }

  /** The easy side: pings to random ports on the peer's public IPs (bounded), asked by an empty CallMeMaybe. */
  spray(p: PeerPath): void {
    const host = this.host;
    const clock = host.clock;
    const nat = host.natInfo?.();
    const now = clock.now();
    if (nat?.hard === true || now - p.lastSpray < SPRAY_EVERY_MS || p.direct(now)) return;
    const ips = [...new Set(publicCandidates(p).map((e) => e.ip))];
    if (ips.length === 0) return;
    p.lastSpray = now;
    host.stats.sprays++;
    const total = host.probes ?? 2048;
    let sent = 0;
    const burst = (): void => {
      if (host.closed() || p.direct(clock.now())) return;
      for (let i = 0; i < SPRAY_CHUNK && sent < total; i++, sent++) host.ping(p, Endpoint.of(ips[sent % ips.length], randomInt(1024, 65536)), 0, false);
      if (sent < total) clock.setTimeout(burst, SPRAY_GAP_MS);
    };
    burst();
  }

  /** Ends any run (the bind closing, which closes the sockets). */
  stop(): void {
    this.run = null;
  }

  private ask(p: PeerPath): void {
    this.host.stats.birthdayAttempts++;
    this.pings(p);
    this.host.askSpray(p);
  }

  private pings(p: PeerPath): void {
    const targets = publicCandidates(p);
    for (let k = 1; k <= this.count; k++) if (this.host.pool.get(k)) for (const ep of targets) this.host.ping(p, ep, k, true);
  }

  private get count(): number {
    return this.host.sockets ?? 256;
  }

  /** Extra sockets carrying a direct path. */
  private inUse(): Set<number> {
    const set = new Set<number>();
    for (const p of this.host.peers()) if (p.best && p.best.sock !== 0) set.add(p.best.sock);
    return set;
  }

  private async open(): Promise<void> {
    const host = this.host;
    await this.closeExtras(this.inUse());
    let opened = 0;
    // An extra socket still carrying a direct path stays as it is (open() is a no-op).
    for (let k = 1; k <= this.count && !host.closed(); k++) if (await host.pool.open(k)) opened++;
    const run = this.run;
    if (host.closed() || !run) return void this.closeExtras(this.inUse());
    run.ready = true;
    host.logger.info({ peers: [...run.peers].map((p) => p.b64.slice(0, 8)), sockets: opened }, 'birthday method: extra sockets open, asking the peers to spray');
    for (const p of run.peers) this.ask(p);
  }

  /** Closes our extra sockets but those in `keep` (the punch's, above PUNCH_SOCK_BASE, are not ours). */
  private closeExtras(keep: Set<number>): Promise<void> {
    return this.host.pool.close((k) => k < PUNCH_SOCK_BASE && !keep.has(k));
  }
}
