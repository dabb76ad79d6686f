// Loaded on first use (discovery): every `weft` command imports this file, few use OIDC.
import type * as OidcLib from 'openid-client';
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../clock.js';
import { WeftError } from '../../errors.js';
import { badRequest, forbidden, tooManyRequests } from '../errors.js';
import type { LoginClaims } from '../store/index.js';

// The coordinator as an OpenID Connect relying party: authorization code flow with PKCE
// (S256), state and nonce (openid-client checks issuer, audience, signature, expiry and
// nonce of the ID token). Pending logins are kept in memory, bounded, and each state is
// usable once: a replayed callback finds nothing. The clock is injected: the ID token's
// times are checked against `clock.wallNow()`.

export const OIDC_CALLBACK_PATH = '/login/oidc/callback';
/** How long a started login may take to complete at the provider. */
export const LOGIN_TTL_MS = 10 * 60_000;
export const MAX_PENDING_LOGINS = 1024;
const DEFAULT_SCOPES = 'openid email profile';

export interface OidcOptions {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Login email domains allowed (empty: any). */
  allowedDomains?: string[];
  /** Logins (emails) allowed (empty: any). */
  allowedUsers?: string[];
  /** The user must be in one of these provider groups (empty: any). */
  allowedGroups?: string[];
  scopes?: string;
  /** The ID token / userinfo claim holding the user's groups. */
  groupsClaim?: string;
}

export class OidcConfigError extends WeftError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_OIDC_CONFIG', message, options);
  }
}

interface Pending<P> {
  purpose: P;
  verifier: string;
  nonce: string;
  at: number;
}

const isLoopbackHttp = (u: URL): boolean => u.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []);

/**
 * openid-client's message is generic ("unexpected JWT claim value encountered"); the
 * check that failed is in its cause, or the provider's error in `error_description`.
 */
function reason(err: unknown): string {
  const e = err as Error & { cause?: unknown; error?: string; error_description?: string };
  const cause = e.cause as { message?: string; error?: string; error_description?: string } | undefined;
  const detail = e.error_description ?? cause?.error_description ?? (cause instanceof Error ? cause.message : undefined);
  return detail && detail !== e.message ? `${e.message}: ${detail}` : e.message;
}

/**
 * One provider. `P` is what the login is for (a node waiting in `weft up`, a console
 * session): given to `begin`, handed back by `complete`.
 */
export class OidcRelyingParty<P> {
  private readonly pending = new Map<string, Pending<P>>();

  private constructor(
    private readonly oidc: typeof OidcLib,
    private readonly o: OidcOptions,
    private readonly server: OidcLib.ServerMetadata,
    private readonly redirectUri: string,
    private readonly clock: Clock,
  ) {}

  /** Discovers the provider; a discovery document naming another issuer is refused. */
  static async discover<P>(o: OidcOptions, redirectUri: string, clock: Clock): Promise<OidcRelyingParty<P>> {
    const oidc = await import('openid-client');
    const issuer = new URL(o.issuer);
    // Plain http only to a provider on this host (tests, a local IdP); anything else is https.
    const options = isLoopbackHttp(issuer) ? { execute: [oidc.allowInsecureRequests] } : undefined;
    let config: OidcLib.Configuration;
    try {
      config = await oidc.discovery(issuer, o.clientId, o.clientSecret, oidc.ClientSecretBasic(o.clientSecret), options);
    } catch (err) {
      throw new OidcConfigError(`OIDC discovery at ${o.issuer} failed: ${(err as Error).message}`, { cause: err });
    }
    return new OidcRelyingParty<P>(oidc, o, config.serverMetadata(), redirectUri, clock);
  }

  get issuer(): string {
    return this.server.issuer;
  }

  /** A fresh configuration whose clock is the injected one (openid-client's clockSkew). */
  private config(): OidcLib.Configuration {
    const oidc = this.oidc;
    const skew = Math.round((this.clock.wallNow() - Date.now()) / 1000);
    const c = new oidc.Configuration(this.server, this.o.clientId, { client_secret: this.o.clientSecret, [oidc.clockSkew]: skew }, oidc.ClientSecretBasic(this.o.clientSecret));
    if (isLoopbackHttp(new URL(this.server.issuer))) oidc.allowInsecureRequests(c);
    return c;
  }

  /** The provider URL to send the browser to. */
  async begin(purpose: P): Promise<URL> {
    const oidc = this.oidc;
    this.collect();
    if (this.pending.size >= MAX_PENDING_LOGINS) throw tooManyRequests('ERR_RATE_LIMITED', 'too many logins in progress; retry later');
    const verifier = oidc.randomPKCECodeVerifier();
    const nonce = oidc.randomNonce();
    const state = randomBytes(24).toString('base64url');
    this.pending.set(state, { purpose, verifier, nonce, at: this.clock.now() });
    return oidc.buildAuthorizationUrl(this.config(), {
      redirect_uri: this.redirectUri,
      scope: this.o.scopes ?? DEFAULT_SCOPES,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
  }

  /**
   * Verifies the provider's redirect to OIDC_CALLBACK_PATH: state (once), `accept` (the
   * caller's own check of the purpose, which throws to refuse, before any request to the
   * provider), code exchange with the PKCE verifier, ID token (issuer, expiry, nonce
   * included), then the allow filters.
   */
  async complete(callbackUrl: URL, accept: (purpose: P) => void = () => {}): Promise<{ purpose: P; claims: LoginClaims }> {
    const state = callbackUrl.searchParams.get('state') ?? '';
    const p = this.pending.get(state);
    // Deleted before anything else: a second callback with this state finds nothing.
    this.pending.delete(state);
    if (!p || this.clock.now() - p.at > LOGIN_TTL_MS) throw badRequest('ERR_OIDC_STATE', 'unknown, used or expired login state; start the login again', 'state');
    accept(p.purpose);
    const oidc = this.oidc;
    const config = this.config();
    let tokens: Awaited<ReturnType<typeof OidcLib.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: p.verifier, expectedNonce: p.nonce, expectedState: state, idTokenExpected: true });
    } catch (err) {
      throw forbidden('ERR_OIDC_LOGIN', `the provider's answer was refused: ${reason(err)}`, 'code');
    }
    const id = tokens.claims()!;
    let info: Record<string, unknown> = {};
    if (tokens.access_token && config.serverMetadata().userinfo_endpoint) {
      info = await oidc.fetchUserInfo(config, tokens.access_token, id.sub).catch(() => ({}));
    }
    const all: Record<string, unknown> = { ...info, ...id };
    return { purpose: p.purpose, claims: this.allow(id.iss, id.sub, all) };
  }

  private allow(iss: string, sub: string, c: Record<string, unknown>): LoginClaims {
    const email = typeof c.email === 'string' && c.email_verified !== false ? c.email.toLowerCase() : null;
    const login = email ?? (typeof c.preferred_username === 'string' ? c.preferred_username : sub);
    const groups = strings(c[this.o.groupsClaim ?? 'groups']);
    const domains = this.o.allowedDomains ?? [];
    const users = this.o.allowedUsers ?? [];
    const wanted = this.o.allowedGroups ?? [];
    if (domains.length && !(email && domains.some((d) => email.endsWith(`@${d.toLowerCase()}`)))) throw forbidden('ERR_OIDC_NOT_ALLOWED', `${login} is not in an allowed domain`);
    if (users.length && !users.map((u) => u.toLowerCase()).includes(login.toLowerCase())) throw forbidden('ERR_OIDC_NOT_ALLOWED', `${login} is not an allowed user`);
    if (wanted.length && !groups.some((g) => wanted.includes(g))) throw forbidden('ERR_OIDC_NOT_ALLOWED', `${login} is in none of the allowed groups`);
    return { provider: iss, subject: sub, login, displayName: typeof c.name === 'string' ? c.name : null, groups };
  }

  private collect(): void {
    const now = this.clock.now();
    for (const [k, p] of this.pending) if (now - p.at > LOGIN_TTL_MS) this.pending.delete(k);
  }
}
