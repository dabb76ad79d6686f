// Only the const enum is imported statically (inlined); the native module loads on first use.
import { Algorithm } from '@node-rs/argon2';
import type { Clock } from '../../clock.js';
import { badRequest, tooManyRequests, unauthorized } from '../errors.js';
import { SourceRateLimiter, type RateLimit } from '../rate-limit.js';
import type { IdentityStore } from '../store/index.js';
import type { Principal } from './principal.js';

// Local admin passwords: Argon2id with OWASP's minimum parameters (19 MiB, 2 passes,
// 1 lane). Each check costs ~19 MiB and tens of milliseconds, so attempts are rate
// limited before any hashing: per source, per login name, and overall.

export const ARGON2_OPTIONS = { algorithm: Algorithm.Argon2id, memoryCost: 19 * 1024, timeCost: 2, parallelism: 1 } as const;
export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 1024;
/** Failed logins: 5 at once, then one per minute, per source and per login name. */
export const LOGIN_FAILURE_LIMIT: RateLimit = { perSecond: 1 / 60, burst: 5 };
/** Every attempt (hashing is the cost): all sources together. */
export const LOGIN_ATTEMPT_LIMIT: RateLimit = { perSecond: 10, burst: 20 };
const LOGIN_PATTERN = /^[a-z0-9][a-z0-9._@-]{0,63}$/;

export function checkAdminLogin(login: string): string {
  if (!LOGIN_PATTERN.test(login)) throw badRequest('ERR_VALIDATION', 'admin login must be 1-64 of a-z 0-9 . _ @ - (starting with a letter or digit)', 'login');
  return login;
}

export function checkPassword(password: string): string {
  if (password.length < MIN_PASSWORD_LENGTH) throw badRequest('ERR_PASSWORD_TOO_SHORT', `password must be at least ${MIN_PASSWORD_LENGTH} characters`, 'password');
  if (password.length > MAX_PASSWORD_LENGTH) throw badRequest('ERR_VALIDATION', `password must be at most ${MAX_PASSWORD_LENGTH} characters`, 'password');
  return password;
}

const argon2 = () => import('@node-rs/argon2');

export async function hashPassword(password: string): Promise<string> {
  return (await argon2()).hash(checkPassword(password), ARGON2_OPTIONS);
}

/**
 * Checks local admins' passwords for the web console (and any other login form).
 * An unknown login costs the same hash as a known one, so timing does not say which
 * logins exist.
 */
export class AdminPasswords {
  private readonly bySource: SourceRateLimiter;
  private readonly byLogin: SourceRateLimiter;
  private readonly attempts: SourceRateLimiter;
  private dummy: Promise<string> | null = null;

  constructor(private readonly store: IdentityStore, clock: Clock, failures: RateLimit = LOGIN_FAILURE_LIMIT, attempts: RateLimit = LOGIN_ATTEMPT_LIMIT) {
    const overall = { perSecond: failures.perSecond * 1000, burst: failures.burst * 1000 };
    this.bySource = new SourceRateLimiter(clock, failures, overall);
    this.byLogin = new SourceRateLimiter(clock, failures, overall, (l) => `login:${l}`);
    this.attempts = new SourceRateLimiter(clock, attempts, attempts, () => 'all');
  }

  /** The admin principal, or ControlError 401 ERR_LOGIN_FAILED / 429 ERR_RATE_LIMITED. */
  async verifyAdminPassword(login: string, password: string, source: string | undefined): Promise<Principal> {
    if (!this.bySource.wouldAllow(source) || !this.byLogin.wouldAllow(login) || !this.attempts.allow(source)) {
      throw tooManyRequests('ERR_RATE_LIMITED', 'too many failed logins; retry later', 'login');
    }
    const admin = LOGIN_PATTERN.test(login) && password.length <= MAX_PASSWORD_LENGTH ? await this.store.findAdmin(login) : null;
    const { hash, verify } = await argon2();
    const stored = admin?.passwordHash ?? (await (this.dummy ??= hash('weft-no-such-admin', ARGON2_OPTIONS)));
    let ok = false;
    try {
      ok = (await verify(stored, password.slice(0, MAX_PASSWORD_LENGTH))) && admin !== null;
    } catch {
      ok = false; // a corrupt stored hash is a failed login, not a 500
    }
    if (!ok) {
      this.bySource.allow(source);
      this.byLogin.allow(login);
      throw unauthorized('ERR_LOGIN_FAILED', 'wrong login or password', 'password');
    }
    return { kind: 'admin', login: admin!.login, provider: 'local', groups: [] };
  }
}
