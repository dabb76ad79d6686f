import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { fileURLToPath } from 'node:url';
import type { Clock } from '../../clock.js';
import { badRequest, tooManyRequests, unauthorized } from '../errors.js';
import { ADMIN_FAILURE_GLOBAL_LIMIT, ADMIN_FAILURE_LIMIT, SourceRateLimiter } from '../rate-limit.js';
import { readCookie, SESSION_COOKIE, sessionCookie, type ConsoleAuth } from './session.js';
import { loadStatic, SECURITY_HEADERS, type StaticFile } from '../../static-files.js';

// The web admin console at /admin on the API's own port: the pages, and login/logout.
// Everything the pages show or change goes through the admin API (api.ts), which accepts
// the session cookie in place of a bearer key (see ConsoleAuth.authorize).
//
//   GET  /admin, /admin/<asset>   pages (strict CSP, no inline code)
//   POST /admin/login {method, secret, login?} -> {actor, expiresAt, csrf} + Set-Cookie
//        (method `apikey`: secret is an admin API key; `password`: a local admin's login and password)
//   GET  /admin/login/providers   -> {providers: [{name, url}]}: "Sign in with <name>" links
//        (an OIDC provider's flow: identity/console-oidc.ts)
//   GET  /admin/session           -> {actor, expiresAt, csrf} | 401
//   POST /admin/logout            -> {ok}, cookie cleared

export const CONSOLE_PREFIX = '/admin';
const STATIC_DIR = fileURLToPath(new URL('./static/', import.meta.url));

const loginSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['method', 'secret'],
  properties: {
    method: { type: 'string', minLength: 1, maxLength: 32 },
    secret: { type: 'string', minLength: 1, maxLength: 256 },
    login: { type: 'string', minLength: 1, maxLength: 128 },
  },
} as const;

export interface ConsoleOptions {
  auth: ConsoleAuth;
  clock: Clock;
  /** Served over TLS: the cookie is Secure. */
  secure: boolean;
  /** Sign-in elsewhere (a provider's name and the URL starting its login). */
  providers?: () => { name: string; url: string }[];
}

function send(reply: FastifyReply, f: StaticFile): FastifyReply {
  return reply.headers(SECURITY_HEADERS).type(f.type).send(f.body);
}

export function consoleRoutes(app: FastifyInstance, o: ConsoleOptions): void {
  const files = loadStatic(STATIC_DIR);
  const index = files.get('index.html')!;
  // Failed logins per source, as failed API-key checks: each costs a database read.
  const failures = new SourceRateLimiter(o.clock, ADMIN_FAILURE_LIMIT, ADMIN_FAILURE_GLOBAL_LIMIT);
  const cookie = (value: string, maxAgeSeconds: number): string => sessionCookie(value, maxAgeSeconds, o.secure);

  app.get(CONSOLE_PREFIX, async (_req, reply) => send(reply, index));
  app.get(`${CONSOLE_PREFIX}/`, async (_req, reply) => send(reply, index));
  app.get(`${CONSOLE_PREFIX}/static/*`, async (req, reply) => {
    const f = files.get((req.params as { '*': string })['*']);
    if (!f) return reply.status(404).headers(SECURITY_HEADERS).send({ error: { code: 'ERR_NOT_FOUND', message: 'no such console asset' } });
    return send(reply, f);
  });

  app.post(`${CONSOLE_PREFIX}/login`, { schema: { body: loginSchema } }, async (req, reply) => {
    const { method, secret, login } = req.body as { method: string; secret: string; login?: string };
    if (!o.auth.methods.includes(method)) throw badRequest('ERR_VALIDATION', `method must be one of ${o.auth.methods.join(', ')}`, 'method');
    const source = req.socket.remoteAddress;
    if (!failures.wouldAllow(source)) throw tooManyRequests('ERR_RATE_LIMITED', 'too many failed logins from this address; retry later', 'secret');
    const r = await o.auth.login(method, { secret, login, source });
    if (!r) {
      failures.allow(source);
      throw unauthorized('ERR_LOGIN_FAILED', 'that credential is unknown, revoked or expired', 'secret');
    }
    void reply.header('set-cookie', cookie(r.token, Math.floor(o.auth.ttlMs / 1000)));
    return sessionView(r.session);
  });

  app.get(`${CONSOLE_PREFIX}/login/providers`, async () => ({ providers: o.providers?.() ?? [] }));

  app.get(`${CONSOLE_PREFIX}/session`, async (req) => {
    const s = await o.auth.session(readCookie(req.headers.cookie, SESSION_COOKIE));
    if (!s) throw unauthorized('ERR_SESSION_INVALID', 'not logged in', 'cookie');
    return sessionView(s);
  });

  // Logging out needs no CSRF token: the worst a forged logout does is log you out.
  app.post(`${CONSOLE_PREFIX}/logout`, async (req: FastifyRequest, reply) => {
    await o.auth.logout(readCookie(req.headers.cookie, SESSION_COOKIE));
    void reply.header('set-cookie', cookie('', 0));
    return { ok: true };
  });
}

const sessionView = (s: { actor: string; expiresAt: number; csrf: string }) => ({ actor: s.actor, expiresAt: new Date(s.expiresAt).toISOString(), csrf: s.csrf });
