import type { Logger } from '../../log.js';
import { openPostgresStore } from './postgres.js';
import { openSqliteStore } from './sqlite.js';
import type { Store } from './types.js';

export type { Store, NodeRecord, AuthKeyRecord, ApiKeyRecord, ApiKeyScope, StoreChange, NewNode, AuditRecord, NewAuditRecord, ConsoleSessionRecord } from './types.js';
export { SchemaTooNewError, StoreConflictError } from './types.js';
export { SCHEMA_VERSION } from './schema.js';

/** `postgres://...` / `postgresql://...` selects PostgreSQL; anything else is a SQLite file. */
export function openStore(db: string, log: Logger): Store {
  return /^postgres(ql)?:\/\//.test(db) ? openPostgresStore(db, log) : openSqliteStore(db);
}
export type { IdentityStore, UserRecord, AdminRecord, LoginClaims, NewUser } from './identity-types.js';
export { LOCAL_PROVIDER } from './identity-types.js';
export type { LoginStore, NodeLoginRecord, PendingOidcLogin } from './login-types.js';
