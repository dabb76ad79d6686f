import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../../clock.js';
import { toErrorResponse } from '../api.js';
import { serviceUnavailable, tooManyRequests } from '../errors.js';
import { SourceRateLimiter } from '../rate-limit.js';
import type { LoginClaims, UserRecord } from '../store/index.js';
import { checkBinding, consoleOidcRoutes, finishConsoleLogin, type ConsoleLoginPurpose, type ConsoleOidcDeps } from './console-oidc.js';
import { finishNodeLogin, nodeLoginRoutes, type NodeLoginPurpose, type NodeLogins } from './node-login.js';
import { OIDC_CALLBACK_PATH, type OidcRelyingParty } from './oidc.js';

// The OIDC routes on the coordinator's API port. The two ways a login starts (a node's
// /login/<id>, the console's /admin/login/oidc) share one relying party (one bounded
// table of pending logins), one per-source limit on starts, and one callback — the one
// redirect URI registered at the provider — which finishes a login by what it was for.

export type LoginPurpose = NodeLoginPurpose | ConsoleLoginPurpose;
/** Starts a login at the provider (rate-limited per source); the URL to send the browser to. */
export type LoginStarter<P extends LoginPurpose> = (req: FastifyRequest, purpose: P) => Promise<URL>;
/** The page the browser ends on when the callback does not redirect. */
export interface LoginPage {
  status: number;
  title: string;
  text: string;
}

export interface OidcRoutesDeps {
  clock: Clock;
  /** Set once discovery succeeded (routes answer 503 before). */
  rp: () => OidcRelyingParty<LoginPurpose> | null;
  /** The coordinator's own URL for OIDC_CALLBACK_PATH, as registered at the provider. */
  redirectUri: () => string;
  /** The user row after the login (created, groups refreshed), and policy updated. */
  onLogin: (claims: LoginClaims) => Promise<UserRecord>;
  nodeLogins: NodeLogins;
  /** Absent: the console offers no OIDC sign-in (no console admins configured). */
  console?: ConsoleOidcDeps;
}

const escape = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (reply: FastifyReply, p: LoginPage) =>
  reply
    .status(p.status)
    .header('content-security-policy', "default-src 'none'")
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(`<!doctype html><meta charset="utf-8"><title>${escape(p.title)}</title><h1>${escape(p.title)}</h1><p>${escape(p.text)}</p>\n`);

export function oidcRoutes(app: FastifyInstance, d: OidcRoutesDeps): void {
  // Each start keeps a pending login for 10 minutes: a stranger may not fill the table.
  const starts = new SourceRateLimiter(d.clock, { perSecond: 1, burst: 10 }, { perSecond: 20, burst: 200 });
  const provider = (): OidcRelyingParty<LoginPurpose> => {
    const rp = d.rp();
    if (!rp) throw serviceUnavailable('ERR_OIDC_UNAVAILABLE', 'the OIDC provider is not reachable yet');
    return rp;
  };
  const start = async (req: FastifyRequest, purpose: LoginPurpose): Promise<URL> => {
    if (!starts.allow(req.socket.remoteAddress)) throw tooManyRequests('ERR_RATE_LIMITED', 'too many logins from this address; retry later');
    return provider().begin(purpose);
  };
  nodeLoginRoutes(app, d.nodeLogins, start);
  if (d.console) consoleOidcRoutes(app, d.console, start);

  app.get(OIDC_CALLBACK_PATH, async (req, reply) => {
    try {
      const callback = new URL(d.redirectUri());
      callback.search = new URL(req.url, 'http://x').search;
      const { purpose, claims } = await provider().complete(callback, (p) => p.kind === 'console' && checkBinding(p, req.headers.cookie));
      const user = await d.onLogin(claims);
      if (purpose.kind === 'console') return await finishConsoleLogin(d.console!, user, reply);
      req.log.info({ user: user.login }, 'node login completed');
      return page(reply, await finishNodeLogin(d.nodeLogins, purpose, user));
    } catch (err) {
      const { status, body } = toErrorResponse(err);
      if (status >= 500) req.log.error({ err }, 'OIDC callback failed');
      return page(reply, { status, title: 'Login failed', text: `${body.error.message} (${body.error.code})` });
    }
  });
}
