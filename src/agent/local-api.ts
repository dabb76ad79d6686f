import { rm } from 'node:fs/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from '../log.js';
import { connect } from 'node:net';
import { WeftError } from '../errors.js';
import { applyHttpLimits, listenPrivateSocket } from '../listen.js';
import { AgentError } from './errors.js';
import type { StatusJson } from './status.js';

// The agent's local API: HTTP over a unix socket in the state dir (mode 0600, in a
// 0700 dir: only root / the owner can drive the agent). The `weft` CLI is a thin
// client of it (local-client.ts).
//
//   GET  /v1/status                          -> StatusJson
//   POST /v1/ping  {peer, timeoutMs?}        -> PingReply | 404 ERR_PEER_NOT_FOUND | 504 ERR_PING_TIMEOUT
//   POST /v1/down  {logout?}                 -> {ok: true}, then the agent stops
//   POST /v1/prefs {exitNode?, allowLanAccess?, fallback?} -> StatusJson (`weft set`; exitNode '' clears)
//   POST /v1/tunnel {up}                     -> StatusJson (the tunnel down or up again; the agent keeps running)

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
};

export class LocalApi {
  private app: FastifyInstance | null = null;

  constructor(
    private readonly path: string,
    private readonly backend: LocalApiBackend,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const app = Fastify({ logger: false });
    app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, _req, reply) => {
      const code = err instanceof WeftError ? err.code : err.code ?? 'ERR_INTERNAL';
      const status = STATUS_BY_CODE[code] ?? (err.statusCode && err.statusCode < 500 ? err.statusCode : 500);
      if (status >= 500 && !(code in STATUS_BY_CODE)) this.logger.error({ err: err.message }, 'local API request failed');
      void reply.code(status).send({ error: { code, message: err.message } });
    });
    app.get('/v1/status', async () => this.backend.status());
    app.post<{ Body: { peer: string; timeoutMs?: number } }>(
      '/v1/ping',
      {
        schema: {
          body: {
            type: 'object',
            required: ['peer'],
            additionalProperties: false,
            properties: { peer: { type: 'string', minLength: 1, maxLength: 255 }, timeoutMs: { type: 'integer', minimum: 1, maximum: 60_000 } },
          },
        },
      },
      async (req) => this.backend.ping(req.body.peer, req.body.timeoutMs ?? 2000),
    );
    app.post<{ Body: { logout?: boolean } }>(
      '/v1/down',
      { schema: { body: { type: 'object', additionalProperties: false, properties: { logout: { type: 'boolean' } } } } },
      async (req) => {
        await this.backend.down(req.body?.logout ?? false);
        return { ok: true };
      },
    );
    app.post<{ Body: { exitNode?: string; allowLanAccess?: boolean; fallback?: 'block' | 'direct' } }>(
      '/v1/prefs',
      {
        schema: {
          body: {
            type: 'object',
            additionalProperties: false,
            properties: { exitNode: { type: 'string', maxLength: 255 }, allowLanAccess: { type: 'boolean' }, fallback: { type: 'string', enum: ['block', 'direct'] } },
          },
        },
      },
      async (req) => this.backend.setPrefs(req.body ?? {}),
    );
    app.post<{ Body: { up: boolean } }>(
      '/v1/tunnel',
      { schema: { body: { type: 'object', additionalProperties: false, required: ['up'], properties: { up: { type: 'boolean' } } } } },
      async (req) => this.backend.setTunnel(req.body.up),
    );
    if (await answers(this.path)) throw new AgentError('ERR_ALREADY_RUNNING', `another agent is serving ${this.path}`);
    // A socket file left by a crashed agent would make listen() fail with EADDRINUSE.
    await rm(this.path, { force: true });
    // Idle longer than the longest ping a request may wait for (60 s).
    applyHttpLimits(app.server, { idleTimeoutMs: 120_000 });
    await app.ready();
    await listenPrivateSocket(app.server, this.path);
    this.app = app;
  }

  async stop(): Promise<void> {
    const app = this.app;
    this.app = null;
    if (app) await app.close();
    await rm(this.path, { force: true });
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
