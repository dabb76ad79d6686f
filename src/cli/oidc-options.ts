import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { InvalidArgumentError } from '../errors.js';
import type { CoordinatorOptions } from '../control/server.js';

// `weft server --oidc-*`: sign-in with an OpenID Connect provider. The client secret is
// read from a file (never argv) and then kept sealed in the database.

const list = (v: string, acc: string[]): string[] => [...acc, ...v.split(',').map((s) => s.trim()).filter(Boolean)];

export function oidcServerOptions(cmd: Command): Command {
  return cmd
    .option('--oidc-issuer <url>', 'OpenID Connect provider (issuer URL): `weft up` without a key prints a login URL')
    .option('--oidc-client-id <id>', 'client id registered at the provider (redirect URI: <public url>/login/oidc/callback)')
    .option('--oidc-client-secret-file <file>', 'file holding the client secret (needed the first time; it is then kept sealed in the database)')
    .option('--oidc-allowed-domains <domains>', 'only logins with a verified email in these domains (comma-separated, repeatable)', list, [] as string[])
    .option('--oidc-allowed-users <emails>', 'only these logins (comma-separated, repeatable)', list, [] as string[])
    .option('--oidc-allowed-groups <groups>', "only members of these groups in the provider's groups claim (comma-separated, repeatable)", list, [] as string[])
    .option('--oidc-admin-users <emails>', 'these logins may sign in to the web console (comma-separated, repeatable)', list, [] as string[])
    .option('--oidc-admin-groups <groups>', "members of these provider groups may sign in to the web console (comma-separated, repeatable)", list, [] as string[]);
}

export interface OidcFlags {
  oidcIssuer?: string;
  oidcClientId?: string;
  oidcClientSecretFile?: string;
  oidcAllowedDomains?: string[];
  oidcAllowedUsers?: string[];
  oidcAllowedGroups?: string[];
  oidcAdminUsers?: string[];
  oidcAdminGroups?: string[];
}

export async function oidcFromFlags(o: OidcFlags): Promise<CoordinatorOptions['oidc']> {
  if (!o.oidcIssuer) {
    if (o.oidcClientId || o.oidcClientSecretFile || o.oidcAdminUsers?.length || o.oidcAdminGroups?.length) throw new InvalidArgumentError('--oidc-client-id, --oidc-client-secret-file and --oidc-admin-* need --oidc-issuer');
    return undefined;
  }
  if (!URL.canParse(o.oidcIssuer) || !/^https?:$/.test(new URL(o.oidcIssuer).protocol)) throw new InvalidArgumentError(`--oidc-issuer must be an http(s) URL, got ${JSON.stringify(o.oidcIssuer)}`);
  if (!o.oidcClientId) throw new InvalidArgumentError('--oidc-issuer needs --oidc-client-id');
  const clientSecret = o.oidcClientSecretFile === undefined ? undefined : (await readFile(o.oidcClientSecretFile, 'utf8')).trim();
  if (clientSecret === '') throw new InvalidArgumentError(`--oidc-client-secret-file ${o.oidcClientSecretFile} is empty`);
  return {
    issuer: o.oidcIssuer,
    clientId: o.oidcClientId,
    ...(clientSecret === undefined ? {} : { clientSecret }),
    allowedDomains: o.oidcAllowedDomains ?? [],
    allowedUsers: o.oidcAllowedUsers ?? [],
    allowedGroups: o.oidcAllowedGroups ?? [],
    consoleAdmins: { users: o.oidcAdminUsers ?? [], groups: o.oidcAdminGroups ?? [] },
  };
}
