// The admin API (`/api/v1/admin/*`): nodes, pre-auth and API keys, routes, policy, DNS records, audit,
// over the local socket (trusted by its permissions) or with an API key or console session.
import { type FastifyInstance, type FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import { apiKeyView, authKeyView, createApiKey, createAuthKey, findAuthKey, verifyApiKey } from './auth-keys.js';
import { auditView, localActor, parseAuditQuery, recordAudit, type AuditActor } from './audit.js';
import { forbidden, notFound, tooManyRequests, unauthorized } from './errors.js';
import type { SourceRateLimiter } from './rate-limit.js';
import type { ApiKeyScope, NodeRecord } from './store/index.js';
import type { ApproveRouteRequest, CreateAuthKeyRequest, RouteView } from '../wire/control.js';
import { EXIT_ROW, parseRouteArg } from './routes.js';
import { isExitRoute } from '../policy/index.js';
import { identityAdminRoutes } from './identity/admin-routes.js';
import { dnsAdminRoutes } from './dns-admin-routes.js';
import { CSRF_HEADER, type ConsoleAuth } from './console/session.js';
import { emptyBody, noQuery, type ApiContext } from './api.js';

const tagSchema = { type: 'string', pattern: '^tag:[a-z0-9][a-z0-9-]{0,62}$' } as const;
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
      let readOnly = false;
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
        readOnly = k.scope === 'read';
      }
      if ((req.routeOptions.config as { localOnly?: boolean }).localOnly) throw forbidden('ERR_LOCAL_ONLY', 'API keys are managed only over the local socket');
      if (readOnly && req.method !== 'GET' && req.method !== 'HEAD') throw forbidden('ERR_READ_ONLY_KEY', 'this API key is read-only; changes need an admin-scoped key', 'authorization');
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
    if (ctx.dns.policyChanged(ctx.policy.policy)) ctx.hub.dnsChanged();
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
  dnsAdminRoutes(app, ctx, audit);

  app.get('/api/v1/admin/audit', { schema: { querystring: auditQuerySchema } }, async (req) => {
    const { since, limit } = parseAuditQuery(req.query as { since?: string; limit?: string });
    return { entries: (await ctx.store.listAudit(since, limit)).map(auditView) };
  });

  // The same series as --metrics-listen, behind the admin credential.
  app.get('/api/v1/admin/metrics', { schema: { querystring: noQuery } }, async (_req, reply) => reply.type(ctx.metrics.contentType).send(await ctx.metrics.metrics()));
}
