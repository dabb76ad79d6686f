import type { FastifyInstance, FastifyRequest } from 'fastify';
import { badRequest, conflict, notFound } from '../errors.js';
import { LOCAL_PROVIDER, StoreConflictError, type UserRecord } from '../store/index.js';
import type { ApiContext } from '../api.js';
import { checkAdminLogin, hashPassword } from './passwords.js';
import { resealAll } from './secrets-at-rest.js';

// Admin API for users, local admins and the sealing key (`weft users|admins|secrets`).
// Admins and the sealing key are managed over the local socket only, as API keys are.

type Audit = (req: FastifyRequest, action: string, target: string, detail?: Record<string, unknown>) => Promise<unknown>;

/** The user pattern pre-auth keys already accept: `alice`, `alice@`, `alice@example.com`. */
export const USER_LOGIN_SCHEMA = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[^\\s@:,]+(@[^\\s@:,]*)?$' } as const;

export interface UserView {
  id: string;
  login: string;
  displayName: string | null;
  provider: string;
  groups: string[];
  nodes: number;
  createdAt: string;
  lastLogin: string | null;
}

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());
const noQuery = { type: 'object', additionalProperties: false, properties: {} } as const;
const params = (name: string) => ({ type: 'object', additionalProperties: false, required: [name], properties: { [name]: { type: 'string', minLength: 1, maxLength: 128 } } }) as const;
const passwordBody = { type: 'object', additionalProperties: false, required: ['password'], properties: { password: { type: 'string', minLength: 1, maxLength: 1024 } } } as const;
const localOnly = { localOnly: true };

export function identityAdminRoutes(app: FastifyInstance, ctx: ApiContext, audit: Audit): void {
  const now = (): number => ctx.clock.wallNow();
  const ident = ctx.store.identity;
  const nodeCount = (u: UserRecord): number => [...ctx.registry.nodes()].filter((n) => n.user === u.login).length;
  const view = (u: UserRecord): UserView => ({ id: String(u.id), login: u.login, displayName: u.displayName, provider: u.provider, groups: u.groups, nodes: nodeCount(u), createdAt: iso(u.createdAt)!, lastLogin: iso(u.lastLogin) });
  const findUser = async (login: string): Promise<UserRecord> => {
    const u = await ident.findUser(login);
    if (!u) throw notFound('ERR_USER_NOT_FOUND', `no user ${JSON.stringify(login)}`, 'user');
    return u;
  };
  const taken = (err: unknown, what: string): never => {
    if (err instanceof StoreConflictError) throw conflict('ERR_ALREADY_EXISTS', `${what} already exists`, 'login');
    throw err;
  };

  app.get('/api/v1/admin/users', { schema: { querystring: noQuery } }, async () => ({ users: (await ident.listUsers()).map(view) }));
  app.post('/api/v1/admin/users', { schema: { querystring: noQuery, body: { type: 'object', additionalProperties: false, required: ['login'], properties: { login: USER_LOGIN_SCHEMA, displayName: { type: 'string', maxLength: 128 } } } } }, async (req) => {
    const b = req.body as { login: string; displayName?: string };
    const u = await ident.createUser({ login: b.login, displayName: b.displayName ?? null, provider: LOCAL_PROVIDER, subject: null, groups: [], createdAt: now() }).catch((e) => taken(e, `user ${b.login}`));
    await audit(req, 'user.create', `user:${u.login}`);
    return view(u);
  });
  app.post('/api/v1/admin/users/:user/rename', { schema: { querystring: noQuery, params: params('user'), body: { type: 'object', additionalProperties: false, required: ['login'], properties: { login: USER_LOGIN_SCHEMA } } } }, async (req) => {
    const u = await findUser((req.params as { user: string }).user);
    const login = (req.body as { login: string }).login;
    const r = await ident.renameUser(u.id, login).catch((e) => taken(e, `user ${login}`));
    if (!r) throw notFound('ERR_USER_NOT_FOUND', 'user was removed concurrently', 'user');
    await ctx.registry.reload(r.nodeIds);
    if (u.groups.length) ctx.policy.setUserGroups(u.login, []) && ctx.policy.setUserGroups(login, u.groups);
    await audit(req, 'user.rename', `user:${login}`, { from: u.login, nodes: r.nodeIds.length });
    return view(r.user);
  });
  app.delete('/api/v1/admin/users/:user', { schema: { params: params('user'), querystring: { type: 'object', additionalProperties: false, properties: { cascade: { type: 'string', enum: ['true', 'false'] } } } } }, async (req) => {
    const u = await findUser((req.params as { user: string }).user);
    const cascade = (req.query as { cascade?: string }).cascade === 'true';
    const owned = await ident.userNodes(u.id);
    if (owned.length > 0 && !cascade) throw conflict('ERR_USER_HAS_NODES', `${u.login} still has ${owned.length} node(s) (${owned.map((n) => n.name).join(', ')}): remove them first or pass --cascade`, 'user');
    for (const n of owned) await ctx.registry.remove(ctx.registry.get(n.id) ?? n, 'user deleted');
    const gone = await ident.deleteUser(u.id);
    if (!gone) throw notFound('ERR_USER_NOT_FOUND', 'user was removed concurrently', 'user');
    if (ctx.policy.setUserGroups(gone.login, [])) ctx.hub.policyChanged();
    await audit(req, 'user.delete', `user:${u.login}`, { nodes: owned.map((n) => n.name) });
    return { ok: true, user: { ...view(gone), nodes: 0 }, removedNodes: owned.map((n) => n.name) };
  });

  const adminView = (a: { login: string; createdAt: number; updatedAt: number }) => ({ login: a.login, createdAt: iso(a.createdAt), passwordChangedAt: iso(a.updatedAt) });
  app.get('/api/v1/admin/admins', { config: localOnly, schema: { querystring: noQuery } }, async () => ({ admins: (await ident.listAdmins()).map(adminView) }));
  app.post('/api/v1/admin/admins', { config: localOnly, schema: { querystring: noQuery, body: { type: 'object', additionalProperties: false, required: ['login', 'password'], properties: { login: { type: 'string', maxLength: 64 }, password: passwordBody.properties.password } } } }, async (req) => {
    const b = req.body as { login: string; password: string };
    const hash = await hashPassword(b.password);
    const a = await ident.createAdmin(checkAdminLogin(b.login), hash, now()).catch((e) => taken(e, `admin ${b.login}`));
    await audit(req, 'admin.create', `admin:${a.login}`);
    return adminView(a);
  });
  app.put('/api/v1/admin/admins/:login/password', { config: localOnly, schema: { querystring: noQuery, params: params('login'), body: passwordBody } }, async (req) => {
    const login = (req.params as { login: string }).login;
    const a = await ident.setAdminPassword(login, await hashPassword((req.body as { password: string }).password), now());
    if (!a) throw notFound('ERR_ADMIN_NOT_FOUND', `no admin ${JSON.stringify(login)}`, 'login');
    await audit(req, 'admin.passwd', `admin:${a.login}`);
    return adminView(a);
  });
  app.delete('/api/v1/admin/admins/:login', { config: localOnly, schema: { querystring: noQuery, params: params('login') } }, async (req) => {
    const a = await ident.deleteAdmin((req.params as { login: string }).login);
    if (!a) throw notFound('ERR_ADMIN_NOT_FOUND', 'no such admin', 'login');
    await audit(req, 'admin.delete', `admin:${a.login}`);
    return adminView(a);
  });

  app.post('/api/v1/admin/secrets/rotate', { config: localOnly, schema: { querystring: noQuery, body: noQuery } }, async (req) => {
    if (!ctx.sealer) throw badRequest('ERR_NO_SEALER', 'this coordinator has no sealing key', 'body');
    const sealer = ctx.sealer;
    const r = await sealer.rotate(() => resealAll(ident, sealer, now()));
    await audit(req, 'secrets.rotate', 'secrets.key', r);
    return r;
  });
}
