// Who a console or API request acts as, once verified. The web console (issue 16) keeps
// one in its session; the audit log names it as `<kind>:<login>`.
export interface Principal {
  /** `admin`: a local admin (password); `user`: someone who signed in with OIDC. */
  kind: 'admin' | 'user';
  login: string;
  /** `local` or the OIDC issuer URL. */
  provider: string;
  /** The provider's groups claim at this login (empty for local admins). */
  groups: string[];
}
