// A real OpenID Connect provider (npm oidc-provider) in-process on loopback, with its
// development login pages (any password; the login name picks the account). Accounts
// and their groups are a Map the test may change between logins. `otherIssuerTokens`
// makes the token endpoint answer as a second real provider with another issuer (the
// same client and the same in-memory storage, so it honours the first one's codes): ID tokens from another issuer, as in a mix-up attack.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import { createMemoryAdapter } from 'oidc-provider/lib/adapters/memory_adapter.js';

export interface TestAccount {
  email: string;
  name: string;
  groups: string[];
}

export interface TestProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  accounts: Map<string, TestAccount>;
  /** When true, token requests are answered by the provider whose issuer is `${issuer}/other`. */
  otherIssuerTokens: boolean;
  stop(): Promise<void>;
}

/** `redirectUris`: the coordinators' callback URLs (client id `weft`, as the README registers it). */
export async function startOidcProvider(redirectUris: string[], accounts: Record<string, TestAccount>): Promise<TestProvider> {
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = 'weft';
  const clientSecret = 'weft-test-secret-0123456789abcdef';
  const map = new Map(Object.entries(accounts));
  const configuration = {
    clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: redirectUris, grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic' }],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'groups'] },
    // Claims in the ID token itself, as most providers send groups.
    conformIdTokenClaims: false,
    findAccount: (_ctx: unknown, sub: string) => {
      const a = map.get(sub);
      return a ? { accountId: sub, claims: () => ({ sub, email: a.email, email_verified: true, name: a.name, groups: a.groups }) } : undefined;
    },
    cookies: { keys: ['weft-test-cookie-key'] },
    features: { devInteractions: { enabled: true } },
    adapter: createMemoryAdapter(),
  };
  const provider = new Provider(issuer, configuration);
  const other = new Provider(`${issuer}/other`, configuration);
  const t: TestProvider = {
    issuer,
    clientId,
    clientSecret,
    accounts: map,
    otherIssuerTokens: false,
    stop: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
  const [mine, theirs] = [provider.callback(), other.callback()];
  server.on('request', (req, res) => (t.otherIssuerTokens && req.url?.startsWith('/token') ? theirs(req, res) : mine(req, res)));
  return t;
}
