import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { listenOn, listenPrivateSocket } from '../listen.js';
import type { Logger } from '../log.js';
import { splice } from './splice.js';

// SOCKS5 (RFC 1928) front door to the mesh: CONNECT only, no authentication, so it
// listens on loopback unless told otherwise. Names resolve to mesh peers (MeshDialer);
// nothing is ever dialed outside the mesh.

export const SOCKS_VERSION = 5;
const AUTH_NONE = 0;
const AUTH_NO_ACCEPTABLE = 0xff;
const CMD_CONNECT = 1;
const ATYP_IPV4 = 1;
const ATYP_DOMAIN = 3;
const ATYP_IPV6 = 4;
/** Reply codes (RFC 1928 section 6). */
export const REP_SUCCEEDED = 0;
export const REP_GENERAL_FAILURE = 1;
export const REP_HOST_UNREACHABLE = 4;
export const REP_CONNECTION_REFUSED = 5;
export const REP_TTL_EXPIRED = 6;
export const REP_COMMAND_NOT_SUPPORTED = 7;
export const REP_ATYP_NOT_SUPPORTED = 8;

const HANDSHAKE_TIMEOUT_MS = 10_000;
const MAX_HEADER = 262; // the longest greeting or request
const MAX_CLIENTS = 1024;

export type Dial = (host: string, port: number) => Promise<Duplex>;

export interface Socks5Stats {
  accepted: number;
  connected: number;
  /** Malformed or unsupported requests. */
  rejected: number;
  failedDials: number;
}

export class Socks5Server {
  readonly stats: Socks5Stats = { accepted: 0, connected: 0, rejected: 0, failedDials: 0 };
  private readonly server: Server;

  constructor(
    private readonly dial: Dial,
    private readonly logger?: Logger,
  ) {
    // Half-open: a client that ends its request (nc's stdin) still gets the answer.
    this.server = createServer({ allowHalfOpen: true }, (c) => this.onClient(c));
    this.server.maxConnections = MAX_CLIENTS;
  }

  async listen(port: number, host = '127.0.0.1'): Promise<{ host: string; port: number }> {
    const a = await listenOn(this.server, host, port, 'EADDRINUSE', 'SOCKS5 proxy');
    return { host: a.address, port: a.port };
  }

  /** Listens on a unix socket (mode 0600, in the state dir) for `weft nc` and `weft curl`. */
  listenPath(path: string): Promise<void> {
    return listenPrivateSocket(this.server, path);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private onClient(c: Socket): void {
    this.stats.accepted++;
    c.setTimeout(HANDSHAKE_TIMEOUT_MS, () => c.destroy());
    c.on('error', () => {});
    let buf = Buffer.alloc(0);
    let greeted = false;
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      if (buf.length > MAX_HEADER + 64) return this.reject(c, REP_GENERAL_FAILURE);
      if (!greeted) {
        // VER NMETHODS METHODS...
        if (buf.length < 2) return;
        if (buf[0] !== SOCKS_VERSION) return this.reject(c, null);
        if (buf.length < 2 + buf[1]) return;
        const methods = buf.subarray(2, 2 + buf[1]);
        buf = buf.subarray(2 + buf[1]);
        if (!methods.includes(AUTH_NONE)) {
          this.stats.rejected++;
          c.end(Buffer.from([SOCKS_VERSION, AUTH_NO_ACCEPTABLE]));
          return;
        }
        c.write(Buffer.from([SOCKS_VERSION, AUTH_NONE]));
        greeted = true;
      }
      const req = parseRequest(buf);
      if (req === null) return; // incomplete
      c.off('data', onData);
      if ('error' in req) return this.reject(c, req.error);
      c.pause();
      if (req.rest.length) c.unshift(req.rest);
      void this.connect(c, req.host, req.port);
    };
    c.on('data', onData);
  }

  private async connect(c: Socket, host: string, port: number): Promise<void> {
    let up: Duplex;
    try {
      up = await this.dial(host, port);
    } catch (err) {
      this.stats.failedDials++;
      const code = (err as NodeJS.ErrnoException).code;
      this.logger?.debug({ host, port, code }, 'socks5: dial failed');
      return this.reject(c, replyFor(code), true);
    }
    if (c.destroyed) return void up.destroy();
    this.stats.connected++;
    c.setTimeout(0);
    // BND.ADDR/PORT: clients ignore them for CONNECT; 0.0.0.0:0 like many servers.
    c.write(Buffer.from([SOCKS_VERSION, REP_SUCCEEDED, 0, ATYP_IPV4, 0, 0, 0, 0, 0, 0]));
    splice(c, up);
    c.resume();
  }

  private reject(c: Socket, rep: number | null, dial = false): void {
    if (!dial) this.stats.rejected++;
    if (rep === null) return void c.destroy();
    c.end(Buffer.from([SOCKS_VERSION, rep, 0, ATYP_IPV4, 0, 0, 0, 0, 0, 0]));
  }
}

type Request = { host: string; port: number; rest: Buffer } | { error: number };

/** VER CMD RSV ATYP DST.ADDR DST.PORT; null while incomplete. */
export function parseRequest(b: Buffer): Request | null {
  if (b.length < 5) return null;
  if (b[0] !== SOCKS_VERSION) return { error: REP_GENERAL_FAILURE };
  if (b[1] !== CMD_CONNECT) return { error: REP_COMMAND_NOT_SUPPORTED };
  let host: string;
  let end: number;
  if (b[3] === ATYP_IPV4) {
    end = 4 + 4;
    if (b.length < end + 2) return null;
    host = [...b.subarray(4, 8)].join('.');
  } else if (b[3] === ATYP_IPV6) {
    end = 4 + 16;
    if (b.length < end + 2) return null;
    const parts: string[] = [];
    for (let i = 0; i < 8; i++) parts.push(b.readUInt16BE(4 + i * 2).toString(16));
    host = parts.join(':');
  } else if (b[3] === ATYP_DOMAIN) {
    end = 5 + b[4];
    if (b.length < end + 2) return null;
    host = b.subarray(5, end).toString('latin1');
    if (!host || !/^[a-zA-Z0-9.\-_]+$/.test(host)) return { error: REP_HOST_UNREACHABLE };
  } else {
    return { error: REP_ATYP_NOT_SUPPORTED };
  }
  return { host, port: b.readUInt16BE(end), rest: b.subarray(end + 2) };
}

function replyFor(code: string | undefined): number {
  if (code === 'ECONNREFUSED') return REP_CONNECTION_REFUSED;
  if (code === 'ETIMEDOUT') return REP_TTL_EXPIRED;
  if (code === 'ERR_UNKNOWN_HOST') return REP_HOST_UNREACHABLE;
  return REP_GENERAL_FAILURE;
}
