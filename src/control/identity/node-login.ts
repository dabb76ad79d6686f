import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../clock.js';
import { notFound, tooManyRequests } from '../errors.js';
import type { UserRecord } from '../store/index.js';
import { LOGIN_TTL_MS, MAX_PENDING_LOGINS } from './oidc.js';
import type { LoginPage, LoginStarter } from './oidc-routes.js';

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

/** GET /login/<id>: a node's login page sends the browser on to the provider. */
export function nodeLoginRoutes(app: FastifyInstance, logins: NodeLogins, start: LoginStarter<NodeLoginPurpose>): void {
  app.get(`${LOGIN_PATH}/:id`, { schema: { params: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{22}$' } } } } }, async (req, reply) => {
    const id = (req.params as { id: string }).id;
    if (!logins.waiting(id)) throw notFound('ERR_LOGIN_NOT_FOUND', 'no login waiting here (it completed or expired): run weft up again', 'id');
    const url = await start(req, { kind: 'node', loginId: id });
    return reply.header('cache-control', 'no-store').redirect(url.href, 302);
  });
}

/** The callback's answer for a node login: the waiting node key is granted to `user`. */
export function finishNodeLogin(logins: NodeLogins, purpose: NodeLoginPurpose, user: UserRecord): LoginPage {
  if (!logins.grant(purpose.loginId, user.login)) return { status: 410, title: 'Login expired', text: 'The device stopped waiting for this login; run weft up again.' };
  return { status: 200, title: 'Signed in', text: `Signed in as ${user.login}. Your device is joining the network; you can close this window.` };
}
