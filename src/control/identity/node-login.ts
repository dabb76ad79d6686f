import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../../clock.js';
import { notFound, tooManyRequests } from '../errors.js';
import type { LoginStore, UserRecord } from '../store/index.js';
import { LOGIN_TTL_MS, MAX_PENDING_LOGINS } from './oidc.js';
import type { LoginPage, LoginStarter } from './oidc-routes.js';

// `weft up` without a pre-auth key (Tailscale's flow): the agent's registration is
// answered with a login URL on this coordinator, /login/<id>, which sends the browser to
// the OIDC provider; when the provider redirects back with a valid login, the waiting
// node key is granted to that user and its next registration call creates the node.
// Waiting logins live in the database, so the login URL, the provider's callback and the
// node's next call may each reach a different coordinator sharing it.

export const LOGIN_PATH = '/login';

/** What an OIDC login started from /login/<id> is for. */
export interface NodeLoginPurpose {
  kind: 'node';
  loginId: string;
}

export class NodeLogins {
  constructor(
    private readonly store: LoginStore,
    private readonly clock: Clock,
    private readonly baseUrl: () => string,
  ) {}

  /** The login URL for `nodeKey` (reused while it waits), or the user once it logged in (consumed). */
  async poll(nodeKey: string): Promise<{ authUrl: string } | { user: string }> {
    const now = this.clock.wallNow();
    const user = await this.store.takeGrantedNodeLogin(nodeKey, now - LOGIN_TTL_MS);
    if (user !== null) return { user };
    const fresh = { id: randomBytes(16).toString('base64url'), nodeKey, createdAt: now, user: null };
    const w = await this.store.waitNodeLogin(fresh, now - LOGIN_TTL_MS, MAX_PENDING_LOGINS);
    if (!w) throw tooManyRequests('ERR_RATE_LIMITED', 'too many logins in progress; retry later');
    // Granted between the two calls (on another instance): the next poll takes it.
    return { authUrl: `${this.baseUrl()}${LOGIN_PATH}/${w.id}` };
  }

  /** Whether the login at /login/<id> is still waiting. */
  async waiting(id: string): Promise<boolean> {
    return (await this.store.findWaitingNodeLogin(id, this.clock.wallNow() - LOGIN_TTL_MS)) !== null;
  }

  grant(id: string, user: string): Promise<boolean> {
    return this.store.grantNodeLogin(id, user, this.clock.wallNow() - LOGIN_TTL_MS);
  }
}

/** GET /login/<id>: a node's login page sends the browser on to the provider. */
export function nodeLoginRoutes(app: FastifyInstance, logins: NodeLogins, start: LoginStarter<NodeLoginPurpose>): void {
  app.get(`${LOGIN_PATH}/:id`, { schema: { params: { type: 'object', additionalProperties: false, required: ['id'], properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{22}$' } } } } }, async (req, reply) => {
    const id = (req.params as { id: string }).id;
    if (!(await logins.waiting(id))) throw notFound('ERR_LOGIN_NOT_FOUND', 'no login waiting here (it completed or expired): run weft up again', 'id');
    const url = await start(req, { kind: 'node', loginId: id });
    return reply.header('cache-control', 'no-store').redirect(url.href, 302);
  });
}

/** The callback's answer for a node login: the waiting node key is granted to `user`. */
export async function finishNodeLogin(logins: NodeLogins, purpose: NodeLoginPurpose, user: UserRecord): Promise<LoginPage> {
  if (!(await logins.grant(purpose.loginId, user.login))) return { status: 410, title: 'Login expired', text: 'The device stopped waiting for this login; run weft up again.' };
  return { status: 200, title: 'Signed in', text: `Signed in as ${user.login}. Your device is joining the network; you can close this window.` };
}
