import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Clock } from '../../clock.js';
import { equalBytes } from '../../crypto/constant-time.js';
import { InvalidArgumentError } from '../../errors.js';
import { forbidden, unauthorized } from '../errors.js';
import type { Store } from '../store/index.js';

// Web console sessions. Logging in means proving you are an admin by one of the
// registered AdminProof methods (an admin API key, or a local admin's login and
// password: identity/console-proof.ts), or through a SessionMethod that verifies
// elsewhere (the OIDC redirect: identity/console-oidc.ts); the proof is exchanged for a
// random session token in an HttpOnly cookie. Only the token's SHA-256 is stored (in the database, so every
// coordinator sharing it accepts the session). Writes also need a CSRF token (a
// synchronizer token): an HMAC of the session token, so any coordinator can recompute
// it, and the page can read it while the cookie stays unreadable to scripts.

export const SESSION_COOKIE = 'weft_console';
export const CSRF_HEADER = 'x-weft-csrf';
/** Absolute session lifetime; a console session is for a working day, not a month. */
export const DEFAULT_SESSION_TTL_MS = 8 * 3600_000;
const TOKEN_BYTES = 32;

/** What a login form sent besides the method: the secret, and for some methods a login name. */
export interface LoginAttempt {
  secret: string;
  login?: string;
  source?: string;
}

/** One way a session may have been opened. */
export interface SessionMethod {
  readonly method: string;
  /** Whether an actor this method admitted may still act (e.g. its API key was not revoked). */
  stillValid(actor: string, now: number): Promise<boolean>;
}

/** A method proven by the login form. `verify` returns the actor, or null. */
export interface AdminProof extends SessionMethod {
  verify(attempt: LoginAttempt, now: number): Promise<string | null>;
}

export interface ConsoleSession {
  actor: string;
  method: string;
  expiresAt: number;
  csrf: string;
}

const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');
/** The session cookie (`value` '' with max age 0 clears it). */
export const sessionCookie = (value: string, maxAgeSeconds: number, secure: boolean): string =>
  `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;

export const csrfFor = (token: string): string => createHmac('sha256', token).update('weft console csrf').digest('base64url');

/** Session tokens are 43 base64url characters; anything else is not looked up. */
const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

export function readCookie(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return null;
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

export class ConsoleAuth {
  private readonly proofs = new Map<string, AdminProof>();
  private readonly others = new Map<string, SessionMethod>();
  private lastSweep = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    readonly ttlMs: number = DEFAULT_SESSION_TTL_MS,
  ) {}

  addProof(p: AdminProof): void {
    this.proofs.set(p.method, p);
  }

  /** A method whose proof is checked outside the login form; sessions open with `open`. */
  addMethod(m: SessionMethod): void {
    this.others.set(m.method, m);
  }

  /** The login form's methods. */
  get methods(): string[] {
    return [...this.proofs.keys()];
  }

  /** Returns the new session's cookie token and session, or null when the proof fails. */
  async login(method: string, attempt: LoginAttempt): Promise<{ token: string; session: ConsoleSession } | null> {
    const proof = this.proofs.get(method);
    if (!proof) return null;
    const actor = await proof.verify(attempt, this.clock.wallNow());
    return actor === null ? null : this.open(method, actor);
  }

  /** A session for `actor`, whom the `addMethod` method `method` has just verified. */
  async open(method: string, actor: string): Promise<{ token: string; session: ConsoleSession }> {
    if (!this.proofs.has(method) && !this.others.has(method)) throw new InvalidArgumentError(`console session method ${method} is not registered`);
    const now = this.clock.wallNow();
    await this.sweep(now);
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    const expiresAt = now + this.ttlMs;
    await this.store.createConsoleSession({ tokenHash: hashToken(token), actor, method, createdAt: now, expiresAt });
    return { token, session: { actor, method, expiresAt, csrf: csrfFor(token) } };
  }

  /** The live session for a cookie token, or null (unknown, expired, or its proof was withdrawn). */
  async session(token: string | null): Promise<ConsoleSession | null> {
    if (token === null || !TOKEN_RE.test(token)) return null;
    const now = this.clock.wallNow();
    const rec = await this.store.getConsoleSession(hashToken(token), now);
    if (!rec) return null;
    const proof = this.proofs.get(rec.method) ?? this.others.get(rec.method);
    if (!proof || !(await proof.stillValid(rec.actor, now))) return null;
    return { actor: rec.actor, method: rec.method, expiresAt: rec.expiresAt, csrf: csrfFor(token) };
  }

  /**
   * Authenticates an admin API request by its cookie: 401 without a live session, 403
   * for a write whose CSRF header does not match the session.
   */
  async authorize(method: string, cookieHeader: string | undefined, csrfHeader: string | string[] | undefined): Promise<ConsoleSession> {
    const token = readCookie(cookieHeader, SESSION_COOKIE);
    const s = await this.session(token);
    if (!s) throw unauthorized('ERR_SESSION_INVALID', 'console session is missing or has expired; log in again', 'cookie');
    if (!SAFE_METHODS.has(method)) {
      const given = typeof csrfHeader === 'string' ? Buffer.from(csrfHeader) : Buffer.alloc(0);
      const want = Buffer.from(s.csrf);
      if (given.length !== want.length || !equalBytes(given, want)) throw forbidden('ERR_CSRF', `console writes need the ${CSRF_HEADER} header from the session`, CSRF_HEADER);
    }
    return s;
  }

  async logout(token: string | null): Promise<void> {
    if (token !== null && TOKEN_RE.test(token)) await this.store.deleteConsoleSession(hashToken(token));
  }

  // Expired rows are dropped at most once a minute, on logins (the only thing that adds rows).
  private async sweep(now: number): Promise<void> {
    if (now - this.lastSweep < 60_000) return;
    this.lastSweep = now;
    await this.store.deleteExpiredConsoleSessions(now);
  }
}
