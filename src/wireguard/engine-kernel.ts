import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { systemClock, type Clock } from '../clock.js';
import { silentLogger, type Logger } from '../log.js';
import { DrivenEngine, type ConfigChannel } from './engine-driven.js';
import { EngineError } from './engine.js';
import { WgTool } from './wg-tool.js';

// The kernel WireGuard backend: `ip link add IFNAME type wireguard`, then configured and
// read through `wg` (wireguard-tools, netlink) with the same declarative diff as
// wireguard-go (engine-driven.ts, wg-tool.ts). `weft down` deletes the interface.
// Where the module is missing (this project's CI machines) `weft up --backend kernel`
// fails with the reason. docs/BACKENDS.md.

const IP_TIMEOUT_MS = 10_000;

/** Null when the running kernel has WireGuard (loaded, built in, or loadable), else why not. */
export function kernelWireguardUnavailable(root = '/'): string | null {
  if (existsSync(`${root}sys/module/wireguard`)) return null;
  const dir = `${root}lib/modules/${release()}`;
  const listed = (file: string) => {
    try {
      return /(^|\/)wireguard\.ko/m.test(readFileSync(`${dir}/${file}`, 'utf8'));
    } catch {
      return false;
    }
  };
  if (listed('modules.builtin') || listed('modules.dep')) return null;
  return `the kernel ${release()} has no WireGuard module (not in /sys/module, ${dir}/modules.builtin or modules.dep)`;
}

export interface KernelEngineOptions {
  ifname: string;
  clock?: Clock;
  logger?: Logger;
  pollMs?: number;
  /** Where to look for the module (tests). */
  root?: string;
  /** The configuration channel (default: `wg` on PATH). */
  channel?: ConfigChannel;
  /** Runs `ip` (default: execFile). */
  ip?: (args: string[]) => Promise<void>;
}

/** The `ip` commands that create and delete the interface. */
export function kernelLinkCommands(ifname: string): { add: string[]; del: string[] } {
  return { add: ['link', 'add', 'dev', ifname, 'type', 'wireguard'], del: ['link', 'del', 'dev', ifname] };
}

export class KernelEngine extends DrivenEngine {
  readonly kind = 'kernel';

  private constructor(
    opts: KernelEngineOptions,
    private readonly ip: (args: string[]) => Promise<void>,
  ) {
    super(opts.ifname, opts.channel ?? new WgTool(opts.ifname), opts.clock ?? systemClock, opts.logger ?? silentLogger, opts.pollMs);
  }

  /** Creates the interface (fails with the reason where the kernel has no WireGuard) and reads it back. */
  static async start(opts: KernelEngineOptions): Promise<KernelEngine> {
    const why = kernelWireguardUnavailable(opts.root);
    if (why) throw new EngineError('ERR_BACKEND_UNAVAILABLE', `--backend kernel: ${why}; use --backend wireguard-go or builtin`);
    const ip = opts.ip ?? runIp;
    try {
      await ip(kernelLinkCommands(opts.ifname).add);
    } catch (err) {
      throw new EngineError('ERR_BACKEND_FAILED', `--backend kernel: cannot create ${opts.ifname}: ${(err as Error).message}`, { cause: err });
    }
    const engine = new KernelEngine(opts, ip);
    try {
      await engine.refresh();
    } catch (err) {
      await engine.close();
      throw new EngineError('ERR_BACKEND_FAILED', `--backend kernel: wg cannot read ${opts.ifname}: ${(err as Error).message}`, { cause: err });
    }
    engine.schedulePoll();
    engine.logger.info({ iface: opts.ifname }, 'kernel WireGuard engine ready');
    return engine;
  }

  async close(): Promise<void> {
    await this.stopPolling();
    await this.ip(kernelLinkCommands(this.ifname).del).catch((err: Error) => this.logger.warn({ err: err.message }, 'deleting the WireGuard interface failed'));
  }
}

function runIp(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('ip', args, { timeout: IP_TIMEOUT_MS }, (err, _out, stderr) => (err ? reject(new Error(stderr.trim() || err.message)) : resolve()));
  });
}
