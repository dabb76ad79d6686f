import { mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generatePrivateKey, keyFromBase64, keyToBase64, privateKeyFromBytes, type PrivateKey } from '../crypto/keys.js';

/**
 * The coordinator's static X25519 key, in `<stateDir>/server.key` (mode 0600, base64).
 * Created on first start with O_EXCL so two processes racing on a fresh dir agree.
 */
export async function loadOrCreateServerKey(stateDir: string): Promise<PrivateKey> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const file = join(stateDir, 'server.key');
  try {
    const fh = await open(file, 'wx', 0o600);
    try {
      await fh.writeFile(keyToBase64(generatePrivateKey()) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return privateKeyFromBytes(keyFromBase64((await readFile(file, 'utf8')).trim()));
}
