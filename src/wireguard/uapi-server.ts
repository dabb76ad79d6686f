import net from 'node:net';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { WeftError, InvalidArgumentError } from '../errors.js';
import { listenPrivateSocket } from '../listen.js';
import { silentLogger, type Logger } from '../log.js';
import { UapiError, formatGet, parseSet, type UapiTarget } from './uapi.js';

// The UAPI socket `wg` talks to: DIR/IFACE.sock, an AF_UNIX stream socket carrying any
// number of `get=1` / `set=1` operations per connection (wireguard-go ipc/uapi_linux.go
// and device/uapi.go IpcHandle). Deleting the socket file asks the daemon to exit.

export const DEFAULT_UAPI_DIR = '/var/run/wireguard';
/**
 * Largest operation accepted; a bigger one gets -EINVAL and the connection is closed.
 * `wg setconf` sends a whole configuration as one operation, ~110 bytes a peer: 4 MiB
 * holds ~38,000 peers. The socket is root's only (0600), so this bounds a mistake, not
 * a stranger. (The buffer is rescanned per chunk, so the bound also caps that work.)
 */
export const UAPI_MAX_REQUEST_BYTES = 4 << 20;
const STALE_PROBE_TIMEOUT_MS = 1000;
const UNKNOWN_ERRNO = new UapiError('ERR_UAPI_UNKNOWN', 'unknown').errno;

export interface UapiServerOptions {
  dir?: string;
  logger?: Logger;
  maxRequestBytes?: number;
}

export class UapiServer {
  readonly path: string;
  /** Called once if the socket file disappears or is replaced while serving. */
  onSocketRemoved?: () => void;

  private readonly dir: string;
  private readonly log: Logger;
  private readonly maxRequestBytes: number;
  private server: net.Server | null = null;
  private watcher: fs.FSWatcher | null = null;
  private ino = -1;
  private readonly conns = new Set<net.Socket>();
  // Operations from all connections run one at a time, like wireguard-go's ipcMutex.
  private queue: Promise<void> = Promise.resolve();

  constructor(
    iface: string,
    private readonly target: UapiTarget,
    opts: UapiServerOptions = {},
  ) {
    // Linux interface names: at most 15 bytes, no '/' or whitespace (IFNAMSIZ).
    if (!/^[A-Za-z0-9_=+.-]{1,15}$/.test(iface) || iface === '.' || iface === '..') {
      throw new InvalidArgumentError(`invalid interface name ${JSON.stringify(iface)}`);
    }
    this.dir = opts.dir ?? DEFAULT_UAPI_DIR;
    this.log = opts.logger ?? silentLogger;
    this.maxRequestBytes = opts.maxRequestBytes ?? UAPI_MAX_REQUEST_BYTES;
    this.path = path.join(this.dir, `${iface}.sock`);
  }

  async start(): Promise<void> {
    if (this.server) throw new WeftError('ERR_UAPI_STARTED', 'UAPI server already started');
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o755 });
    await this.removeStaleSocket();

    const server = net.createServer({ allowHalfOpen: true }, (c) => this.onConnection(c));
    // The socket is created with mode 0600: only root may configure the interface.
    try {
      await listenPrivateSocket(server, this.path);
    } catch (e) {
      throw new WeftError('ERR_UAPI_LISTEN', `cannot listen on ${this.path}: ${(e as Error).message}`, { cause: e });
    }
    server.on('error', (e) => this.log.error({ err: e.message }, 'uapi server error'));
    this.server = server;
    this.ino = (await fsp.stat(this.path)).ino;
    this.watch();
    this.log.debug({ path: this.path }, 'uapi listening');
  }

  async stop(): Promise<void> {
    this.watcher?.close();
    this.watcher = null;
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    // Unlink only our own socket, not one a newer instance has put in its place.
    try {
      if ((await fsp.stat(this.path)).ino === this.ino) await fsp.unlink(this.path);
    } catch {
      // already gone
    }
  }

  // A socket nobody answers on is left over from a crashed daemon; a live one is not ours.
  private async removeStaleSocket(): Promise<void> {
    try {
      await fsp.lstat(this.path);
    } catch {
      return;
    }
    const alive = await new Promise<boolean>((resolve) => {
      const probe = net.connect(this.path);
      const done = (v: boolean): void => {
        clearTimeout(timer);
        probe.destroy();
        resolve(v);
      };
      // A listener that accepts but is too busy to answer still counts as alive.
      const timer = setTimeout(() => done(true), STALE_PROBE_TIMEOUT_MS);
      probe.once('connect', () => done(true));
      probe.once('error', () => done(false));
    });
    if (alive) throw new WeftError('ERR_UAPI_IN_USE', `${this.path} is in use by a running process`);
    await fsp.rm(this.path, { force: true });
  }

  private watch(): void {
    const base = path.basename(this.path);
    try {
      this.watcher = fs.watch(this.dir, { persistent: false }, (_event, name) => {
        if (name === null || name === base) this.checkSocket();
      });
      this.watcher.on('error', (e) => this.log.warn({ err: e.message }, 'uapi socket watch failed'));
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'cannot watch uapi socket directory');
    }
  }

  private checkSocket(): void {
    if (!this.watcher) return;
    let gone: boolean;
    try {
      gone = fs.statSync(this.path).ino !== this.ino;
    } catch {
      gone = true;
    }
    if (!gone) return;
    this.watcher.close();
    this.watcher = null;
    this.log.info({ path: this.path }, 'uapi socket removed');
    this.onSocketRemoved?.();
  }

  private onConnection(c: net.Socket): void {
    this.conns.add(c);
    c.setEncoding('latin1'); // one char per byte: sizes are byte counts, no split characters
    let buf = '';
    let ended = false;
    let busy = false;
    let closing = false;
    // Flush what was written, then drop the connection whatever the peer does.
    const close = (last = ''): void => {
      closing = true;
      c.end(last, () => c.destroy());
    };
    c.on('error', (e) => this.log.debug({ err: e.message }, 'uapi connection error'));
    c.on('close', () => this.conns.delete(c));

    // Runs the buffered operations in order, one at a time.
    const pump = async (): Promise<void> => {
      if (busy || closing) return;
      busy = true;
      try {
        for (;;) {
          const step = takeOperation(buf, ended, this.maxRequestBytes);
          if (step.kind === 'wait') return;
          buf = buf.slice(step.consumed);
          if (step.kind === 'close') {
            if (step.reason) this.log.warn({ reason: step.reason }, 'uapi: closing connection');
            close(step.errno === undefined ? '' : `errno=${step.errno}\n\n`);
            return;
          }
          // Stop reading while the operation runs so a flooding client cannot grow `buf`.
          c.pause();
          const reply = await this.serialize(() => this.run(step));
          if (c.destroyed) return;
          c.resume();
          c.write(reply);
        }
      } finally {
        busy = false;
      }
    };
    c.on('data', (chunk: string) => {
      if (closing) return;
      buf += chunk;
      void pump();
    });
    c.on('end', () => {
      ended = true;
      void pump();
    });
  }

  private serialize<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private async run(op: Operation): Promise<string> {
    try {
      if (op.kind === 'get') return formatGet(this.target.snapshot());
      if (op.kind === 'error') throw op.error;
      await this.target.apply(parseSet(op.lines));
      return 'errno=0\n\n';
    } catch (e) {
      if (e instanceof UapiError) {
        this.log.warn({ code: e.code, errno: e.errno, err: e.message }, `uapi ${op.kind} failed`);
        return `errno=${e.errno}\n\n`;
      }
      this.log.error({ err: (e as Error)?.message }, `uapi ${op.kind} failed`);
      return `errno=${UNKNOWN_ERRNO}\n\n`;
    }
  }
}

type Operation =
  | { kind: 'get'; consumed: number }
  | { kind: 'set'; consumed: number; lines: string[] }
  | { kind: 'error'; consumed: number; error: UapiError };
type Step = Operation | { kind: 'wait' } | { kind: 'close'; consumed: number; errno?: number; reason?: string };

// Splits the next complete operation off the front of the connection buffer.
function takeOperation(buf: string, ended: boolean, max: number): Step {
  const tooBig: Step = { kind: 'close', consumed: buf.length, errno: new UapiError('ERR_UAPI_INVALID', '').errno, reason: 'request too large' };
  const nl = buf.indexOf('\n');
  if (nl < 0) {
    if (buf.length > max) return tooBig;
    if (!ended) return { kind: 'wait' };
    return buf.length ? { kind: 'close', consumed: buf.length, reason: 'truncated operation' } : { kind: 'close', consumed: 0 };
  }
  const op = buf.slice(0, nl);
  if (op === 'get=1') {
    if (buf.length < nl + 2) return ended ? { kind: 'close', consumed: buf.length, reason: 'truncated get' } : { kind: 'wait' };
    if (buf[nl + 1] === '\n') return { kind: 'get', consumed: nl + 2 };
    return { kind: 'error', consumed: nl + 2, error: new UapiError('ERR_UAPI_INVALID', 'trailing character in UAPI get') };
  }
  if (op === 'set=1') {
    const start = nl + 1;
    if (buf[start] === '\n') return { kind: 'set', consumed: start + 1, lines: [] };
    const end = buf.indexOf('\n\n', start);
    if (end < 0 || end - start > max) {
      if (buf.length - start > max) return tooBig;
      // Like wireguard-go, end of input also terminates a set.
      if (ended) return { kind: 'set', consumed: buf.length, lines: buf.slice(start).split('\n') };
      return { kind: 'wait' };
    }
    return { kind: 'set', consumed: end + 2, lines: buf.slice(start, end).split('\n') };
  }
  // wireguard-go drops the connection on an unknown operation without replying.
  return { kind: 'close', consumed: buf.length, reason: `invalid operation ${JSON.stringify(op.slice(0, 40))}` };
}
