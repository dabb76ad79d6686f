// Loaded on first use (discovery): every `weft` command imports this file, few use OIDC.
import type * as OidcLib from 'openid-client';
import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../../clock.js';
import { WeftError } from '../../errors.js';
import { badRequest, forbidden, tooManyRequests } from '../errors.js';
import type { LoginClaims, LoginStore } from '../store/index.js';
import type { Sealer } from './sealer.js';

// The coordinator as an OpenID Connect relying party: authorization code flow with PKCE
// (S256), state and nonce (openid-client checks issuer, audience, signature, expiry and
// nonce of the ID token). Pending logins are kept in the database (any coordinator
// sharing it finishes a login another started), bounded, by the state's hash with the
// PKCE verifier sealed, and each state is usable once: a replayed callback finds
// nothing. The clock is injected: the ID token's times and the pending logins' age are
// checked against `clock.wallNow()` (shared by instances on several machines).

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

/** A state as this relying party makes them (24 random bytes); anything else is not looked up. */
const STATE_RE = /^[A-Za-z0-9_-]{32}$/;
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
/** The sealed verifier's additional data: it opens only under its own state. */
const verifierName = (stateHash: string): string => `oidc.login.${stateHash}`;

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

export interface RelyingPartyDeps {
  clock: Clock;
  /** Where pending logins are kept. */
  logins: LoginStore;
  /** Seals the PKCE verifiers at rest. */
  sealer: Sealer;
}

/**
 * One provider. `P` is what the login is for (a node waiting in `weft up`, a console
 * session): given to `begin`, handed back by `complete`.
 */
export class OidcRelyingParty<P> {
  private constructor(
    private readonly oidc: typeof OidcLib,
    private readonly o: OidcOptions,
    private readonly server: OidcLib.ServerMetadata,
    private readonly redirectUri: string,
    private readonly d: RelyingPartyDeps,
  ) {}

  private get clock(): Clock {
    return this.d.clock;
  }

  /** Discovers the provider; a discovery document naming another issuer is refused. */
  static async discover<P>(o: OidcOptions, redirectUri: string, d: RelyingPartyDeps): Promise<OidcRelyingParty<P>> {
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
    return new OidcRelyingParty<P>(oidc, o, config.serverMetadata(), redirectUri, d);
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
    const verifier = oidc.randomPKCECodeVerifier();
    const nonce = oidc.randomNonce();
    const state = randomBytes(24).toString('base64url');
    const now = this.clock.wallNow();
    const stateHash = sha256(state);
    const pending = { stateHash, purpose: JSON.stringify(purpose), verifier: this.d.sealer.seal(verifierName(stateHash), verifier), nonce, createdAt: now };
    if (!(await this.d.logins.putOidcLogin(pending, now - LOGIN_TTL_MS, MAX_PENDING_LOGINS))) throw tooManyRequests('ERR_RATE_LIMITED', 'too many logins in progress; retry later');
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
    // Taken (deleted) before anything else: a second callback with this state finds nothing.
    const p = STATE_RE.test(state) ? await this.d.logins.takeOidcLogin(sha256(state), this.clock.wallNow() - LOGIN_TTL_MS) : null;
    if (!p) throw badRequest('ERR_OIDC_STATE', 'unknown, used or expired login state; start the login again', 'state');
    const purpose = JSON.parse(p.purpose) as P;
    accept(purpose);
    const oidc = this.oidc;
    const config = this.config();
    let tokens: Awaited<ReturnType<typeof OidcLib.authorizationCodeGrant>>;
    // Outside the try: a verifier that does not open (instances with different secrets.key) is this side's fault.
    const pkceCodeVerifier = this.d.sealer.open(verifierName(p.stateHash), p.verifier);
    try {
      tokens = await oidc.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier, expectedNonce: p.nonce, expectedState: state, idTokenExpected: true });
    } catch (err) {
      throw forbidden('ERR_OIDC_LOGIN', `the provider's answer was refused: ${reason(err)}`, 'code');
    }
    const id = tokens.claims()!;
    let info: Record<string, unknown> = {};
    if (tokens.access_token && config.serverMetadata().userinfo_endpoint) {
      info = await oidc.fetchUserInfo(config, tokens.access_token, id.sub).catch(() => ({}));
    }
    const all: Record<string, unknown> = { ...info, ...id };
    return { purpose, claims: this.allow(id.iss, id.sub, all) };
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
}
