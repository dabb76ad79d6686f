import sodium from 'sodium-native';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { readOrCreateFile } from '../atomic-file.js';
import { keyFromBase64, keyToBase64 } from '../crypto/keys.js';
import { ServerlessError } from './errors.js';
import { SIGNATURE_LEN, type RevokeMsg } from './wire.js';

// Revocation records: Ed25519 signatures by an admin key over
//   "weft-revoke-v1" ‖ revoked node key (32) ‖ issuedAt (u64 BE, Unix ms).
// Admin keys are separate Ed25519 keys (node keys are X25519 for WireGuard), kept as a
// 32-byte seed in <state-dir>/admin.key (0600) and listed in the trust set with role
// admin. A record counts only if its admin key is in the receiver's trust set.

const LABEL = new TextEncoder().encode('weft-revoke-v1');
export const ADMIN_KEY_FILE = 'admin.key';

export interface AdminKey {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

export function adminKeyFromSeed(seed: Uint8Array): AdminKey {
  const publicKey = new Uint8Array(32);
  const secretKey = new Uint8Array(64);
  sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed);
  return { publicKey, secretKey };
}

/** The admin key of this state dir, created on first use (0600, atomically). */
export async function loadOrCreateAdminKey(stateDir: string): Promise<AdminKey> {
  const text = await readOrCreateFile(join(stateDir, ADMIN_KEY_FILE), () => keyToBase64(randomBytes(32)) + '\n');
  try {
    return adminKeyFromSeed(keyFromBase64(text.toString('utf8').trim()));
  } catch (err) {
    throw new ServerlessError('ERR_TRUST_STORE_CORRUPT', `${join(stateDir, ADMIN_KEY_FILE)} does not hold a valid admin key`, { cause: err });
  }
}

function signedBytes(node: Uint8Array, issuedAt: number): Uint8Array {
  const m = new Uint8Array(LABEL.length + 32 + 8);
  m.set(LABEL);
  m.set(node, LABEL.length);
  new DataView(m.buffer).setBigUint64(LABEL.length + 32, BigInt(issuedAt));
  return m;
}

export function signRevocation(admin: AdminKey, node: Uint8Array, issuedAt: number): RevokeMsg {
  const signature = new Uint8Array(SIGNATURE_LEN);
  sodium.crypto_sign_detached(signature, signedBytes(node, issuedAt), admin.secretKey);
  return { type: 'revoke', node, admin: admin.publicKey, issuedAt, signature };
}

/** True when the signature is valid for the record's admin key (trust is checked by the caller). */
export function verifyRevocation(r: RevokeMsg): boolean {
  try {
    return sodium.crypto_sign_verify_detached(r.signature, signedBytes(r.node, r.issuedAt), r.admin);
  } catch {
    return false;
  }
}
