import { rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import { connect } from 'node:net';
import { WeftError } from '../errors.js';
import { readJsonBody } from '../http-json.js';
import { applyHttpLimits, listenPrivateSocket } from '../listen.js';
import { AgentError } from './errors.js';
import { checkBody, type BodySpec } from './local-api-body.js';
import type { StatusJson } from './status.js';

// The agent's local API: HTTP over a unix socket in the state dir (mode 0600, in a
// 0700 dir: only root / the owner can drive the agent). The `weft` CLI is a thin
// client of it (local-client.ts). Plain node:http: five routes did not need a framework,
// and fastify with its schema compiler cost every agent ~6 MB and ~0.2 s of start-up
// (docs/BENCHMARKS.md, "Agent start-up and idle memory").
//
//   GET  /v1/status                          -> StatusJson
//   POST /v1/ping  {peer, timeoutMs?}        -> PingReply | 404 ERR_PEER_NOT_FOUND | 504 ERR_PING_TIMEOUT
//   POST /v1/down  {logout?}                 -> {ok: true}, then the agent stops
//   POST /v1/prefs {exitNode?, allowLanAccess?, fallback?} -> StatusJson (`weft set`; exitNode '' clears)
//   POST /v1/tunnel {up}                     -> StatusJson (the tunnel down or up again; the agent keeps running)
// A body that breaks its route's spec is 400 ERR_VALIDATION; an unknown route 404 ERR_NOT_FOUND.

export interface PingReply {
  name: string;
  ip: string;
  endpoint: string | null;
  ms: number;
  /** With NAT traversal: how the peer is reached (relay id when relayed) and why not direct. */
  path?: 'direct' | 'relay' | 'none';
  relay?: string | null;
  pathReason?: string | null;
}

export interface LocalApiBackend {
  status(): StatusJson;
  ping(peer: string, timeoutMs: number): Promise<PingReply>;
  /** Logs out (optionally) and schedules the agent's stop after the reply is sent. */
  down(logout: boolean): Promise<void>;
  /** `weft set`: exit node preferences (exitNode '' clears). */
  setPrefs(p: { exitNode?: string; allowLanAccess?: boolean; fallback?: 'block' | 'direct' }): Promise<StatusJson>;
  /** Takes the tunnel down (no coordinator stream, no peers) or brings it up again; the agent keeps running. */
  setTunnel(up: boolean): Promise<StatusJson>;
}

const STATUS_BY_CODE: Record<string, number> = {
  ERR_PEER_NOT_FOUND: 404,
  ERR_PING_TIMEOUT: 504,
  ERR_NO_ROUTE: 502,
  ERR_SERVER: 502,
  ERR_SERVER_UNREACHABLE: 503,
  ERR_NO_COORDINATOR: 409,
  ERR_VALIDATION: 400,
  ERR_BAD_JSON: 400,
  ERR_NOT_FOUND: 404,
  ERR_BODY_TOO_LARGE: 413,
  ERR_UNSUPPORTED_MEDIA_TYPE: 415,
};

/** Requests are a few hundred bytes: anything larger is not from the CLI. */
const MAX_BODY = 16 * 1024;

interface Route {
  /** POST routes: the JSON body's fields. */
  body?: BodySpec;
  // `any`: the body was checked against `body` first.
  run(b: any): unknown;
}

export class LocalApi {
  private server: Server | null = null;
  private readonly routes: Record<string, Route>;

  constructor(
    private readonly path: string,
    backend: LocalApiBackend,
    private readonly logger: Logger,
  ) {
    this.routes = {
      'GET /v1/status': { run: () => backend.status() },
      'POST /v1/ping': {
        body: { peer: { type: 'string', minLength: 1, maxLength: 255, required: true }, timeoutMs: { type: 'integer', minimum: 1, maximum: 60_000 } },
        run: (b: { peer: string; timeoutMs?: number }) => backend.ping(b.peer, b.timeoutMs ?? 2000),
      },
      'POST /v1/down': {
        body: { logout: { type: 'boolean' } },
        run: async (b: { logout?: boolean }) => {
          await backend.down(b.logout ?? false);
          return { ok: true };
        },
      },
      'POST /v1/prefs': {
        body: { exitNode: { type: 'string', maxLength: 255 }, allowLanAccess: { type: 'boolean' }, fallback: { type: 'string', enum: ['block', 'direct'] } },
        run: (b: { exitNode?: string; allowLanAccess?: boolean; fallback?: 'block' | 'direct' }) => backend.setPrefs(b),
      },
      'POST /v1/tunnel': { body: { up: { type: 'boolean', required: true } }, run: (b: { up: boolean }) => backend.setTunnel(b.up) },
    };
  }

  async start(): Promise<void> {
    if (await answers(this.path)) throw new AgentError('ERR_ALREADY_RUNNING', `another agent is serving ${this.path}`);
    // A socket file left by a crashed agent would make listen() fail with EADDRINUSE.
    await rm(this.path, { force: true });
    const server = createServer((req, res) => void this.handle(req, res));
    // Idle longer than the longest ping a request may wait for (60 s).
    applyHttpLimits(server, { idleTimeoutMs: 120_000 });
    await listenPrivateSocket(server, this.path);
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    // close() ends idle keep-alive connections; requests under way finish first, and
    // their connections close after the answer (`connection: close` below).
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(this.path, { force: true });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const key = `${req.method} ${path}`;
    let status = 200;
    let out: unknown;
    try {
      const route = this.routes[key];
      if (!route) throw new WeftError('ERR_NOT_FOUND', `no route ${key}`);
      let body: unknown = {};
      if (route.body) {
        const type = req.headers['content-type'];
        if (type !== undefined && !/^application\/json\b/i.test(type)) throw new WeftError('ERR_UNSUPPORTED_MEDIA_TYPE', 'bodies are application/json');
        body = checkBody(await readJsonBody(req, MAX_BODY), route.body);
      }
      out = await route.run(body);
    } catch (err) {
      const code = err instanceof WeftError ? err.code : ((err as { code?: string }).code ?? 'ERR_INTERNAL');
      status = STATUS_BY_CODE[code] ?? 500;
      if (status >= 500 && !(code in STATUS_BY_CODE)) this.logger.error({ err: (err as Error).message }, 'local API request failed');
      out = { error: { code, message: (err as Error).message } };
    }
    // `weft down` stops the agent right after its answer; a stopping API keeps no connection.
    const close = key === 'POST /v1/down' || this.server === null;
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...(close ? { connection: 'close' } : {}) }).end(JSON.stringify(out));
  }
}

/** True when something accepts connections on the socket (a live agent). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ path });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
