// Logins in progress at the OIDC provider, kept in the database so that any coordinator
// sharing it can finish a login another one started (several instances behind one
// address). Every row is short-lived: callers pass `since` (now minus the login TTL), and
// rows created at or before it count as gone.

export interface PendingOidcLogin {
  /** SHA-256 (hex) of the `state` parameter. */
  stateHash: string;
  /** What the login is for, as JSON. */
  purpose: string;
  /** The PKCE code verifier, sealed (identity/sealer.ts). */
  verifier: string;
  nonce: string;
  createdAt: number;
}

export interface NodeLoginRecord {
  /** The /login/<id> path segment. */
  id: string;
  nodeKey: string;
  createdAt: number;
  /** Set once someone completed the login. */
  user: string | null;
}

export interface LoginStore {
  /** Adds `p` unless `max` logins started after `since` are pending (then false); drops the older ones. */
  putOidcLogin(p: PendingOidcLogin, since: number, max: number): Promise<boolean>;
  /** Removes and returns a pending login: a second call for the same state finds nothing. */
  takeOidcLogin(stateHash: string, since: number): Promise<PendingOidcLogin | null>;
  /** `nodeKey`'s login still waiting or granted, else a new one `fresh` (null when `max` are pending). */
  waitNodeLogin(fresh: NodeLoginRecord, since: number, max: number): Promise<NodeLoginRecord | null>;
  /** The login at /login/<id> while nobody has completed it. */
  findWaitingNodeLogin(id: string, since: number): Promise<NodeLoginRecord | null>;
  /** Gives a waiting login to `user`; false when it is gone or was already completed. */
  grantNodeLogin(id: string, user: string, since: number): Promise<boolean>;
  /** Removes `nodeKey`'s granted login and returns its user (once), else null. */
  takeGrantedNodeLogin(nodeKey: string, since: number): Promise<string | null>;
}
