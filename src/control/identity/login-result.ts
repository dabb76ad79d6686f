import { InvalidArgumentError } from '../../errors.js';
import type { ApiContext } from '../api.js';
import { forbidden } from '../errors.js';
import { StoreConflictError, type LoginClaims, type Store, type UserRecord } from '../store/index.js';
import type { Sealer } from './sealer.js';
import { getSecret, putSecret } from './secrets-at-rest.js';

// What a completed OIDC login changes on the coordinator, and where its client secret lives.

export const OIDC_CLIENT_SECRET = 'oidc.client_secret';

/** The user row for a verified login (created or refreshed); its provider groups reach the policy at once. */
export async function recordLogin(ctx: Pick<ApiContext, 'store' | 'policy' | 'hub' | 'clock'>, claims: LoginClaims): Promise<UserRecord> {
  let user: UserRecord;
  try {
    user = await ctx.store.identity.recordLogin(claims, ctx.clock.wallNow());
  } catch (err) {
    if (err instanceof StoreConflictError) throw forbidden('ERR_USER_CONFLICT', `the login name ${claims.login} belongs to another user; an admin can rename one of them (weft users rename)`, 'login');
    throw err;
  }
  if (ctx.policy.setUserGroups(user.login, user.groups)) ctx.hub.policyChanged();
  return user;
}

/**
 * The client secret given this start (then sealed into the database, so later starts
 * need not be given it), else the one sealed by an earlier start.
 */
export async function oidcClientSecret(store: Store, sealer: Sealer, given: string | undefined, now: number): Promise<string> {
  if (given !== undefined) {
    await putSecret(store.identity, sealer, OIDC_CLIENT_SECRET, given, now);
    return given;
  }
  const stored = await getSecret(store.identity, sealer, OIDC_CLIENT_SECRET);
  if (stored === null) throw new InvalidArgumentError('--oidc-issuer needs --oidc-client-secret-file the first time (the secret is then kept sealed in the database)');
  return stored;
}
