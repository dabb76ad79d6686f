import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readOrCreateFile } from '../atomic-file.js';
import { generatePrivateKey, keyFromBase64, keyToBase64, privateKeyFromBytes, type PrivateKey } from '../crypto/keys.js';

/**
 * The coordinator's static X25519 key, in `<stateDir>/server.key` (mode 0600, base64).
 * On first start the key is written whole to a temp file (created 0600) and hard-linked
 * into place: link(2) fails if the name exists, so of two processes racing on a fresh
 * dir exactly one key wins, and nobody ever sees a half-written file. Both then read
 * back the file that won.
 */
export async function loadOrCreateServerKey(stateDir: string): Promise<PrivateKey> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const file = join(stateDir, 'server.key');
  const text = await readOrCreateFile(file, () => keyToBase64(generatePrivateKey()) + '\n');
  return privateKeyFromBytes(keyFromBase64(text.toString('utf8').trim()));
}
