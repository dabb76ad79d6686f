import { rmSync } from 'node:fs';
import type { MagicBind } from '../../src/nat/magicsock.js';
import type { ServerlessMesh } from '../../src/serverless/mesh.js';

// Shared by the serverless integration tests that run ServerlessMesh members on loopback.

/** Stops every member's mesh, then its socket, then removes their state root. */
export async function stopMembers(ms: ReadonlyArray<{ mesh: ServerlessMesh; magic: MagicBind }>, root: string): Promise<void> {
  for (const m of ms) {
    await m.mesh.stop();
    await m.magic.shutdown();
  }
  rmSync(root, { recursive: true, force: true });
}
