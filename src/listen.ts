import { chmod } from 'node:fs/promises';
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { InvalidArgumentError, WeftError } from './errors.js';

// Listening safely. What every HTTP server Weft runs (coordinator API and admin socket, standalone relay,
// agent local API) gets, so slow or idle clients cannot hold sockets forever: Node's
// defaults wait for headers 60 s, for a body forever (fastify: requestTimeout 0) and
// accept any number of connections. Upgraded WebSockets leave these timeouts behind
// (ws clears the socket timeout; the request is complete once upgraded).

export interface HttpLimits {
  /** The request line and headers must arrive within this. */
  headersTimeoutMs: number;
  /** The whole request (headers and body) must arrive within this. */
  requestTimeoutMs: number;
  /** A connection with no traffic (between or during requests) is closed after this. */
  idleTimeoutMs: number;
  /** Open connections (upgraded streams included); more are refused at accept. */
  maxConnections: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  maxConnections: 16_384,
};

/** Applies `limits` to a server that is not listening yet (the timeout checker starts on listen). */
export function applyHttpLimits(server: HttpServer | HttpsServer, limits: Partial<HttpLimits> = {}): HttpLimits {
  const l = { ...DEFAULT_HTTP_LIMITS, ...limits };
  server.headersTimeout = l.headersTimeoutMs;
  server.requestTimeout = l.requestTimeoutMs;
  server.keepAliveTimeout = l.idleTimeoutMs;
  server.setTimeout(l.idleTimeoutMs);
  server.maxConnections = l.maxConnections;
  // Header and request timeouts are enforced by a periodic sweep (default every 30 s):
  // make it fine enough that a slow client is cut close to its deadline.
  (server as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = Math.max(100, Math.min(1_000, l.headersTimeoutMs / 4));
  return l;
}

/**
 * Listens on a unix socket that is created with mode 0600 (umask 0177 around bind(2),
 * which runs synchronously inside listen(), so nothing else in this thread is created
 * under that umask). Worker threads cannot set the umask: there the socket is narrowed
 * right after bind, inside the caller's 0700 directory.
 */
export async function listenPrivateSocket(server: NetServer, path: string): Promise<void> {
  let narrowAfter = false;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    let old: number | undefined;
    try {
      old = process.umask(0o177);
    } catch {
      narrowAfter = true;
    }
    try {
      server.listen(path, done);
    } finally {
      if (old !== undefined) process.umask(old);
    }
  });
  if (narrowAfter) await chmod(path, 0o600);
}

/** Starts `server` listening on host:port; a failure becomes WeftError `code` naming `what`. */
export async function listenOn(server: NetServer, host: string, port: number, code: string, what: string): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: Error) => {
    throw new WeftError(code, `${what} cannot listen on ${host}:${port}: ${err.message}`, { cause: err });
  });
  return server.address() as AddressInfo;
}

/** `HOST:PORT` or `[v6]:PORT` of a --listen flag. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new InvalidArgumentError(`invalid listen address ${JSON.stringify(listen)} (want HOST:PORT)`);
  return { host: m[1] ?? m[2], port };
}
