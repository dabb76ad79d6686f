import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { silentLogger, type Logger } from '../log.js';
import { uapiChangeFor, type DeviceConfig } from './config.js';
import type { PeerStatusView } from './device.js';
import { EngineError, peerStatusFromUapi, type Engine } from './engine.js';
import type { UapiDeviceChange, UapiDeviceSnapshot, UapiPeerChange } from './uapi.js';
import { UapiClient } from './uapi-client.js';

// wireguard-go as the agent's engine: we start `wireguard-go -f IFNAME` (or drive one
// already running on IFNAME) and configure it only through its UAPI socket, setting the
// diff between what it runs and the agent's DeviceConfig (config.ts uapiChangeFor), so
// untouched peers keep their sessions. Peer state for `weft status` is polled.

export const ENGINE_POLL_MS = 1_000;
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 3_000;
/** Bounded tail of the engine's output, for the error when it dies. */
const OUTPUT_TAIL = 4_096;

export interface WireguardGoOptions {
  ifname: string;
  /** The wireguard-go command line before `-f IFNAME` (default: `wireguard-go` on PATH). */
  command?: readonly string[];
  uapiDir?: string;
  clock?: Clock;
  logger?: Logger;
  pollMs?: number;
  /** The engine process exited on its own (interface deleted, crash). */
  onExit?: (reason: string) => void;
}

export class WireguardGoEngine implements Engine {
  readonly kind = 'wireguard-go';
  readonly ifname: string;
  private snap: UapiDeviceSnapshot = { privateKey: null, listenPort: 0, fwmark: 0, peers: [] };
  private byKey = new Map<string, PeerStatusView>();
  private queue: Promise<void> = Promise.resolve();
  private poll: TimerHandle | null = null;
  private output = '';
  private closing = false;
  private readonly clock: Clock;
  private readonly logger: Logger;

  private constructor(
    private readonly opts: WireguardGoOptions,
    private readonly uapi: UapiClient,
    /** Null when we drive an engine someone else started (we leave it running). */
    private readonly child: ChildProcess | null,
  ) {
    this.ifname = opts.ifname;
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? silentLogger;
  }

  /** Starts (or attaches to) wireguard-go on `opts.ifname` and waits until its UAPI socket answers. */
  static async start(opts: WireguardGoOptions): Promise<WireguardGoEngine> {
    const uapi = new UapiClient(opts.ifname, opts.uapiDir);
    const running = existsSync(uapi.socketPath) && (await uapi.get().then(() => true, () => false));
    const child = running ? null : spawnEngine(opts);
    const engine = new WireguardGoEngine(opts, uapi, child);
    if (child) engine.watch(child);
    try {
      await engine.waitReady();
    } catch (err) {
      await engine.close();
      throw err;
    }
    engine.schedulePoll();
    engine.logger.info({ iface: opts.ifname, pid: child?.pid ?? null, attached: running }, 'wireguard-go engine ready');
    return engine;
  }

  get listenPort(): number {
    return this.snap.listenPort;
  }

  reconfigure(config: DeviceConfig): Promise<void> {
    const run = this.queue.then(async () => {
      const change = withKeepaliveNudge(uapiChangeFor(await this.uapi.get(), config), config);
      const touches = change.privateKey || change.listenPort !== undefined || change.fwmark !== undefined || change.peers.length > 0;
      if (touches) await this.uapi.set(change);
      await this.refresh();
    });
    this.queue = run.catch(() => {});
    return run;
  }

  peerStatus(publicKey: Uint8Array): PeerStatusView | undefined {
    return this.byKey.get(Buffer.from(publicKey).toString('hex'));
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.poll) this.clock.clearTimeout(this.poll);
    this.poll = null;
    await this.queue;
    const child = this.child;
    if (!child) {
      // Someone else's engine: leave it running, without our peers and key.
      await this.uapi.set({ privateKey: new Uint8Array(32), replacePeers: true, peers: [] }).catch(() => {});
      return;
    }
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  private watch(child: ChildProcess): void {
    const keep = (d: Buffer) => (this.output = (this.output + d.toString('utf8')).slice(-OUTPUT_TAIL));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('exit', (code, signal) => {
      if (this.closing) return;
      const reason = `wireguard-go exited (${signal ?? `code ${code}`}): ${this.output.trim().split('\n').slice(-3).join(' | ')}`;
      this.logger.warn({ iface: this.ifname }, reason);
      this.opts.onExit?.(reason);
    });
  }

  private async waitReady(): Promise<void> {
    const deadline = this.clock.now() + START_TIMEOUT_MS;
    for (;;) {
      const c = this.child;
      if (c && (c.exitCode !== null || c.signalCode !== null)) throw new EngineError('ERR_BACKEND_FAILED', `wireguard-go exited before its UAPI socket answered: ${this.output.trim().slice(-500)}`);
      try {
        await this.refresh();
        return;
      } catch (err) {
        if (this.clock.now() > deadline) throw new EngineError('ERR_BACKEND_FAILED', `wireguard-go: ${this.uapi.socketPath} not answering after ${START_TIMEOUT_MS} ms`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async refresh(): Promise<void> {
    const snap = await this.uapi.get();
    const now = this.clock.now();
    const wall = this.clock.wallNow();
    this.snap = snap;
    this.byKey = new Map(snap.peers.map((p) => [Buffer.from(p.publicKey).toString('hex'), peerStatusFromUapi(p, now, wall)]));
  }

  private schedulePoll(): void {
    if (this.closing) return;
    this.poll = this.clock.setTimeout(() => {
      this.queue = this.queue
        .then(() => this.refresh())
        .catch((err: Error) => this.logger.debug({ err: err.message }, 'polling wireguard-go failed'))
        .finally(() => this.schedulePoll());
    }, this.opts.pollMs ?? ENGINE_POLL_MS);
  }
}

/**
 * For each peer whose endpoint moves to a non-loopback address, two more sections that set
 * its persistent keepalive away from and back to the configured value: wireguard-go sends
 * a keepalive (or a handshake) at once when the interval goes from 0 to non-zero, so a
 * new direct path opens the NAT mappings on it without waiting for traffic from this side
 * (the peer's first packets on it would be dropped by our NAT until we send).
 */
export function withKeepaliveNudge(change: UapiDeviceChange, config: DeviceConfig): UapiDeviceChange {
  const extra: UapiPeerChange[] = [];
  for (const p of change.peers) {
    if (p.remove || p.endpoint === undefined || p.endpoint.startsWith('127.')) continue;
    const hex = Buffer.from(p.publicKey).toString('hex');
    const want = config.peers.find((c) => Buffer.from(c.publicKey).toString('hex') === hex)?.persistentKeepalive ?? 0;
    const section = (persistentKeepalive: number): UapiPeerChange => ({ publicKey: p.publicKey, remove: false, updateOnly: true, persistentKeepalive, replaceAllowedIps: false, addAllowedIps: [], removeAllowedIps: [] });
    extra.push(...(want === 0 ? [section(1), section(0)] : [section(0), section(want)]));
  }
  return extra.length ? { ...change, peers: [...change.peers, ...extra] } : change;
}

function spawnEngine(opts: WireguardGoOptions): ChildProcess {
  const [binary, ...args] = opts.command ?? ['wireguard-go'];
  const child = spawn(binary, [...args, '-f', opts.ifname], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WG_PROCESS_FOREGROUND: '1', LOG_LEVEL: process.env.WEFT_ENGINE_LOG ?? 'error' } });
  if (child.pid === undefined) {
    // spawn reports ENOENT asynchronously; the pid tells us now.
    child.on('error', () => {});
    throw new EngineError('ERR_BACKEND_UNAVAILABLE', `cannot start ${binary}: not found or not executable (install wireguard-go, or use --backend builtin)`);
  }
  return child;
}
