import { chmod, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-file.js';
import { keyFromBase64, keyToBase64, keyToHex } from '../crypto/keys.js';
import { equalBytes } from '../crypto/constant-time.js';
import { ServerlessError } from './errors.js';
import type { TrustEntry, TrustRole } from './trust.js';
import { decodeRevocation, encodeRevocation } from './revocation-file.js';
import type { RevokeMsg } from './wire.js';

// The authorized_keys folder (like meshguard's): one file per key, named by the member's
// name (its MagicDNS label), holding `<base64 key>` for a node or `admin <base64 key>`
// for an admin signing key. Revocations live in revoked/<hex key>. Files are replaced
// atomically; a file that does not parse is skipped and reported, never half-trusted.

export const AUTHORIZED_KEYS_DIR = 'authorized_keys';
const REVOKED_DIR = 'revoked';
const NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export interface LoadedTrust {
  entries: TrustEntry[];
  revocations: RevokeMsg[];
  /** Files skipped as malformed, with why. */
  skipped: string[];
}

export function defaultName(key: Uint8Array): string {
  return `node-${keyToHex(key).slice(0, 8)}`;
}

export function checkName(name: string): string {
  if (!NAME_RE.test(name)) throw new ServerlessError('ERR_INVALID_NAME', `name ${JSON.stringify(name)} must be a DNS label: a-z, 0-9 and inner '-', up to 63 characters`);
  return name;
}

async function listFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isFile() && !d.name.startsWith('.') && !d.name.includes('.tmp-')).map((d) => d.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

function parseEntry(name: string, text: string): TrustEntry {
  const parts = text.trim().split(/\s+/);
  const role: TrustRole = parts.length === 2 && parts[0] === 'admin' ? 'admin' : 'node';
  if (parts.length !== (role === 'admin' ? 2 : 1)) throw new Error('expected "<key>" or "admin <key>"');
  return { name: checkName(name), role, key: keyFromBase64(parts[parts.length - 1]) };
}

export async function loadTrustStore(dir: string): Promise<LoadedTrust> {
  const out: LoadedTrust = { entries: [], revocations: [], skipped: [] };
  for (const f of await listFiles(dir)) {
    try {
      out.entries.push(parseEntry(f, await readFile(join(dir, f), 'utf8')));
    } catch (err) {
      out.skipped.push(`${f}: ${(err as Error).message}`);
    }
  }
  for (const f of await listFiles(join(dir, REVOKED_DIR))) {
    const r = decodeRevocation(await readFile(join(dir, REVOKED_DIR, f), 'utf8'));
    if (r) out.revocations.push(r);
    else out.skipped.push(`${REVOKED_DIR}/${f}: not a revocation record`);
  }
  return out;
}

async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

/** Adds a key under `name` (a node key, or an admin signing key with role admin). */
export async function authorizeKey(dir: string, key: Uint8Array, name: string, role: TrustRole): Promise<void> {
  checkName(name);
  await ensureDir(dir);
  const { entries } = await loadTrustStore(dir);
  const sameKey = entries.find((e) => equalBytes(e.key, key));
  if (sameKey && (sameKey.name !== name || sameKey.role !== role)) {
    throw new ServerlessError('ERR_ALREADY_AUTHORIZED', `key ${keyToBase64(key)} is already authorized as ${sameKey.name}; deauthorize it first`);
  }
  const sameName = entries.find((e) => e.name === name);
  if (sameName && !equalBytes(sameName.key, key)) throw new ServerlessError('ERR_NAME_TAKEN', `name ${name} already belongs to key ${keyToBase64(sameName.key)}`);
  await writeFileAtomic(join(dir, name), `${role === 'admin' ? 'admin ' : ''}${keyToBase64(key)}\n`, 0o644);
}

/** Removes a key from the folder; returns the name it had. */
export async function deauthorizeKey(dir: string, key: Uint8Array): Promise<string> {
  const { entries } = await loadTrustStore(dir);
  const e = entries.find((x) => equalBytes(x.key, key));
  if (!e) throw new ServerlessError('ERR_NOT_AUTHORIZED', `key ${keyToBase64(key)} is not in ${dir}`);
  await rm(join(dir, e.name));
  return e.name;
}

export async function saveRevocation(dir: string, r: RevokeMsg): Promise<void> {
  await ensureDir(join(dir, REVOKED_DIR));
  await writeFileAtomic(join(dir, REVOKED_DIR, keyToHex(r.node)), encodeRevocation(r), 0o644);
}
