import type { Command } from 'commander';
import { join } from 'node:path';
import { DEFAULT_STATE_DIR, ensureStateDir, loadOrCreateKey } from '../agent/state.js';
import { keyFromBase64, keyToBase64, publicKeyFromPrivate } from '../crypto/keys.js';
import { loadOrCreateAdminKey, signRevocation } from '../serverless/revocation.js';
import { ServerlessError } from '../serverless/errors.js';
import { AUTHORIZED_KEYS_DIR, authorizeKey, checkName, deauthorizeKey, defaultName, loadTrustStore, saveRevocation } from '../serverless/trust-store.js';
import { envOptions } from './options.js';

// Serverless identity and trust set: `weft id` prints this node's public key (the agent's
// node.key, created 0600 if missing; --admin: the Ed25519 admin key that signs
// revocations); `weft keys authorize|deauthorize|authorized|revoke-node` manage the
// authorized_keys folder, by default <state-dir>/authorized_keys.

type Write = (s: string) => void;
interface DirOpts {
  stateDir: string;
  authorizedKeys?: string;
}

const keysDir = (o: DirOpts): string => o.authorizedKeys ?? join(o.stateDir, AUTHORIZED_KEYS_DIR);

function withDirs(cmd: Command): Command {
  return envOptions(
    cmd.option('--state-dir <dir>', 'agent state directory', DEFAULT_STATE_DIR).option('--authorized-keys <dir>', 'authorized_keys folder (default: <state-dir>/authorized_keys)'),
    ['--state-dir'],
  );
}

export function registerServerlessCommands(program: Command, out: Write = (s) => void process.stdout.write(s)): void {
  envOptions(
    program
      .command('id')
      .description("print this node's public key (creating the identity if there is none)")
      .option('--state-dir <dir>', 'agent state directory', DEFAULT_STATE_DIR)
      .option('--admin', 'print the Ed25519 admin key that signs revocations instead (creating it if missing)'),
    ['--state-dir'],
  ).action(async (o: { stateDir: string; admin?: boolean }) => {
    await ensureStateDir(o.stateDir);
    const pub = o.admin ? (await loadOrCreateAdminKey(o.stateDir)).publicKey : publicKeyFromPrivate((await loadOrCreateKey(o.stateDir)).key);
    out(`${keyToBase64(pub)}\n`);
  });

  // `weft keys` already holds the coordinator's pre-auth key commands (create/list/revoke).
  const keys = (program.commands.find((c) => c.name() === 'keys') ?? program.command('keys')).description(
    "pre-auth keys (coordinator); authorize/deauthorize/authorized/revoke-node: the serverless trust set",
  );
  withDirs(
    keys
      .command('authorize')
      .description('trust a node key (or, with --admin, an admin key that may sign revocations)')
      .argument('<pubkey>', 'base64 public key')
      .option('--name <name>', 'member name, a DNS label (default: node-<first 8 hex digits>)')
      .option('--admin', 'the key is an admin signing key (weft id --admin), not a node key'),
  ).action(async (pub: string, o: DirOpts & { name?: string; admin?: boolean }) => {
    const key = keyFromBase64(pub);
    const name = checkName(o.name ?? defaultName(key));
    await authorizeKey(keysDir(o), key, name, o.admin ? 'admin' : 'node');
    out(`authorized ${o.admin ? 'admin ' : ''}${name} ${pub}\n`);
  });
  withDirs(keys.command('deauthorize').description('remove a key from the trust set').argument('<pubkey>', 'base64 public key')).action(async (pub: string, o: DirOpts) => {
    const name = await deauthorizeKey(keysDir(o), keyFromBase64(pub));
    out(`deauthorized ${name} ${pub}\n`);
  });
  withDirs(keys.command('authorized').description('list the serverless trust set and revocations')).action(async (o: DirOpts) => {
    const t = await loadTrustStore(keysDir(o));
    for (const e of t.entries.sort((a, b) => a.name.localeCompare(b.name))) out(`${e.role}\t${e.name}\t${keyToBase64(e.key)}\n`);
    for (const r of t.revocations) out(`revoked\t${keyToBase64(r.node)}\tby ${keyToBase64(r.admin)}\t${new Date(r.issuedAt).toISOString()}\n`);
    for (const s of t.skipped) out(`skipped\t${s}\n`);
  });
  withDirs(
    keys
      .command('revoke-node')
      .description("sign a revocation of a node key with this state dir's admin key; members gossip it and refuse the key")
      .argument('<pubkey>', 'base64 node public key'),
  ).action(async (pub: string, o: DirOpts) => {
    const dir = keysDir(o);
    const node = keyFromBase64(pub);
    const admin = await loadOrCreateAdminKey(o.stateDir);
    const t = await loadTrustStore(dir);
    if (!t.entries.some((e) => e.role === 'node' && keyToBase64(e.key) === pub)) throw new ServerlessError('ERR_NOT_AUTHORIZED', `key ${pub} is not a node in ${dir}`);
    if (!t.entries.some((e) => e.role === 'admin' && keyToBase64(e.key) === keyToBase64(admin.publicKey))) {
      throw new ServerlessError('ERR_ADMIN_NOT_AUTHORIZED', `this admin key is not authorized in ${dir}; run weft keys authorize $(weft id --admin) --admin --name NAME`);
    }
    await saveRevocation(dir, signRevocation(admin, node, Date.now()));
    out(`revoked ${pub}\n`);
  });
}
