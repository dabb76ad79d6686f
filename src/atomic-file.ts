// Crash-safe file replacement, shared by the agent's state and the coordinator's ACME files.
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Writes `data` to `path` so that readers see either the old or the new content. */
export async function writeFileAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  // The rename itself is durable only once the directory entry is synced.
  const dir = await open(join(path, '..'), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/**
 * Creates `path` with `make()`'s content unless it exists (O_EXCL, so two processes
 * racing on a fresh dir agree on one file), then returns the file's content.
 */
export async function readOrCreateFile(path: string, make: () => string | Buffer | Promise<string | Buffer>, mode = 0o600): Promise<Buffer> {
  try {
    const fh = await open(path, 'wx', mode);
    try {
      await fh.writeFile(await make());
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return readFile(path);
}
