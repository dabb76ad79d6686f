// The identity part of the store (migration 7): users that nodes belong to, local
// admins, and sealed (encrypted, recoverable) values. Times are Unix milliseconds.
import type { NodeRecord } from './types.js';

/** `local` users are created by admins (or a pre-auth key's --user); others by an OIDC login. */
export const LOCAL_PROVIDER = 'local';

export interface UserRecord {
  id: number;
  /** Unique; what policies, pre-auth keys and nodes name (e.g. `alice@example.com`). */
  login: string;
  displayName: string | null;
  provider: string;
  /** The provider's `sub` claim; null for local users. */
  subject: string | null;
  /** From the provider's groups claim, refreshed at each login; `group:<name>` in policy. */
  groups: string[];
  createdAt: number;
  lastLogin: number | null;
}

export type NewUser = Pick<UserRecord, 'login' | 'displayName' | 'provider' | 'subject' | 'groups' | 'createdAt'>;

/** What a verified OIDC login says about its user. */
export interface LoginClaims {
  provider: string;
  subject: string;
  login: string;
  displayName: string | null;
  groups: string[];
}

export interface AdminRecord {
  id: number;
  login: string;
  /** Argon2id PHC string. */
  passwordHash: string;
  createdAt: number;
  updatedAt: number;
}

export interface IdentityStore {
  listUsers(): Promise<UserRecord[]>;
  findUser(login: string): Promise<UserRecord | null>;
  /** Throws StoreConflictError('login') when the login is taken. */
  createUser(u: NewUser): Promise<UserRecord>;
  /** The local user named `login`, created if missing (a pre-auth key's --user). */
  ensureUser(login: string, now: number): Promise<UserRecord>;
  /**
   * A completed login: the user with this provider and subject (created on the first
   * login), its groups and display name refreshed and last login set to `now`.
   */
  recordLogin(c: LoginClaims, now: number): Promise<UserRecord>;
  /** Renames a user and the login its nodes and keys carry; returns the nodes that changed. */
  renameUser(id: number, login: string): Promise<{ user: UserRecord; nodeIds: number[] } | null>;
  /** The user's nodes (by user_id). */
  userNodes(id: number): Promise<NodeRecord[]>;
  /**
   * Deletes a user with no nodes left, and its pre-auth keys. Throws ControlError
   * ERR_USER_HAS_NODES (409) when a node still belongs to it; null when there is no such user.
   */
  deleteUser(id: number): Promise<UserRecord | null>;

  listAdmins(): Promise<AdminRecord[]>;
  findAdmin(login: string): Promise<AdminRecord | null>;
  createAdmin(login: string, passwordHash: string, now: number): Promise<AdminRecord>;
  setAdminPassword(login: string, passwordHash: string, now: number): Promise<AdminRecord | null>;
  deleteAdmin(login: string): Promise<AdminRecord | null>;

  getSealed(name: string): Promise<string | null>;
  putSealed(name: string, value: string, now: number): Promise<void>;
  listSealed(): Promise<{ name: string; value: string }[]>;
}
