import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
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
  const existing = await readKey(file);
  if (existing) return existing;
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(keyToBase64(generatePrivateKey()) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await link(tmp, file).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  } finally {
    await rm(tmp, { force: true });
  }
  return (await readKey(file))!;
}

async function readKey(file: string): Promise<PrivateKey | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return privateKeyFromBytes(keyFromBase64(text.trim()));
}
