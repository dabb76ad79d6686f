// What the web console (issue 16) and other login front ends use: verify a local admin's
// password, or run an OIDC login, and get back a verified Principal.
export type { Principal } from './principal.js';
export { AdminPasswords, hashPassword, checkPassword, MIN_PASSWORD_LENGTH } from './passwords.js';
export { OidcRelyingParty, OidcConfigError, OIDC_CALLBACK_PATH, type OidcOptions } from './oidc.js';
export { recordLogin } from './login-result.js';
export { Sealer, SealError, SECRETS_KEY_FILE } from './sealer.js';
export { getSecret, putSecret } from './secrets-at-rest.js';
