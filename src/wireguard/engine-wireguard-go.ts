import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { systemClock, type Clock } from '../clock.js';
import { silentLogger, type Logger } from '../log.js';
import { DrivenEngine } from './engine-driven.js';
import { EngineError } from './engine.js';
import { UapiClient } from './uapi-client.js';

// wireguard-go as the agent's engine: we start `wireguard-go -f IFNAME` (or drive one
// already running on IFNAME) and configure it only through its UAPI socket; the diff and
// the poll are engine-driven.ts.

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

export class WireguardGoEngine extends DrivenEngine {
  readonly kind = 'wireguard-go';
  private output = '';

  private constructor(
    private readonly opts: WireguardGoOptions,
    private readonly uapi: UapiClient,
    /** Null when we drive an engine someone else started (we leave it running). */
    private readonly child: ChildProcess | null,
  ) {
    super(opts.ifname, uapi, opts.clock ?? systemClock, opts.logger ?? silentLogger, opts.pollMs);
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

  async close(): Promise<void> {
    await this.stopPolling();
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
