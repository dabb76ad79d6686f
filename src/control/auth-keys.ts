import { isSecretOf, mintSecret, secretMatches, secretPrefix, type SecretKind } from './secrets.js';
import { forbidden, notFound, unauthorized } from './errors.js';
import type { AuthKeyView, CreateAuthKeyRequest } from '../wire/control.js';
import type { ApiKeyRecord, ApiKeyScope, AuthKeyRecord, Store } from './store/index.js';
import type { AdminProof } from './console/session.js';

/** Tailscale's default: keys are short-lived unless asked otherwise. */
export const DEFAULT_AUTHKEY_EXPIRY_SECONDS = 3600;

async function findBySecret<R extends { hash: string }>(kind: SecretKind, secret: string, lookup: (prefix: string) => Promise<R[]>): Promise<R | null> {
  if (!isSecretOf(kind, secret)) return null;
  // Every candidate is compared (in constant time) so timing says nothing about which matched.
  let found: R | null = null;
  for (const r of await lookup(secretPrefix(secret))) if (secretMatches(secret, r.hash)) found = r;
  return found;
}

export function authKeyView(k: AuthKeyRecord, secret?: string): AuthKeyView {
  return {
    id: String(k.id),
    ...(secret ? { key: secret } : {}),
    prefix: k.prefix,
    reusable: k.reusable,
    ephemeral: k.ephemeral,
    tags: k.tags,
    createdAt: new Date(k.createdAt).toISOString(),
    expiresAt: k.expiresAt === null ? null : new Date(k.expiresAt).toISOString(),
    usedCount: k.usedCount,
    revoked: k.revoked,
    user: k.user ?? null,
  };
}

export async function createAuthKey(store: Store, req: CreateAuthKeyRequest, now: number): Promise<AuthKeyView> {
  const m = mintSecret('weftkey');
  const seconds = req.expirySeconds ?? DEFAULT_AUTHKEY_EXPIRY_SECONDS;
  const rec = await store.createAuthKey({
    prefix: m.prefix,
    hash: m.hash,
    reusable: req.reusable ?? false,
    ephemeral: req.ephemeral ?? false,
    tags: [...new Set(req.tags ?? [])],
    user: req.user ?? null,
    createdAt: now,
    expiresAt: seconds === 0 ? null : now + seconds * 1000,
  });
  return authKeyView(rec, m.secret);
}

/**
 * Finds a usable pre-auth key. The store re-checks inside the registration transaction;
 * checking here too rejects a bad key before any address or name is reserved.
 */
export async function resolveAuthKey(store: Store, secret: string, now: number): Promise<AuthKeyRecord> {
  const k = await findBySecret('weftkey', secret, (p) => store.findAuthKeysByPrefix(p));
  if (!k) throw unauthorized('ERR_AUTHKEY_INVALID', 'unknown pre-auth key', 'authKey');
  if (k.revoked) throw forbidden('ERR_AUTHKEY_REVOKED', 'pre-auth key has been revoked', 'authKey');
  if (k.expiresAt !== null && k.expiresAt <= now) throw forbidden('ERR_AUTHKEY_EXPIRED', 'pre-auth key has expired', 'authKey');
  if (!k.reusable && k.usedCount > 0) throw forbidden('ERR_AUTHKEY_USED', 'one-off pre-auth key has already been used', 'authKey');
  return k;
}

/** `weft keys revoke KEY` accepts the id, the prefix or the full key. */
export async function findAuthKey(store: Store, ref: string): Promise<AuthKeyRecord> {
  let k: AuthKeyRecord | null | undefined;
  if (/^\d+$/.test(ref)) k = (await store.listAuthKeys()).find((x) => String(x.id) === ref);
  else if (isSecretOf('weftkey', ref)) k = await findBySecret('weftkey', ref, (p) => store.findAuthKeysByPrefix(p));
  else {
    const hits = await store.findAuthKeysByPrefix(ref);
    if (hits.length === 1) k = hits[0];
  }
  if (!k) throw notFound('ERR_AUTHKEY_NOT_FOUND', 'no such pre-auth key', 'key');
  return k;
}

export interface ApiKeyView {
  id: string;
  key?: string;
  prefix: string;
  /** `read`: GET only; `admin`: everything the admin API offers over TCP. */
  scope: ApiKeyScope;
  createdAt: string;
  expiresAt: string | null;
  revoked: boolean;
}

export function apiKeyView(k: ApiKeyRecord, secret?: string): ApiKeyView {
  return {
    id: String(k.id),
    ...(secret ? { key: secret } : {}),
    prefix: k.prefix,
    scope: k.scope,
    createdAt: new Date(k.createdAt).toISOString(),
    expiresAt: k.expiresAt === null ? null : new Date(k.expiresAt).toISOString(),
    revoked: k.revoked,
  };
}

export async function createApiKey(store: Store, expirySeconds: number, scope: ApiKeyScope, now: number): Promise<ApiKeyView> {
  const m = mintSecret('weftapi');
  const rec = await store.createApiKey({ prefix: m.prefix, hash: m.hash, scope, createdAt: now, expiresAt: expirySeconds === 0 ? null : now + expirySeconds * 1000 });
  return apiKeyView(rec, m.secret);
}

/** Checks a bearer API key; null when it is unknown, revoked or expired. */
export async function verifyApiKey(store: Store, secret: string, now: number): Promise<ApiKeyRecord | null> {
  const k = await findBySecret('weftapi', secret, (p) => store.findApiKeysByPrefix(p));
  return k && !k.revoked && (k.expiresAt === null || k.expiresAt > now) ? k : null;
}

/** The web console's "admin API key" login (console/session.ts AdminProof); actor `apikey:<id>`. */
export function apiKeyProof(store: Store): AdminProof {
  // The console changes things, so only an admin-scoped key opens a session.
  const usable = (k: ApiKeyRecord | undefined, now: number): boolean => k !== undefined && !k.revoked && (k.expiresAt === null || k.expiresAt > now) && k.scope === 'admin';
  return {
    method: 'apikey',
    async verify({ secret }, now) {
      const k = await verifyApiKey(store, secret, now);
      return k && k.scope === 'admin' ? `apikey:${k.id}` : null;
    },
    // A session ends with the key that opened it (revoked or expired).
    async stillValid(actor, now) {
      const id = Number(/^apikey:(\d+)$/.exec(actor)?.[1]);
      return usable((await store.listApiKeys()).find((k) => k.id === id), now);
    },
  };
}
