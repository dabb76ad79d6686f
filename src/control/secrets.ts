import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

// Pre-auth keys and API keys are 32 random bytes, so a plain SHA-256 is a sufficient
// stored form (no password stretching needed). The first characters after the kind
// marker are kept in clear as a lookup prefix; the full hash is compared in constant time.
export type SecretKind = 'weftkey' | 'weftapi';
const PREFIX_CHARS = 8;

export interface MintedSecret {
  secret: string;
  prefix: string;
  hash: string;
}

export function mintSecret(kind: SecretKind): MintedSecret {
  const secret = `${kind}-${randomBytes(32).toString('base64url')}`;
  return { secret, prefix: secretPrefix(secret), hash: hashSecret(secret) };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** True when `secret` has the shape `mintSecret(kind)` produces. */
export function isSecretOf(kind: SecretKind, secret: string): boolean {
  return secret.length === kind.length + 44 && new RegExp(`^${kind}-[A-Za-z0-9_-]{43}$`).test(secret);
}

/** The clear lookup prefix, e.g. `weftkey-AbCdEfGh`. */
export function secretPrefix(secret: string): string {
  return secret.slice(0, secret.indexOf('-') + 1 + PREFIX_CHARS);
}

export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
