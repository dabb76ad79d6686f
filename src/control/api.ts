import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { createHash } from 'node:crypto';
import type { Logger as PinoLogger } from 'pino';
import type { Registry as MetricsRegistry } from 'prom-client';
import type { WebSocketServer } from 'ws';
import type { Clock } from '../clock.js';
import { apiKeyView, authKeyView, createApiKey, createAuthKey, findAuthKey, verifyApiKey } from './auth-keys.js';
import { parseEndpoints } from './endpoints.js';
import { auditView, localActor, parseAuditQuery, recordAudit, type AuditActor } from './audit.js';
import { badRequest, ControlError, forbidden, notFound, tooManyRequests, unauthorized } from './errors.js';
import type { SourceRateLimiter } from './rate-limit.js';
import type { AdmittedAuth, NodeVerifier, VerifiedRequest } from './node-verifier.js';
import { RESPONSE_MAC_HEADER, responseMac } from '../wire/node-auth.js';
import type { Registry } from './registry.js';
import type { PolicyEngine } from './policy-engine.js';
import type { ApiKeyScope, NodeRecord, Store } from './store/index.js';
import type { StreamHub } from './stream.js';
import type { AdminNodeView, ApproveRouteRequest, CreateAuthKeyRequest, ErrorBody, RegisterRequest, RelayInfo, RelayStatusView, RouteView } from '../wire/control.js';
import { CONTROL_PROTOCOL_VERSION, FORWARD_RULES_VERSION, MIN_CONTROL_PROTOCOL_VERSION, RESUME_HEADER, VERSION_HEADER } from '../wire/version.js';
import { parseResumePoint, type ResumePoint } from './change-log.js';
import { EXIT_ROW, parseRouteArg } from './routes.js';
import { isExitRoute } from '../policy/index.js';
import { identityAdminRoutes } from './identity/admin-routes.js';
import type { Sealer } from './identity/sealer.js';
import type { NodeLogins } from './identity/node-login.js';
import { CSRF_HEADER, type ConsoleAuth } from './console/session.js';
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

const noQuery = { type: 'object', additionalProperties: false, properties: {} } as const;
const emptyBody = { type: 'object', additionalProperties: false, properties: {} } as const;
const tagSchema = { type: 'string', pattern: '^tag:[a-z0-9][a-z0-9-]{0,62}$' } as const;

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

const extendSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { bySeconds: { type: 'integer', minimum: 1, maximum: 10 * 365 * 86400 } },
} as const;

const renameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 63 } },
} as const;

const createAuthKeySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    reusable: { type: 'boolean' },
    ephemeral: { type: 'boolean' },
    expirySeconds: { type: 'integer', minimum: 0, maximum: 10 * 365 * 86400 },
    tags: { type: 'array', maxItems: 32, items: tagSchema },
    user: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[^\\s@:,]+(@[^\\s@:,]*)?$' },
  },
} as const;

const setPolicySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['policy'],
  properties: { policy: { type: 'string', maxLength: 60 * 1024 } },
} as const;

const createApiKeySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { expirySeconds: { type: 'integer', minimum: 0, maximum: 10 * 365 * 86400 }, scope: { type: 'string', enum: ['admin', 'read'] } },
} as const;

const approveRouteSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['node', 'route'],
  properties: { node: { type: 'string', minLength: 1, maxLength: 128 }, route: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

// An exit node is one row (route "exit"): both default routes are approved together.
function routeViews(ctx: ApiContext): RouteView[] {
  const out: RouteView[] = [];
  for (const n of ctx.registry.nodes()) {
    const routes = [...new Set([...n.advertisedRoutes, ...n.approvedRoutes].map((r) => (isExitRoute(r) ? EXIT_ROW : r)))].sort();
    const has = (list: string[], route: string): boolean => (route === EXIT_ROW ? list.some(isExitRoute) : list.includes(route));
    for (const route of routes) {
      out.push({ node: n.name, ipv4: n.ipv4, route, approved: has(n.approvedRoutes, route), advertised: has(n.advertisedRoutes, route), exitNode: route === EXIT_ROW });
    }
  }
  return out;
}

const auditQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { since: { type: 'string', maxLength: 40 }, limit: { type: 'string', pattern: '^[0-9]{1,4}$' } },
} as const;

const refParams = (name: string) => ({ type: 'object', additionalProperties: false, required: [name], properties: { [name]: { type: 'string', minLength: 1, maxLength: 128 } } }) as const;

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
      const waiting = ctx.nodeLogins.poll(req.nodeKey!);
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

export interface AdminAccess {
  /** Over the unix socket, file permissions are the credential; over TCP, an API key. */
  local: boolean;
  /** Over TCP: failed API-key checks per source (each is a database read); absent = unlimited. */
  failures?: SourceRateLimiter;
  /** Over TCP: web console sessions, accepted in place of an API key. */
  console?: ConsoleAuth;
}

/**
 * Admin API: nodes and pre-auth keys; API keys only over the local socket. The routes
 * live in their own encapsulated scope so the auth hook guards exactly these routes,
 * however the request spells the URL (a prefix check on the raw URL is bypassable
 * with percent-encoding).
 */
export function adminRoutes(root: FastifyInstance, ctx: ApiContext, access: AdminAccess): void {
  root.register(async (app) => adminScope(app, ctx, access));
}

function adminScope(app: FastifyInstance, ctx: ApiContext, access: AdminAccess): void {
  const now = (): number => ctx.clock.wallNow();
  if (!access.local) {
    app.addHook('onRequest', async (req) => {
      // The web console's session cookie stands in for the bearer key (CSRF-checked writes).
      if (access.console && req.headers.authorization === undefined && req.headers.cookie !== undefined) {
        const s = await access.console.authorize(req.method, req.headers.cookie, req.headers[CSRF_HEADER]);
        req.adminActor = `console:${s.actor}`;
      } else {
        const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '');
        if (!m) throw unauthorized('ERR_UNAUTHENTICATED', 'admin API needs Authorization: Bearer <api key>', 'authorization');
        const source = req.socket.remoteAddress;
        // A source that keeps guessing is refused before the lookup costs anything.
        if (access.failures && !access.failures.wouldAllow(source)) throw tooManyRequests('ERR_RATE_LIMITED', 'too many failed API-key checks from this address; retry later', 'authorization');
        const k = await verifyApiKey(ctx.store, m[1], now());
        if (!k) {
          access.failures?.allow(source);
          throw unauthorized('ERR_API_KEY_INVALID', 'API key is unknown, revoked or expired', 'authorization');
        }
        req.adminActor = `apikey:${k.id}`;
        if (k.scope === 'read' && req.method !== 'GET' && req.method !== 'HEAD') throw forbidden('ERR_READ_ONLY_KEY', 'this API key is read-only; changes need an admin-scoped key', 'authorization');
      }
      if ((req.routeOptions.config as { localOnly?: boolean }).localOnly) throw forbidden('ERR_LOCAL_ONLY', 'API keys are managed only over the local socket');
    });
  }

  const who = (req: FastifyRequest): AuditActor => (access.local ? { actor: localActor(req.socket), source: 'local socket' } : { actor: req.adminActor!, source: req.ip });
  const audit = (req: FastifyRequest, action: string, target: string, detail?: Record<string, unknown>) => recordAudit(ctx.store, who(req), now(), action, target, detail);

  app.get('/api/v1/admin/nodes', { schema: { querystring: noQuery } }, async () => ({ nodes: [...ctx.registry.nodes()].map(ctx.adminView) }));
  app.get('/api/v1/admin/nodes/:node', { schema: { querystring: noQuery, params: refParams('node') } }, async (req) => ctx.adminView(ctx.registry.find((req.params as { node: string }).node)));
  app.delete('/api/v1/admin/nodes/:node', { schema: { querystring: noQuery, params: refParams('node') } }, async (req) => {
    const removed = await ctx.registry.remove(ctx.registry.find((req.params as { node: string }).node), 'admin delete');
    if (!removed) throw notFound('ERR_NODE_NOT_FOUND', 'node was already removed', 'node');
    await audit(req, 'node.delete', removed.name, { id: removed.id, ipv4: removed.ipv4, ipv6: removed.ipv6 });
    return { ok: true, node: { ...ctx.registry.view(removed), online: false } };
  });

  // v6: node key expiry.
  const nodeRef = (req: FastifyRequest) => ctx.registry.find((req.params as { node: string }).node);
  const expiry = (n: NodeRecord) => ({ expiresAt: n.expiresAt === null ? null : new Date(n.expiresAt).toISOString() });
  app.post('/api/v1/admin/nodes/:node/expire', { schema: { querystring: noQuery, params: refParams('node'), body: emptyBody } }, async (req) => {
    const n = await ctx.registry.expire(nodeRef(req));
    await audit(req, 'node.expire', n.name, expiry(n));
    return ctx.registry.view(n);
  });
  app.post('/api/v1/admin/nodes/:node/rename', { schema: { querystring: noQuery, params: refParams('node'), body: renameSchema } }, async (req) => {
    const old = nodeRef(req);
    const n = await ctx.registry.rename(old, (req.body as { name: string }).name);
    await audit(req, 'node.rename', n.name, { from: old.name });
    return ctx.registry.view(n);
  });
  app.post('/api/v1/admin/nodes/:node/extend', { schema: { querystring: noQuery, params: refParams('node'), body: extendSchema } }, async (req) => {
    const by = (req.body as { bySeconds?: number }).bySeconds;
    const n = await ctx.registry.extend(nodeRef(req), by === undefined ? undefined : by * 1000);
    await audit(req, 'node.extend', n.name, expiry(n));
    return ctx.registry.view(n);
  });

  // v4: subnet routes and exit nodes.
  app.get('/api/v1/admin/routes', { schema: { querystring: noQuery } }, async () => ({ routes: routeViews(ctx) }));
  for (const [path, approve] of [['/api/v1/admin/routes/approve', true], ['/api/v1/admin/routes/unapprove', false]] as const) {
    app.post(path, { schema: { querystring: noQuery, body: approveRouteSchema } }, async (req) => {
      const body = req.body as ApproveRouteRequest;
      const routes = parseRouteArg(body.route);
      const n = await ctx.registry.setApproval(ctx.registry.find(body.node), routes, approve);
      await audit(req, approve ? 'route.approve' : 'route.unapprove', n.name, { routes });
      return ctx.registry.view(n);
    });
  }

  app.post('/api/v1/admin/authkeys', { schema: { querystring: noQuery, body: createAuthKeySchema } }, async (req) => {
    const body = req.body as CreateAuthKeyRequest;
    ctx.policy.checkKeyTags(body.tags ?? [], body.user ?? null);
    if (body.user) await ctx.store.identity.ensureUser(body.user, now());
    const k = await createAuthKey(ctx.store, body, now());
    await audit(req, 'authkey.create', `authkey:${k.id}`, { reusable: k.reusable, ephemeral: k.ephemeral, tags: k.tags, user: k.user, expiresAt: k.expiresAt });
    return k;
  });

  app.post('/api/v1/admin/policy/check', { schema: { querystring: noQuery, body: setPolicySchema } }, async (req) => ctx.policy.check((req.body as { policy: string }).policy));
  app.get('/api/v1/admin/relays', { schema: { querystring: noQuery } }, async (req) => ({ relays: ctx.relayStatus(req.raw) }));
  app.get('/api/v1/admin/events', { schema: { querystring: noQuery } }, async (_req, reply) => ctx.events.attach(reply));

  app.get('/api/v1/admin/policy', { schema: { querystring: noQuery } }, async () => ({
    policy: ctx.policy.text,
    updatedAt: ctx.policy.updatedAt === null ? null : new Date(ctx.policy.updatedAt).toISOString(),
  }));
  app.put('/api/v1/admin/policy', { schema: { querystring: noQuery, body: setPolicySchema } }, async (req) => {
    const text = (req.body as { policy: string }).policy;
    await ctx.policy.set(text, now());
    ctx.hub.policyChanged();
    await audit(req, 'policy.set', 'policy', { bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex') });
    await ctx.registry.reapplyAutoApprovers();
    return { ok: true };
  });
  app.get('/api/v1/admin/authkeys', { schema: { querystring: noQuery } }, async () => ({ authKeys: (await ctx.store.listAuthKeys()).map((k) => authKeyView(k)) }));
  app.delete('/api/v1/admin/authkeys/:key', { schema: { querystring: noQuery, params: refParams('key') } }, async (req) => {
    const k = await findAuthKey(ctx.store, (req.params as { key: string }).key);
    await ctx.store.revokeAuthKey(k.id);
    await audit(req, 'authkey.revoke', `authkey:${k.id}`);
    return authKeyView({ ...k, revoked: true });
  });

  const localOnly = { localOnly: true };
  app.post('/api/v1/admin/apikeys', { config: localOnly, schema: { querystring: noQuery, body: createApiKeySchema } }, async (req) => {
    const body = req.body as { expirySeconds?: number; scope?: ApiKeyScope };
    const k = await createApiKey(ctx.store, body.expirySeconds ?? 90 * 86400, body.scope ?? 'admin', now());
    await audit(req, 'apikey.create', `apikey:${k.id}`, { scope: k.scope, expiresAt: k.expiresAt });
    return k;
  });
  app.get('/api/v1/admin/apikeys', { config: localOnly, schema: { querystring: noQuery } }, async () => ({ apiKeys: (await ctx.store.listApiKeys()).map((k) => apiKeyView(k)) }));
  app.delete('/api/v1/admin/apikeys/:id', { config: localOnly, schema: { querystring: noQuery, params: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: { type: 'string', pattern: '^[0-9]{1,15}$' } } } } }, async (req) => {
    const id = Number((req.params as { id: string }).id);
    if (!(await ctx.store.revokeApiKey(id))) throw notFound('ERR_API_KEY_NOT_FOUND', 'no such API key', 'id');
    const k = (await ctx.store.listApiKeys()).find((x) => x.id === id)!;
    await audit(req, 'apikey.revoke', `apikey:${k.id}`);
    return apiKeyView(k);
  });

  identityAdminRoutes(app, ctx, audit);

  app.get('/api/v1/admin/audit', { schema: { querystring: auditQuerySchema } }, async (req) => {
    const { since, limit } = parseAuditQuery(req.query as { since?: string; limit?: string });
    return { entries: (await ctx.store.listAudit(since, limit)).map(auditView) };
  });

  // The same series as --metrics-listen, behind the admin credential.
  app.get('/api/v1/admin/metrics', { schema: { querystring: noQuery } }, async (_req, reply) => reply.type(ctx.metrics.contentType).send(await ctx.metrics.metrics()));
}
