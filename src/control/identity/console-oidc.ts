import { createHash, randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { equalBytes } from '../../crypto/constant-time.js';
import { forbidden } from '../errors.js';
import { CONSOLE_PREFIX } from '../console/routes.js';
import { readCookie, sessionCookie, type ConsoleAuth, type SessionMethod } from '../console/session.js';
import type { IdentityStore, UserRecord } from '../store/index.js';
import { LOGIN_TTL_MS, OIDC_CALLBACK_PATH } from './oidc.js';
import type { LoginStarter } from './oidc-routes.js';

// The web console's "Sign in with <provider>". GET /admin/login/oidc starts the
// relying party's authorization code flow (PKCE, state, nonce) and ties it to this
// browser with a binding cookie; the callback (oidc-routes.ts) refuses a login whose
// cookie does not match before the code is exchanged (no login CSRF: nobody can sign your
// browser in as them), records the login (groups refreshed) and opens an ordinary console
// session — when the user is a console admin.
//
// Console admins are named on the server, never taken from the provider alone:
// --oidc-admin-users (logins) and --oidc-admin-groups (groups from the provider's claim
// at the user's last login); by default nobody, and then the console offers no OIDC
// sign-in. This is Headscale's practice (admin rights are configured on the server, not
// granted by signing in) with Tailscale's group mapping. It is checked on every request
// of the session: a user the provider moved out of the group loses the console at their
// next login, and a restart without them in the flags ends their sessions at once.

export const CONSOLE_OIDC_PATH = `${CONSOLE_PREFIX}/login/oidc`;
export const BINDING_COOKIE = 'weft_oidc_login';
export const OIDC_ACTOR_PREFIX = 'oidc:';
const BINDING_RE = /^[A-Za-z0-9_-]{43}$/;

export interface ConsoleLoginPurpose {
  kind: 'console';
  /** SHA-256 (hex) of the binding cookie's value. */
  binding: string;
}

export interface ConsoleAdmins {
  users: string[];
  groups: string[];
}

export interface ConsoleOidcDeps {
  auth: ConsoleAuth;
  admins: ConsoleAdmins;
  /** Served over TLS: cookies are Secure. */
  secure: boolean;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
// Lax, not Strict: the provider's redirect to the callback is a cross-site navigation.
const bindingCookie = (value: string, maxAgeSeconds: number, secure: boolean): string =>
  `${BINDING_COOKIE}=${value}; Path=${OIDC_CALLBACK_PATH}; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;

export const isConsoleAdmin = (a: ConsoleAdmins, u: Pick<UserRecord, 'login' | 'groups'>): boolean =>
  a.users.some((x) => x.toLowerCase() === u.login.toLowerCase()) || u.groups.some((g) => a.groups.includes(g));

/** Sessions opened by an OIDC login (actor `oidc:<login>`) live while that user is a console admin of this provider. */
export function oidcSessionMethod(store: IdentityStore, issuer: () => string | null, admins: ConsoleAdmins): SessionMethod {
  return {
    method: 'oidc',
    async stillValid(actor) {
      if (!actor.startsWith(OIDC_ACTOR_PREFIX)) return false;
      const u = await store.findUser(actor.slice(OIDC_ACTOR_PREFIX.length));
      return u !== null && u.provider === issuer() && isConsoleAdmin(admins, u);
    },
  };
}

export function consoleOidcRoutes(app: FastifyInstance, d: ConsoleOidcDeps, start: LoginStarter<ConsoleLoginPurpose>): void {
  app.get(CONSOLE_OIDC_PATH, async (req, reply) => {
    const binding = randomBytes(32).toString('base64url');
    const url = await start(req, { kind: 'console', binding: sha256(binding) });
    return reply
      .header('set-cookie', bindingCookie(binding, LOGIN_TTL_MS / 1000, d.secure))
      .header('cache-control', 'no-store')
      .redirect(url.href, 302);
  });
}

/** Throws unless the callback came to the browser that started this console login. */
export function checkBinding(purpose: ConsoleLoginPurpose, cookieHeader: string | undefined): void {
  const v = readCookie(cookieHeader, BINDING_COOKIE);
  const given = Buffer.from(v !== null && BINDING_RE.test(v) ? sha256(v) : '');
  const want = Buffer.from(purpose.binding);
  if (given.length !== want.length || !equalBytes(given, want)) throw forbidden('ERR_OIDC_BINDING', 'this login was started in another browser; start it again from the console', 'cookie');
}

/** After a verified login: a console session for an admin (redirect to the console), else 403. */
export async function finishConsoleLogin(d: ConsoleOidcDeps, user: UserRecord, reply: FastifyReply): Promise<FastifyReply> {
  if (!isConsoleAdmin(d.admins, user)) throw forbidden('ERR_NOT_CONSOLE_ADMIN', `${user.login} signed in, but is not a console admin (--oidc-admin-users, --oidc-admin-groups)`);
  const { token } = await d.auth.open('oidc', `${OIDC_ACTOR_PREFIX}${user.login}`);
  reply.log.info({ user: user.login }, 'console login completed');
  return reply
    .header('set-cookie', [sessionCookie(token, Math.floor(d.auth.ttlMs / 1000), d.secure), bindingCookie('', 0, d.secure)])
    .header('cache-control', 'no-store')
    .redirect(CONSOLE_PREFIX, 303);
}
