import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Clock } from '../../clock.js';
import { notFound, serviceUnavailable, tooManyRequests } from '../errors.js';
import { toErrorResponse } from '../api.js';
import { SourceRateLimiter } from '../rate-limit.js';
import type { LoginClaims, UserRecord } from '../store/index.js';
import { LOGIN_TTL_MS, MAX_PENDING_LOGINS, OIDC_CALLBACK_PATH, type OidcRelyingParty } from './oidc.js';

// `weft up` without a pre-auth key (Tailscale's flow): the agent's registration is
// answered with a login URL on this coordinator, /login/<id>, which sends the browser to
// the OIDC provider; when the provider redirects back with a valid login, the waiting
// node key is granted to that user and its next registration call creates the node.

export const LOGIN_PATH = '/login';

/** What an OIDC login started from /login/<id> is for. */
export interface NodeLoginPurpose {
  kind: 'node';
  loginId: string;
}

interface Waiting {
  id: string;
  nodeKey: string;
  at: number;
  /** Set once someone completed the login. */
  user: string | null;
}

export class NodeLogins {
  private readonly byKey = new Map<string, Waiting>();
  private readonly byId = new Map<string, Waiting>();

  constructor(
    private readonly clock: Clock,
    private readonly baseUrl: () => string,
  ) {}

  /** The login URL for `nodeKey` (reused while it waits), or the user once it logged in (consumed). */
  poll(nodeKey: string): { authUrl: string } | { user: string } {
    this.collect();
    const w = this.byKey.get(nodeKey);
    if (w?.user) {
      this.drop(w);
      return { user: w.user };
    }
    if (w) return { authUrl: this.url(w) };
    if (this.byKey.size >= MAX_PENDING_LOGINS) throw tooManyRequests('ERR_RATE_LIMITED', 'too many logins in progress; retry later');
    const fresh: Waiting = { id: randomBytes(16).toString('base64url'), nodeKey, at: this.clock.now(), user: null };
    this.byKey.set(nodeKey, fresh);
    this.byId.set(fresh.id, fresh);
    return { authUrl: this.url(fresh) };
  }

  /** The login at /login/<id>, still waiting. */
  waiting(id: string): Waiting | undefined {
    this.collect();
    const w = this.byId.get(id);
    return w && w.user === null ? w : undefined;
  }

  grant(id: string, user: string): boolean {
    const w = this.waiting(id);
    if (w) w.user = user;
    return w !== undefined;
  }

  private url(w: Waiting): string {
    return `${this.baseUrl()}${LOGIN_PATH}/${w.id}`;
  }

  private drop(w: Waiting): void {
    this.byKey.delete(w.nodeKey);
    this.byId.delete(w.id);
  }

  private collect(): void {
    const now = this.clock.now();
    for (const w of this.byKey.values()) if (now - w.at > LOGIN_TTL_MS) this.drop(w);
  }
}

export interface LoginRoutesDeps {
  clock: Clock;
  logins: NodeLogins;
  /** Set once discovery succeeded (routes answer 503 before). */
  rp: () => OidcRelyingParty<NodeLoginPurpose> | null;
  /** The user row after the login (created, groups refreshed), and policy updated. */
  onLogin: (claims: LoginClaims) => Promise<UserRecord>;
  /** The coordinator's own URL for OIDC_CALLBACK_PATH, as registered at the provider. */
  redirectUri: () => string;
}

const escape = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (reply: FastifyReply, status: number, title: string, text: string) =>
  reply
    .status(status)
    .header('content-security-policy', "default-src 'none'")
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(`<!doctype html><meta charset="utf-8"><title>${escape(title)}</title><h1>${escape(title)}</h1><p>${escape(text)}</p>\n`);

export function loginRoutes(app: FastifyInstance, d: LoginRoutesDeps): void {
  // Each start keeps a pending login for 10 minutes: a stranger may not fill the table.
  const starts = new SourceRateLimiter(d.clock, { perSecond: 1, burst: 10 }, { perSecond: 20, burst: 200 });
  const provider = (): OidcRelyingParty<NodeLoginPurpose> => {
    const rp = d.rp();
    if (!rp) throw serviceUnavailable('ERR_OIDC_UNAVAILABLE', 'the OIDC provider is not reachable yet');
    return rp;
  };

  app.get(`${LOGIN_PATH}/:id`, { schema: { params: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{22}$' } } } } }, async (req, reply) => {
    const id = (req.params as { id: string }).id;
    if (!d.logins.waiting(id)) throw notFound('ERR_LOGIN_NOT_FOUND', 'no login waiting here (it completed or expired): run weft up again', 'id');
    if (!starts.allow(req.socket.remoteAddress)) throw tooManyRequests('ERR_RATE_LIMITED', 'too many logins from this address; retry later');
    const url = await provider().begin({ kind: 'node', loginId: id });
    return reply.header('cache-control', 'no-store').redirect(url.href, 302);
  });

  app.get(OIDC_CALLBACK_PATH, async (req, reply) => {
    try {
      const callback = new URL(d.redirectUri());
      callback.search = new URL(req.url, 'http://x').search;
      const { purpose, claims } = await provider().complete(callback);
      const user = await d.onLogin(claims);
      if (!d.logins.grant(purpose.loginId, user.login)) return page(reply, 410, 'Login expired', 'The device stopped waiting for this login; run weft up again.');
      req.log.info({ user: user.login }, 'node login completed');
      return page(reply, 200, 'Signed in', `Signed in as ${user.login}. Your device is joining the network; you can close this window.`);
    } catch (err) {
      const { status, body } = toErrorResponse(err);
      if (status >= 500) req.log.error({ err }, 'OIDC callback failed');
      return page(reply, status, 'Login failed', `${body.error.message} (${body.error.code})`);
    }
  });
}
