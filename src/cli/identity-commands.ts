import { Option, type Command } from 'commander';
import { InvalidArgumentError } from '../errors.js';
import type { AdminClient } from '../control/admin-client.js';
import type { ApiKeyView } from '../control/auth-keys.js';
import type { UserView } from '../control/identity/admin-routes.js';
import { parseDuration } from '../control/durations.js';
import { DEFAULT_STATE_DIR } from '../control/defaults.js';
import { json, jsonOption, keyState, localTime, table } from './format.js';
import { envOptions } from './options.js';
import { readPassword } from './password-input.js';

// `weft users`, `weft admins`, `weft apikeys`, `weft secrets`: identity administration.
// Admins, API keys and the sealing key are managed over the local socket only.

interface Target {
  stateDir: string;
}

export interface IdentityCliDeps<T> {
  withTarget(cmd: Command): Command;
  client(o: T): AdminClient;
  out(s: string): void;
  err(s: string): void;
}

const enc = encodeURIComponent;

export function registerIdentityCommands<T>(program: Command, d: IdentityCliDeps<T>): void {
  const { out } = d;
  const users = program.command('users').description('users that nodes belong to (local, or from OIDC logins)');
  d.withTarget(users.command('list'))
    .description('list users')
    .option(...jsonOption)
    .action(async (o: T & { json?: boolean }) => {
      const { users: list } = await d.client(o).request<{ users: UserView[] }>('GET', '/api/v1/admin/users');
      if (o.json) return out(json(list));
      out(table([['ID', 'LOGIN', 'NAME', 'PROVIDER', 'GROUPS', 'NODES', 'CREATED', 'LAST LOGIN'], ...list.map((u) => [u.id, u.login, u.displayName ?? '-', u.provider, u.groups.join(',') || '-', String(u.nodes), localTime(u.createdAt), localTime(u.lastLogin)])]));
    });
  d.withTarget(users.command('create'))
    .description('create a local user')
    .argument('<login>')
    .option('--display-name <name>', 'a name people read')
    .action(async (login: string, o: T & { displayName?: string }) => {
      const u = await d.client(o).request<UserView>('POST', '/api/v1/admin/users', { login, ...(o.displayName ? { displayName: o.displayName } : {}) });
      out(`created user ${u.login} (id ${u.id})\n`);
    });
  d.withTarget(users.command('rename'))
    .description('rename a user; its nodes and pre-auth keys follow')
    .argument('<login>')
    .argument('<new-login>')
    .action(async (login: string, to: string, o: T) => {
      const u = await d.client(o).request<UserView>('POST', `/api/v1/admin/users/${enc(login)}/rename`, { login: to });
      out(`renamed ${login} to ${u.login}\n`);
    });
  d.withTarget(users.command('rm'))
    .description('delete a user and its pre-auth keys (refused while it has nodes, unless --cascade)')
    .argument('<login>')
    .option('--cascade', "also delete the user's nodes")
    .action(async (login: string, o: T & { cascade?: boolean }) => {
      const r = await d.client(o).request<{ removedNodes: string[] }>('DELETE', `/api/v1/admin/users/${enc(login)}${o.cascade ? '?cascade=true' : ''}`);
      out(`removed user ${login}${r.removedNodes.length ? ` and its nodes ${r.removedNodes.join(', ')}` : ''}\n`);
    });

  const local = (c: Command): Command => envOptions(c.option('--state-dir <dir>', 'coordinator state dir', DEFAULT_STATE_DIR));
  const socket = (o: Target) => d.client({ stateDir: o.stateDir } as T);

  const admins = program.command('admins').description('local admin accounts for the web console (password read from stdin, never argv)');
  local(admins.command('list'))
    .description('list local admins')
    .action(async (o: Target) => {
      const { admins: list } = await socket(o).request<{ admins: { login: string; createdAt: string; passwordChangedAt: string }[] }>('GET', '/api/v1/admin/admins');
      out(table([['LOGIN', 'CREATED', 'PASSWORD CHANGED'], ...list.map((a) => [a.login, localTime(a.createdAt), localTime(a.passwordChangedAt)])]));
    });
  local(admins.command('create'))
    .description('create a local admin; the password is read from stdin (or typed twice on a terminal)')
    .argument('<login>')
    .action(async (login: string, o: Target) => {
      const password = await readPassword(d.err);
      await socket(o).request('POST', '/api/v1/admin/admins', { login, password });
      out(`created admin ${login}\n`);
    });
  local(admins.command('passwd'))
    .description("set a local admin's password (read from stdin, or typed twice on a terminal)")
    .argument('<login>')
    .action(async (login: string, o: Target) => {
      const password = await readPassword(d.err);
      await socket(o).request('PUT', `/api/v1/admin/admins/${enc(login)}/password`, { password });
      out(`password changed for ${login}\n`);
    });
  local(admins.command('rm'))
    .description('delete a local admin')
    .argument('<login>')
    .action(async (login: string, o: Target) => {
      await socket(o).request('DELETE', `/api/v1/admin/admins/${enc(login)}`);
      out(`removed admin ${login}\n`);
    });

  const apikeys = program.command('apikeys').description('API keys for the remote admin API (managed over the local socket only)');
  local(apikeys.command('create'))
    .description('create an API key and print it')
    .option('--expiry <duration>', 'key lifetime, 0 = never', '90d')
    .addOption(new Option('--scope <scope>', 'read: GET only; admin: may change things').choices(['read', 'admin']).default('admin'))
    .option(...jsonOption)
    .action(async (o: Target & { expiry: string; scope: string; json?: boolean }) => {
      const expirySeconds = Math.ceil(parseDuration(o.expiry) / 1000);
      const k = await socket(o).request<ApiKeyView>('POST', '/api/v1/admin/apikeys', { expirySeconds, scope: o.scope });
      out(o.json ? json(k) : `${k.key}\n`);
    });
  local(apikeys.command('list'))
    .description('list API keys')
    .option(...jsonOption)
    .action(async (o: Target & { json?: boolean }) => {
      const { apiKeys } = await socket(o).request<{ apiKeys: ApiKeyView[] }>('GET', '/api/v1/admin/apikeys');
      if (o.json) return out(json(apiKeys));
      out(table([['ID', 'PREFIX', 'SCOPE', 'CREATED', 'EXPIRES', 'STATE'], ...apiKeys.map((k) => [k.id, k.prefix, k.scope, localTime(k.createdAt), localTime(k.expiresAt, 'never'), keyState(k)])]));
    });
  local(apikeys.command('revoke'))
    .description('revoke an API key by id')
    .argument('<id>')
    .action(async (id: string, o: Target) => {
      if (!/^\d+$/.test(id)) throw new InvalidArgumentError(`want an API key id (a number), got ${JSON.stringify(id)}`);
      const k = await socket(o).request<ApiKeyView>('DELETE', `/api/v1/admin/apikeys/${enc(id)}`);
      out(`revoked ${k.prefix} (id ${k.id})\n`);
    });

  const secrets = program.command('secrets').description('the key sealing recoverable secrets at rest (<state-dir>/secrets.key)');
  local(secrets.command('rotate'))
    .description('switch to a fresh sealing key and re-encrypt every sealed value under it')
    .action(async (o: Target) => {
      const r = await socket(o).request<{ from: string; to: string }>('POST', '/api/v1/admin/secrets/rotate', {});
      out(`sealing key rotated: ${r.from} -> ${r.to}\n`);
    });
}
