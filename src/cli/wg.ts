import { spawn } from 'node:child_process';
import { appendFileSync, createWriteStream } from 'node:fs';
import type { Logger as PinoLogger } from 'pino';
import { InvalidArgumentError } from '../errors.js';
import { daemonLogger, type LogOptions } from './logging.js';
import { LinuxBind } from '../io/bind-linux.js';
import { LinuxTun } from '../io/tun-linux.js';
import { preferShortSlices } from '../io/sched-slice.js';
import { warmUpDataPath } from '../wireguard/warmup.js';
import { Device } from '../wireguard/device.js';
import { UapiServer } from '../wireguard/uapi-server.js';
import { DEFAULT_MTU } from '../wireguard/constants.js';
import { VERSION } from '../version.js';

// `weft wg IFNAME` / `weft-wg IFNAME`: a drop-in for `wireguard-go IFNAME`. It creates
// the TUN and the UAPI socket, then (unless -f) detaches into the background once both
// exist, so `wg-quick` can configure it right after it returns. It exits on SIGINT,
// SIGTERM, when the interface is deleted or when its UAPI socket file is removed.

const READY_FD_ENV = 'WEFT_WG_READY_FD';

export interface WgOptions extends LogOptions {
  foreground: boolean;
  iface: string;
}

const USAGE = 'Usage: weft-wg [-f/--foreground] [--log-level LEVEL] [--log-format text|json] INTERFACE-NAME | --version';

export function parseWgArgs(argv: string[]): WgOptions | string {
  let foreground = process.env.WG_PROCESS_FOREGROUND === '1';
  const log: LogOptions = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-f' || a === '--foreground') foreground = true;
    else if (a === '--log-level' || a === '--log-format') {
      if (i + 1 >= argv.length) return USAGE;
      log[a === '--log-level' ? 'logLevel' : 'logFormat'] = argv[++i];
    } else rest.push(a);
  }
  // An unknown option must not become an interface name (and a TUN device of that name).
  if (rest.length !== 1 || rest[0].startsWith('-')) return USAGE;
  const iface = rest[0];
  if (!/^[A-Za-z0-9_.=+-]{1,15}$/.test(iface)) return `invalid interface name ${JSON.stringify(iface)}`;
  return { foreground, iface, ...log };
}

/** As wireguard-go: quiet (errors only) unless LOG_LEVEL=verbose or --log-level says otherwise. */
function wgLogger(o: WgOptions): PinoLogger {
  return daemonLogger(o, 'error');
}

/** Runs the userspace WireGuard interface; resolves with the process exit code. */
/** `script` is the entry file that re-runs this in the foreground when daemonizing. */
export async function runWg(argv: string[], script: string): Promise<number> {
  // As `wireguard-go --version`.
  if (argv.length === 1 && argv[0] === '--version') {
    process.stdout.write(`weft-wg v${VERSION}\n`);
    return 0;
  }
  const opts = parseWgArgs(argv);
  if (typeof opts === 'string') throw new InvalidArgumentError(opts);
  const logger = wgLogger(opts); // checks the log options before anything starts
  if (!opts.foreground && !process.env[READY_FD_ENV]) return daemonize(opts, script, logger.isLevelEnabled('debug'));
  return serve(opts, logger);
}

// Re-runs this program in the foreground as a detached child and waits until it says
// it is ready (or fails), so the caller's next `wg set` finds the socket.
function daemonize(opts: WgOptions, script: string, verbose: boolean): Promise<number> {
  return new Promise((resolve) => {
    const log = [...(opts.logLevel ? ['--log-level', opts.logLevel] : []), ...(opts.logFormat ? ['--log-format', opts.logFormat] : [])];
    const child = spawn(process.execPath, [script, '-f', ...log, opts.iface], {
      detached: true,
      stdio: ['ignore', verbose ? 'inherit' : 'ignore', verbose ? 'inherit' : 'ignore', 'pipe'],
      env: { ...process.env, [READY_FD_ENV]: '3' },
    });
    let status = '';
    const ready = child.stdio[3] as NodeJS.ReadableStream;
    ready.on('data', (b: Buffer) => (status += b.toString()));
    ready.on('end', () => {
      if (status === 'ready\n') {
        child.unref();
        resolve(0);
      } else {
        process.stderr.write(status || 'weft-wg: failed to start\n');
        resolve(1);
      }
    });
  });
}

// The daemon's parent reads one line from the ready pipe: `ready` or the error.
function report(line: string): void {
  const fd = process.env[READY_FD_ENV];
  delete process.env[READY_FD_ENV];
  if (fd) createWriteStream('', { fd: Number(fd) }).end(line + '\n');
  else if (line !== 'ready') process.stderr.write(line + '\n');
}

async function serve(opts: WgOptions, logger: PinoLogger): Promise<number> {
  preferShortSlices(); // this thread moves the packets
  if (process.env.WEFT_WARMUP !== '0') {
    try {
      await warmUpDataPath();
    } catch (err) {
      logger.warn({ err }, 'data-path warm-up failed (continuing)');
    }
  }
  let tun: LinuxTun;
  try {
    tun = await LinuxTun.create(opts.iface, { mtu: DEFAULT_MTU });
  } catch (err) {
    report(`weft-wg: failed to create TUN device ${opts.iface}: ${(err as Error).message}`);
    return 1;
  }
  const keyLogPath = process.env.WEFT_WG_KEYLOG;
  if (keyLogPath) logger.warn({ path: keyLogPath }, 'WEFT_WG_KEYLOG is set: handshake secrets are written to this file');
  const keyLog = keyLogPath ? (lines: string) => appendFileSync(keyLogPath, lines, { mode: 0o600 }) : undefined;
  const device = new Device({ tun, bind: new LinuxBind(), logger, keyLog });
  const uapi = new UapiServer(opts.iface, device, { logger });
  try {
    await uapi.start();
    await device.start();
  } catch (err) {
    report(`weft-wg: ${(err as Error).message}`);
    await uapi.stop().catch(() => {});
    await device.close().catch(() => {});
    return 1;
  }
  report('ready');
  logger.info({ iface: opts.iface, port: device.listenPort }, 'interface is up');

  return new Promise((resolve) => {
    let stopping = false;
    const stop = (why: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ why }, 'shutting down');
      Promise.allSettled([uapi.stop(), device.close()]).then(() => resolve(0));
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    device.onTunClosed = () => stop('interface removed');
    uapi.onSocketRemoved = () => stop('UAPI socket removed');
  });
}
