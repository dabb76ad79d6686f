import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import type { Logger as PinoLogger } from 'pino';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { Clock } from '../clock.js';
import { parseEndpoints } from './endpoints.js';
import { badRequest, ControlError, notFound } from './errors.js';
import type { AdmittedAuth, NodeVerifier, VerifiedRequest } from './node-verifier.js';
import { RESPONSE_MAC_HEADER, responseMac } from '../wire/node-auth.js';
import type { Registry } from './registry.js';
import type { PolicyEngine } from './policy-engine.js';
import type { NodeRecord, Store } from './store/index.js';
import type { MeshDns } from './dns-records.js';
import type { StreamHub } from './stream.js';
import type { AdminNodeView, ErrorBody, RegisterRequest, RelayInfo, RelayStatusView } from '../wire/control.js';
import { CONTROL_PROTOCOL_VERSION, FORWARD_RULES_VERSION, MIN_CONTROL_PROTOCOL_VERSION, RESUME_HEADER, VERSION_HEADER } from '../wire/version.js';
import { parseResumePoint, type ResumePoint } from './change-log.js';
import type { Sealer } from './identity/sealer.js';
import type { NodeLogins } from './identity/node-login.js';
import type { ConsoleEvents } from './console/events.js';

export const BODY_LIMIT = 64 * 1024;
export const MAP_PATH = '/api/v1/map';

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: Buffer;
    nodeKey?: string;
    nodeAuth?: AdmittedAuth;
    nodeSession?: VerifiedRequest;
    /** Who authenticated this admin request over TCP: `apikey:<id>` or `console:apikey:<id>` (audit log). */
    adminActor?: string;
  }
}

export interface ApiContext {
  store: Store;
  registry: Registry;
  hub: StreamHub;
  policy: PolicyEngine;
  /** MagicDNS config and records (dns-records.ts). */
  dns: MeshDns;
  verifier: NodeVerifier;
  clock: Clock;
  serverPublicKey: string;
  wss: WebSocketServer;
  metrics: MetricsRegistry;
  /** Interactive `weft up` logins (an OIDC provider is configured), else absent. */
  nodeLogins?: NodeLogins;
  /** The key ring sealing recoverable secrets at rest (identity/sealer.ts). */
  sealer?: Sealer;
  /** The relay map for the device that sent `req` (relay-embed.ts: what it dialled). */
  relaysFor: (req: IncomingMessage) => RelayInfo[];
  /** Relays and, for the embedded one, the nodes connected to it (console). */
  relayStatus: (req: IncomingMessage) => RelayStatusView[];
  /** Live node changes for the console (GET /api/v1/admin/events). */
  events: ConsoleEvents;
  /** A node as the admin API shows it: its view plus its last status report. */
  adminView: (n: NodeRecord) => AdminNodeView;
}

const errorBody = (code: string, message: string, field?: string): ErrorBody => ({ error: { code, message, ...(field ? { field } : {}) } });

// Fastify's own 4xx errors, renamed to stable Weft codes.
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'ERR_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'ERR_BAD_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'ERR_BAD_JSON',
};

interface ValidationIssue {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** Names the offending field from an ajv error: `hostname`, `tags[2]`, `authKey`. */
function fieldOf(v: ValidationIssue): string {
  const path = v.instancePath.replace(/^\//, '').split('/').filter(Boolean).map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '');
  const extra = (v.params.missingProperty ?? v.params.additionalProperty) as string | undefined;
  return extra ? (path ? `${path}.${extra}` : extra) : path;
}

export function toErrorResponse(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof ControlError) {
    const body = errorBody(err.code, err.message, err.field);
    if (err.line !== undefined) Object.assign(body.error, { line: err.line, column: err.column });
    return { status: err.status, body };
  }
  const e = err as { validation?: ValidationIssue[]; validationContext?: string; statusCode?: number; code?: string; message?: string };
  if (e.validation && e.validation.length > 0) {
    const v = e.validation[0];
    const field = fieldOf(v);
    const what = v.keyword === 'additionalProperties' ? 'is not allowed' : v.keyword === 'required' ? 'is required' : (v.message ?? 'is invalid');
    return { status: 400, body: errorBody('ERR_VALIDATION', `${e.validationContext ?? 'request'} ${field || 'value'} ${what}`, field || e.validationContext) };
  }
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, body: errorBody(FASTIFY_CODES[e.code ?? ''] ?? 'ERR_BAD_REQUEST', e.message ?? 'bad request', e.code?.startsWith('FST_ERR_CTP') ? 'body' : undefined) };
  }
  return { status: 500, body: errorBody('ERR_INTERNAL', 'internal error') };
}

export function createHttp(log: PinoLogger, extra: Partial<FastifyServerOptions> & { https?: { cert: Buffer; key: Buffer } } = {}): FastifyInstance {
  const app = Fastify({
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    // Strict: no type coercion or silent dropping of unknown fields; they are errors.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
    ...extra,
  } as FastifyServerOptions) as unknown as FastifyInstance;
  // JSON only (anything else is 415); raw bytes are kept because node auth signs the exact body.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    const buf = body as Buffer;
    req.rawBody = buf;
    if (buf.length === 0) return done(null, {});
    try {
      done(null, JSON.parse(buf.toString('utf8')));
    } catch {
      done(badRequest('ERR_BAD_JSON', 'request body is not valid JSON', 'body'), undefined);
    }
  });
  app.addHook('preValidation', async (req) => {
    if (req.body === undefined && req.method !== 'GET' && req.method !== 'DELETE') req.body = {};
  });
  app.setErrorHandler((err, req, reply) => {
    const { status, body } = toErrorResponse(err);
    if (status >= 500) req.log.error({ err }, 'request failed');
    if (status === 429) void reply.header('retry-after', '1');
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((req, reply) => void reply.status(404).send(errorBody('ERR_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)));
  return app;
}

export const noQuery = { type: 'object', additionalProperties: false, properties: {} } as const;
export const emptyBody = { type: 'object', additionalProperties: false, properties: {} } as const;

const registerSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['version'],
  properties: {
    version: { type: 'integer', minimum: MIN_CONTROL_PROTOCOL_VERSION, maximum: CONTROL_PROTOCOL_VERSION },
    hostname: { type: 'string', maxLength: 255 },
    authKey: { type: 'string', minLength: 1, maxLength: 256 },
    endpoints: { type: 'array', maxItems: 32, items: { type: 'string', maxLength: 64 } },
    reauth: { type: 'boolean' },
    interactive: { type: 'boolean' },
  },
} as const;

/** Routes nodes call: server key, register, logout, and the map stream (via `upgrade`). */
export function nodeRoutes(app: FastifyInstance, ctx: ApiContext): void {
  // Before the body is read: a stranger's request costs a header parse and a lookup.
  const admit = async (req: FastifyRequest): Promise<void> => {
    req.nodeAuth = ctx.verifier.admit(req.headers.authorization);
  };
  const admitNew = async (req: FastifyRequest): Promise<void> => {
    req.nodeAuth = ctx.verifier.admit(req.headers.authorization, { source: req.socket.remoteAddress });
  };
  const nodeAuth = async (req: FastifyRequest): Promise<void> => {
    const v = ctx.verifier.verify(req.nodeAuth!, req.method, req.url, req.rawBody ?? new Uint8Array(0));
    req.nodeSession = v;
    req.nodeKey = v.publicKey;
  };
  // v7: a 2xx answer to a node carries a MAC under the request's session keys.
  const seal = async (req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> => {
    const keys = req.nodeSession?.keys;
    if (keys && reply.statusCode < 300 && typeof payload === 'string') void reply.header(RESPONSE_MAC_HEADER, responseMac(keys, reply.statusCode, payload));
    return payload;
  };

  app.get('/api/v1/key', { schema: { querystring: noQuery } }, async () => ({ version: CONTROL_PROTOCOL_VERSION, publicKey: ctx.serverPublicKey }));

  app.post('/api/v1/register', { schema: { querystring: noQuery, body: registerSchema }, onRequest: admitNew, preValidation: nodeAuth, onSend: seal }, async (req) => {
    const body = req.body as RegisterRequest;
    const endpoints = body.endpoints === undefined ? undefined : parseEndpoints(body.endpoints);
    let loggedIn: string | undefined;
    if (body.interactive && !body.authKey && ctx.nodeLogins && !(await ctx.registry.isKnown(req.nodeKey!))) {
      const waiting = await ctx.nodeLogins.poll(req.nodeKey!);
      if ('authUrl' in waiting) return waiting;
      loggedIn = waiting.user;
    }
    const node = await ctx.registry.register(req.nodeKey!, body, endpoints, loggedIn);
    return { node: ctx.registry.view(node), domain: ctx.registry.domain, ipv4Range: ctx.registry.ipam.v4.text, ipv6Range: ctx.registry.ipam.v6Text };
  });

  app.post('/api/v1/logout', { schema: { querystring: noQuery, body: emptyBody }, onRequest: admit, preValidation: nodeAuth, onSend: seal }, async (req) => {
    const node = ctx.registry.activeNode(req.nodeKey!);
    await ctx.registry.remove(node, 'logout');
    return { ok: true };
  });

  // Reached only without an Upgrade header: the stream itself is handled in `upgrade`.
  app.get(MAP_PATH, { schema: { querystring: noQuery } }, async (_req, reply: FastifyReply) =>
    reply.status(426).header('upgrade', 'websocket').send(errorBody('ERR_UPGRADE_REQUIRED', 'the map stream is a WebSocket')),
  );
}

/** The version a map-stream client announced (VERSION_HEADER); agents before v5 send none. */
function streamVersion(header: string | string[] | undefined): number {
  if (header === undefined) return FORWARD_RULES_VERSION - 1;
  const v = typeof header === 'string' && /^\d{1,4}$/.test(header) ? Number(header) : NaN;
  if (!(v >= MIN_CONTROL_PROTOCOL_VERSION)) throw badRequest('ERR_VALIDATION', `${VERSION_HEADER} must be a protocol version`, VERSION_HEADER);
  return Math.min(v, CONTROL_PROTOCOL_VERSION);
}

/** v8: where a reconnecting stream left off (RESUME_HEADER); absent = a first connect. */
function resumePoint(header: string | string[] | undefined): ResumePoint | null {
  if (header === undefined) return null;
  const p = typeof header === 'string' ? parseResumePoint(header) : null;
  if (!p) throw badRequest('ERR_VALIDATION', `${RESUME_HEADER} must be <epoch>.<seq> from a netmap`, RESUME_HEADER);
  return p;
}

/** Authenticates a map-stream upgrade request and hands the socket to the hub. */
export function handleMapUpgrade(ctx: ApiContext, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const fail = (err: unknown): void => {
    const { status, body } = toErrorResponse(err);
    const json = JSON.stringify(body);
    socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : status === 429 ? 'Too Many Requests' : 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`);
  };
  try {
    if (req.method !== 'GET' || req.url !== MAP_PATH) throw notFound('ERR_NOT_FOUND', 'no WebSocket endpoint at this path');
    const v = ctx.verifier.check(req.headers.authorization, 'GET', MAP_PATH, new Uint8Array(0));
    const node = ctx.registry.activeNode(v.publicKey);
    // v7 signs its version in the Authorization header; older agents announce it unsigned.
    const version = v.version === undefined ? streamVersion(req.headers[VERSION_HEADER]) : Math.min(v.version, CONTROL_PROTOCOL_VERSION);
    const resume = resumePoint(req.headers[RESUME_HEADER]);
    ctx.wss.handleUpgrade(req, socket, head, (ws) => ctx.hub.attach(ws, node, { version, keys: v.keys }, ctx.relaysFor(req), resume));
  } catch (err) {
    fail(err);
  }
}
